select arrival_date, files, records_read, ingested_at
from {{ source('raw', 'arrival_manifest') }}
