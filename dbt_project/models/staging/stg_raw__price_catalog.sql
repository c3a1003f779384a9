-- One row per (provider, model, region, effective_from) with the instant it stops applying:
-- a row prices requests with effective_from <= created_at < effective_to, among the rows of
-- its region (NULL: the region-less rows, which price every region; pricing.md).
select
    provider,
    model,
    region,
    model_type,
    effective_from,
    lead(effective_from) over (partition by provider, model, region order by effective_from) as effective_to,
    input_per_mtok,
    cached_input_per_mtok,
    cache_write_per_mtok,
    output_per_mtok,
    per_request,
    per_image,
    per_web_search
from {{ source('raw', 'price_catalog') }}
