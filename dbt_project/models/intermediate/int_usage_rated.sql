{{ config(materialized='view') }}

-- Each counted request with its purpose and the price row that prices it (pricing.md), costed
-- with the formulas of pricing.md in exact DECIMAL:
--   * a request that reports a region: the row of its (provider, model, region) in force at
--     created_at (the greatest effective_from <= created_at among that region's rows), when
--     there is one;
--   * otherwise, and for a request without a region: the region-less row of its (provider,
--     model) in force at created_at.
-- Requests without such a row keep NULL prices and costs (is_priced = false).
-- A view: fct_cost and int_unpriced_usage read it once each, and writing a day of
-- wide rated rows to a table cost as much as costing them.
{%- set price_columns = {
    'model_type': 'model_type', 'effective_from': 'price_effective_from',
    'input_per_mtok': 'input_per_mtok', 'cached_input_per_mtok': 'cached_input_per_mtok',
    'cache_write_per_mtok': 'cache_write_per_mtok', 'output_per_mtok': 'output_per_mtok',
    'per_request': 'per_request', 'per_image': 'per_image', 'per_web_search': 'per_web_search',
} %}
with priced as (
    select
        requests.*,
        {{ purpose('requests.endpoint', 'requests.reasoning_tokens') }} as purpose,
        {%- for column, alias in price_columns.items() %}
        case when regional.effective_from is not null then regional.{{ column }} else everywhere.{{ column }} end
            as {{ alias }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('int_usage_deduped') }} as requests
    left join {{ ref('stg_raw__price_catalog') }} as regional
        on requests.provider = regional.provider
        and requests.model = regional.model
        and requests.region = regional.region
        and requests.created_at >= regional.effective_from
        and (regional.effective_to is null or requests.created_at < regional.effective_to)
    left join {{ ref('stg_raw__price_catalog') }} as everywhere
        on requests.provider = everywhere.provider
        and requests.model = everywhere.model
        and everywhere.region is null
        and requests.created_at >= everywhere.effective_from
        and (everywhere.effective_to is null or requests.created_at < everywhere.effective_to)
),

costed as (
    select
        *,
        {{ request_input_cost() }} as input_cost,
        {{ request_output_cost() }} as output_cost,
        {{ request_other_cost() }} as other_cost
    from priced
)

select
    *,
    cast(input_cost + output_cost + other_cost as {{ money_type() }}) as total_cost,
    price_effective_from is not null as is_priced
from costed
