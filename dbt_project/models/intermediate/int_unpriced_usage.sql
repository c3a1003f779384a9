{{ partitioned_incremental('event_date', 'day') }}
-- depends_on: {{ ref('int_batch_event_days') }}

-- Counted requests the price catalog cannot price (reason `unpriced`), kept
-- per event day; a later run that rebuilds the day costs them once a price
-- exists. raw_record is the accepted record re-serialised as JSON.
select
    event_date,
    arrival_date,
    source_file,
    line_number,
    request_id,
    'unpriced' as reason,
    'no price for provider ' || provider || ' and model ' || model
        || coalesce(' (region ' || region || ', nor a region-less one)', '')
        || ' in force at ' || cast(created_at as {{ dbt.type_string() }}) || ' UTC' as detail,
    {{ usage_record_json() }} as raw_record
from {{ ref('int_usage_rated') }}
where not is_priced
