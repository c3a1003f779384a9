{{ config(materialized='view', schema='quarantine') }}

-- quarantine.rejected_usage (raw_usage.md): every record that cannot be
-- costed, with one reason code. Rejected at ingestion, or unpriced.
select arrival_date, source_file, line_number, request_id, reason, detail, raw_record
from {{ ref('stg_raw__usage_rejects') }}

union all

select arrival_date, source_file, line_number, request_id, reason, detail, raw_record
from {{ ref('int_unpriced_usage') }}
