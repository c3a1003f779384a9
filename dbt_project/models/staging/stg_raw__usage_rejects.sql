-- Records rejected at ingestion by a rule of raw_usage.md.
select
    arrival_date,
    source_file,
    line_number,
    request_id,
    reason,
    detail,
    raw_record
from {{ source('raw', 'usage_rejects') }}
