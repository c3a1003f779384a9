{{ config(materialized='incremental', unique_key='api_key_id', incremental_strategy='delete+insert') }}

-- Each API key's current name: the name on its most recent accepted record by
-- created_at (ties: the latest delivery). Only keys whose latest record is in
-- this run's arrival days are rewritten; `renamed_by_invocation` marks the keys
-- this dbt invocation renamed, whose old event days must be rebuilt.
with batch as (
    select
        api_key_id,
        api_key_name,
        created_at,
        row_number() over (
            partition by api_key_id
            order by created_at desc, arrival_date desc, source_file desc, line_number desc
        ) as recency
    from {{ ref('stg_raw__usage_records') }}
    where {{ in_arrival_window('arrival_date') }}
),

latest as (
    select api_key_id, api_key_name, created_at as name_seen_at
    from batch
    where recency = 1
)

select
    latest.api_key_id,
    latest.api_key_name,
    latest.name_seen_at,
{% if is_incremental() %}
    case
        when current_names.api_key_id is not null
            and current_names.api_key_name is distinct from latest.api_key_name
        then '{{ invocation_id }}'
    end as renamed_by_invocation
from latest
left join {{ this }} as current_names
    on latest.api_key_id = current_names.api_key_id
where current_names.api_key_id is null
    or latest.name_seen_at >= current_names.name_seen_at
{% else %}
    cast(null as {{ dbt.type_string() }}) as renamed_by_invocation
from latest
{% endif %}
