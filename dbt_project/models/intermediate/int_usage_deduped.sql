-- The deliveries that count: for every request with a record on a rebuilt
-- event day, its LATEST delivery by (arrival_date, source_file, line_number)
-- across all arrival days (raw_usage.md, "Duplicates and corrections").
-- Earlier deliveries are superseded duplicates. A winner whose (corrected)
-- created_at falls outside the rebuilt days is left to its own day.
with rebuilt_requests as (
    select distinct request_id
    from {{ ref('stg_raw__usage_records') }}
    where event_date in ({{ batch_partitions('day') }})
),

deliveries as (
    select
        records.*,
        row_number() over (
            partition by records.request_id
            order by records.arrival_date desc, records.source_file desc, records.line_number desc
        ) as delivery_rank
    from {{ ref('stg_raw__usage_records') }} as records
    where records.request_id in (select request_id from rebuilt_requests)
)

select
    arrival_date,
    source_file,
    line_number,
    request_id,
    created_at,
    event_date,
    account_id,
    api_key_id,
    api_key_name,
    model,
    provider,
    endpoint,
    billing_mode,
    input_tokens,
    cached_input_tokens,
    cache_write_tokens,
    output_tokens,
    reasoning_tokens,
    images,
    web_search_calls
from deliveries
where delivery_rank = 1
    and event_date in ({{ batch_partitions('day') }})
