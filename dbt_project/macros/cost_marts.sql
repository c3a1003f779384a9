{#-
  The aggregate marts of marts.md, from one definition. Every table exists at
  the grains hourly, daily and monthly; each model file is one call:
  {{ cost_mart('cost_by_model', 'daily') }}.

  cost_cube_hourly  <- fct_cost (payg only), per UTC hour
  cost_cube_daily   <- cost_cube_hourly        cost_cube_monthly <- cost_cube_daily
  every other table <- cost_cube at its grain, grouped by fewer dimensions
  Each is an incremental table rebuilt only for the days (monthly: months)
  the run touches (int_batch_event_days), partitioned by its last column
  partition_date (internal: the serving file does not publish it).
-#}

{#- marts.md's measures: request_count, the usage counters and the costs (vars of dbt_project.yml). -#}
{% macro cost_measures() -%}
    {{ return(['request_count'] + var('usage_counters') + var('costs')) }}
{%- endmacro %}

{#- The type of a summed measure: money exact; request_count a BIGINT; the usage counters DECIMAL(38,0),
    since a request may legally carry a counter of 2^63 - 1 and two such requests overflow a BIGINT
    (DuckDB's HUGEINT would be written to Parquet as a DOUBLE). -#}
{% macro measure_type(measure) -%}
    {%- if measure.endswith('_cost') -%}{{ money_type() }}
    {%- elif measure == 'request_count' -%}bigint
    {%- else -%}{{ counter_sum_type() }}
    {%- endif -%}
{%- endmacro %}

{% macro counter_sum_type() -%}
    decimal(38, 0)
{%- endmacro %}

{% macro cost_mart_shapes() -%}
    {{ return({
        'cost_cube': {'dimensions': ['account_id', 'api_key_id', 'api_key_name', 'model', 'provider',
                                     'model_type', 'purpose'], 'averages': []},
        'cost_overview': {'dimensions': ['account_id'],
                          'averages': ['avg_cost_per_request', 'avg_cost_per_1k_tokens']},
        'cost_by_model': {'dimensions': ['account_id', 'model'], 'averages': []},
        'cost_by_type': {'dimensions': ['account_id', 'model_type', 'purpose'], 'averages': []},
        'cost_by_api_key': {'dimensions': ['account_id', 'api_key_id', 'api_key_name'], 'averages': []},
        'cost_by_provider': {'dimensions': ['account_id', 'provider'], 'averages': []},
        'provider_model_details': {'dimensions': ['account_id', 'provider', 'model'],
                                   'averages': ['avg_cost_per_request']},
    }) }}
{%- endmacro %}

{% macro cost_mart(table, grain) %}
    {%- set shape = cost_mart_shapes()[table] -%}
    {%- set source_grain = {'hourly': none, 'daily': 'hourly', 'monthly': 'daily'}[grain] -%}
    {%- set period_unit = {'hourly': 'hour', 'daily': 'day', 'monthly': 'month'}[grain] -%}
    {%- set partition_grain = 'month' if grain == 'monthly' else 'day' -%}
    {{ partitioned_incremental('partition_date', partition_grain) }}
    {%- if table != 'cost_cube' %}
        {%- set source = ref('cost_cube_' ~ grain) -%}
        {%- set period = 'period_start' -%}
    {%- elif source_grain is none %}
        {%- set source = ref('fct_cost') -%}
        {%- set period = dbt.date_trunc('hour', 'created_at') -%}
    {%- else %}
        {%- set source = ref('cost_cube_' ~ source_grain) -%}
        {%- set period = dbt.date_trunc(period_unit, 'period_start') -%}
    {%- endif %}
    {#- The source's rows of the rebuilt partitions, by its partition column (a day). -#}
    {%- set source_filter = 'partition_date' if partition_grain == 'day'
        else 'cast(' ~ dbt.date_trunc('month', 'partition_date') ~ ' as date)' %}

{#- The period is computed before the grouping, which then groups by plain columns only: Spark's
    analyzer compares a grouped expression with the selected one, and once (a CI rehearsal, not
    reproduced alone) failed that comparison for the same date_trunc expression (MISSING_AGGREGATION). -#}

-- depends_on: {{ ref('int_batch_event_days') }}
with source_rows as (
    select
        cast({{ period }} as {{ dbt.type_timestamp() }}) as period_start,
        {%- for column in shape.dimensions + cost_measures() %}
        {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ source }}
    where {{ source_filter }} in ({{ batch_partitions(partition_grain) }})
    {%- if source_grain is none and table == 'cost_cube' %}
        and billing_mode = 'payg'
    {%- endif %}
), grouped as (
    select
        period_start,
        {%- for dimension in shape.dimensions %}
        {{ dimension }},
        {%- endfor %}
        {%- for measure in cost_measures() %}
        cast(sum({{ measure }}) as {{ measure_type(measure) }}) as {{ measure }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from source_rows
    group by
        period_start
        {%- for dimension in shape.dimensions %},
        {{ dimension }}
        {%- endfor %}
)

select
    *,
    {%- if 'avg_cost_per_request' in shape.averages %}
    {{ exact_divide('total_cost', 'request_count') }} as avg_cost_per_request,
    {%- endif %}
    {%- if 'avg_cost_per_1k_tokens' in shape.averages %}
    {{ exact_divide('total_cost * 1000', 'input_tokens + output_tokens') }} as avg_cost_per_1k_tokens,
    {%- endif %}
    {#- the UTC day (hourly, daily) or first day of the month (monthly): the table's partition -#}
    cast(period_start as date) as partition_date
from grouped
{% endmacro %}
