-- The UTC event days this run rebuilds, for the arrival days in its window:
--   * every event day those arrival days' records touch, now or in an earlier
--     ingestion of the same days (records that have since disappeared);
--   * every event day holding another delivery of one of their request_ids
--     (a correction may supersede a record of another day);
--   * every event day of a key this run renamed (its name changes everywhere).
-- Everything downstream rebuilds exactly these days (or their months), so a
-- run costs in proportion to the days it touches, not to the history.
with batch_requests as (
    select distinct request_id
    from {{ ref('stg_raw__usage_records') }}
    where {{ in_arrival_window('arrival_date') }}
),

renamed_keys as (
    select api_key_id
    from {{ ref('int_api_key_names') }}
    where renamed_by_invocation = '{{ invocation_id }}'
),

touched as (
    select event_date
    from {{ ref('stg_raw__arrival_event_days') }}
    where {{ in_arrival_window('arrival_date') }}

    union all

    select event_date
    from {{ ref('stg_raw__usage_records') }}
    where request_id in (select request_id from batch_requests)

    union all

    select event_date
    from {{ ref('stg_raw__usage_records') }}
    where api_key_id in (select api_key_id from renamed_keys)
)

select distinct event_date
from touched
