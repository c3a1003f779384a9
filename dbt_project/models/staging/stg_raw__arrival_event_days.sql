select arrival_date, event_date
from {{ source('raw', 'arrival_event_days') }}
