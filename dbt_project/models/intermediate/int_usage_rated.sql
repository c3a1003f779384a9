{{ config(materialized='view') }}

-- Each counted request with its purpose and the price row in force at its
-- created_at (the greatest effective_from <= created_at for its provider and
-- model), costed with the formulas of pricing.md in exact DECIMAL.
-- Requests without such a row keep NULL prices and costs (is_priced = false).
-- A view: fct_cost and int_unpriced_usage read it once each, and writing a day of
-- wide rated rows to a table cost as much as costing them.
with priced as (
    select
        requests.*,
        {{ purpose('requests.endpoint', 'requests.reasoning_tokens') }} as purpose,
        prices.model_type,
        prices.effective_from as price_effective_from,
        prices.input_per_mtok,
        prices.cached_input_per_mtok,
        prices.cache_write_per_mtok,
        prices.output_per_mtok,
        prices.per_request,
        prices.per_image,
        prices.per_web_search
    from {{ ref('int_usage_deduped') }} as requests
    left join {{ ref('stg_raw__price_catalog') }} as prices
        on requests.provider = prices.provider
        and requests.model = prices.model
        and requests.created_at >= prices.effective_from
        and (prices.effective_to is null or requests.created_at < prices.effective_to)
),

costed as (
    select
        *,
        cast(
            {{ cost_per_million('input_tokens - cached_input_tokens - cache_write_tokens', 'input_per_mtok') }}
            + {{ cost_per_million('cached_input_tokens', 'cached_input_per_mtok') }}
            + {{ cost_per_million('cache_write_tokens', 'cache_write_per_mtok') }}
        as {{ money_type() }}) as input_cost,
        {{ cost_per_million('output_tokens', 'output_per_mtok') }} as output_cost,
        cast(per_request + images * per_image + web_search_calls * per_web_search as {{ money_type() }})
            as other_cost
    from priced
)

select
    *,
    cast(input_cost + output_cost + other_cost as {{ money_type() }}) as total_cost,
    price_effective_from is not null as is_priced
from costed
