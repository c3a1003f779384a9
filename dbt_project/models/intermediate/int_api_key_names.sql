{{ bucketed_incremental('api_key_id', 'key_bucket') }}

-- Each API key's current name: the name on its most recent accepted record by
-- created_at (ties: the latest delivery). Keys are spread over 16 buckets (the
-- first hex digit of md5(api_key_id)); a run rewrites only the buckets holding
-- a key of its arrival days, every key of those buckets included (Spark
-- replaces whole buckets). `renamed_by_invocation` marks the keys this dbt
-- invocation renamed, whose old event days must be rebuilt.
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
    select
        api_key_id,
        api_key_name,
        created_at as name_seen_at,
        substr({{ dbt.hash('api_key_id') }}, 1, 1) as key_bucket
    from batch
    where recency = 1
)

{% if is_incremental() %}
,

current_names as (
    select api_key_id, api_key_name, name_seen_at, renamed_by_invocation, key_bucket
    from {{ this }}
    where key_bucket in (select key_bucket from latest)
),

updated as (
    select
        latest.api_key_id,
        latest.api_key_name,
        latest.name_seen_at,
        case
            when current_names.api_key_id is not null
                and current_names.api_key_name is distinct from latest.api_key_name
            then '{{ invocation_id }}'
        end as renamed_by_invocation,
        latest.key_bucket
    from latest
    left join current_names
        on latest.api_key_id = current_names.api_key_id
    where current_names.api_key_id is null
        or latest.name_seen_at >= current_names.name_seen_at
)

select api_key_id, api_key_name, name_seen_at, renamed_by_invocation, key_bucket
from updated

union all

select api_key_id, api_key_name, name_seen_at, renamed_by_invocation, key_bucket
from current_names
where api_key_id not in (select api_key_id from updated)
{% else %}
select
    api_key_id,
    api_key_name,
    name_seen_at,
    cast(null as {{ dbt.type_string() }}) as renamed_by_invocation,
    key_bucket
from latest
{% endif %}
