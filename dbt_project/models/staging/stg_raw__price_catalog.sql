-- One row per (provider, model, effective_from) with the instant it stops applying:
-- a row prices requests with effective_from <= created_at < effective_to.
select
    provider,
    model,
    model_type,
    effective_from,
    lead(effective_from) over (partition by provider, model order by effective_from) as effective_to,
    input_per_mtok,
    cached_input_per_mtok,
    cache_write_per_mtok,
    output_per_mtok,
    per_request,
    per_image,
    per_web_search
from {{ source('raw', 'price_catalog') }}
