{{ partitioned_incremental('partition_date', 'day') }}
-- depends_on: {{ ref('int_batch_event_days') }}

-- One row per costed request (both billing modes), rebuilt per UTC event day, with the
-- unit prices of the catalog row that priced it (the FOCUS export reads them from the
-- serving file). api_key_name is the key's current name (int_api_key_names). Partitioned by the
-- UTC event day, partition_date (internal: the serving file does not publish it).
select
    rated.request_id,
    rated.created_at,
    rated.arrival_date,
    rated.account_id,
    rated.api_key_id,
    names.api_key_name,
    rated.model,
    rated.provider,
    rated.region,
    rated.model_type,
    rated.purpose,
    rated.endpoint,
    rated.billing_mode,
    cast(1 as bigint) as request_count,
    rated.input_tokens,
    rated.cached_input_tokens,
    rated.cache_write_tokens,
    rated.output_tokens,
    rated.reasoning_tokens,
    rated.images,
    rated.web_search_calls,
    rated.input_cost,
    rated.output_cost,
    rated.other_cost,
    rated.total_cost,
    rated.price_effective_from,
    rated.input_per_mtok,
    rated.cached_input_per_mtok,
    rated.cache_write_per_mtok,
    rated.output_per_mtok,
    rated.per_request,
    rated.per_image,
    rated.per_web_search,
    rated.event_date as partition_date
from {{ ref('int_usage_rated') }} as rated
left join {{ ref('int_api_key_names') }} as names
    on rated.api_key_id = names.api_key_id
where rated.is_priced
