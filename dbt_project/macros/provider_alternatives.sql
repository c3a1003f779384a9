{#-
  provider_alternatives_<grain> (marts.md, "Cheaper providers"), daily and monthly, from one
  definition; each model file is one call: {{ provider_alternatives('daily') }}.

  For the payg requests of fct_cost and every OTHER provider whose catalog has a region-less row
  for the same model in force at a request's created_at: the requests that row prices, their
  actual total_cost and their cost at that row (the formulas of pricing.md, the macros of
  money.sql that rate every request), per period, account, model, provider and alternative.
  A request the alternative cannot price at its created_at joins no row of that alternative, so
  it is left out of that alternative's row only. A mid-day price change at the alternative prices
  each request by the row in force at its own instant.

  provider_alternatives_daily   <- fct_cost (payg) x stg_raw__price_catalog, per UTC day
  provider_alternatives_monthly <- provider_alternatives_daily, per UTC month
  Incremental like the cost marts: rebuilt only for the days (monthly: months) the run touches
  (int_batch_event_days), partitioned by the last column partition_date (internal).
-#}

{% macro provider_alternatives(grain) %}
    {%- if grain not in ('daily', 'monthly') -%}
        {{ exceptions.raise_compiler_error("provider_alternatives: grain must be 'daily' or 'monthly', got " ~ grain) }}
    {%- endif -%}
    {%- set partition_grain = 'month' if grain == 'monthly' else 'day' -%}
    {{ partitioned_incremental('partition_date', partition_grain) }}

-- depends_on: {{ ref('int_batch_event_days') }}
with priced_elsewhere as (
    {%- if grain == 'daily' %}
    select
        cast({{ dbt.date_trunc('day', 'requests.created_at') }} as {{ dbt.type_timestamp() }}) as period_start,
        requests.account_id,
        requests.model,
        requests.provider,
        alternative.provider as alternative_provider,
        cast(1 as bigint) as request_count,
        requests.total_cost as actual_cost,
        {{ request_total_cost('requests.', 'alternative.') }} as alternative_cost
    from {{ ref('fct_cost') }} as requests
    inner join {{ ref('stg_raw__price_catalog') }} as alternative
        on requests.model = alternative.model
        and requests.provider <> alternative.provider
        and alternative.region is null
        and requests.created_at >= alternative.effective_from
        and (alternative.effective_to is null or requests.created_at < alternative.effective_to)
    where requests.partition_date in ({{ batch_partitions('day') }})
        and requests.billing_mode = 'payg'
    {%- else %}
    select
        cast({{ dbt.date_trunc('month', 'period_start') }} as {{ dbt.type_timestamp() }}) as period_start,
        account_id,
        model,
        provider,
        alternative_provider,
        request_count,
        actual_cost,
        alternative_cost
    from {{ ref('provider_alternatives_daily') }}
    where cast({{ dbt.date_trunc('month', 'partition_date') }} as date) in ({{ batch_partitions('month') }})
    {%- endif %}
),

grouped as (
    select
        period_start,
        account_id,
        model,
        provider,
        alternative_provider,
        cast(sum(request_count) as bigint) as request_count,
        cast(sum(actual_cost) as {{ money_type() }}) as actual_cost,
        cast(sum(alternative_cost) as {{ money_type() }}) as alternative_cost
    from priced_elsewhere
    group by period_start, account_id, model, provider, alternative_provider
)

select
    *,
    cast(actual_cost - alternative_cost as {{ money_type() }}) as savings,
    {#- the UTC day (daily) or first day of the month (monthly): the table's partition -#}
    cast(period_start as date) as partition_date
from grouped
{% endmacro %}
