-- The deliveries that count: for every request with a record on a rebuilt
-- event day, its LATEST delivery by (arrival_date, source_file, line_number)
-- across all arrival days (raw_usage.md, "Duplicates and corrections").
-- Earlier deliveries are superseded duplicates. A winner whose (corrected)
-- created_at falls outside the rebuilt days is left to its own day.
-- Only the few requests delivered more than once are ranked: a request with one
-- delivery is its own winner, and ranking every delivery (a sort of the whole
-- day, all columns carried) cost a third more CPU than the model does now.
with rebuilt_requests as (
    select distinct request_id
    from {{ ref('stg_raw__usage_records') }}
    where event_date in ({{ batch_partitions('day') }})
),

deliveries as (
    select *
    from {{ ref('stg_raw__usage_records') }}
    where request_id in (select request_id from rebuilt_requests)
),

redelivered as (
    select request_id
    from deliveries
    group by request_id
    having count(*) > 1
),

ranked as (
    -- an anti join written as a left join: Spark plans NOT IN as a nested loop
    select deliveries.*, 1 as delivery_rank
    from deliveries
    left join redelivered on deliveries.request_id = redelivered.request_id
    where redelivered.request_id is null

    union all

    select
        *,
        row_number() over (
            partition by request_id
            order by arrival_date desc, source_file desc, line_number desc
        ) as delivery_rank
    from deliveries
    where request_id in (select request_id from redelivered)
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
    region,
    endpoint,
    billing_mode,
    input_tokens,
    cached_input_tokens,
    cache_write_tokens,
    output_tokens,
    reasoning_tokens,
    images,
    web_search_calls
from ranked
where delivery_rank = 1
    and event_date in ({{ batch_partitions('day') }})
