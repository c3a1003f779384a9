-- Baseline (a): one arrival day from landing files to the costed fact table and the 21 marts,
-- as one hand-written DuckDB script with no orchestration: the floor meterline's overhead is
-- measured against. Same rules as meterline (raw_usage.md, pricing.md, marts.md): validation
-- with the reason codes, latest delivery wins, price row in force at created_at, exact DECIMAL
-- costs, payg-only aggregates at three grains. It builds one fresh day (no history, no
-- incremental bookkeeping, no checks, no publication): a lower bound, not a replacement.
--
-- Variables (SET VARIABLE, done by bench/baseline_duckdb.py): jsonl_files and parquet_files
-- (VARCHAR[], the day's files), prices (the catalog CSV), arrival_date (DATE).

create or replace temp table lines as
with jsonl as (
    select parse_filename(filename) as source_file, row_number() over () as n, line
    from read_csv(getvariable('jsonl_files'), columns = {'line': 'VARCHAR'}, header = false, delim = chr(1),
                  quote = '', escape = '', auto_detect = false, strict_mode = false, filename = true)
)
select source_file, n - min(n) over (partition by source_file) + 1 as line_number, line
from jsonl
union all
select parse_filename(filename), file_row_number + 1,
       to_json(struct_pack(request_id, created_at, account_id, api_key_id, api_key_name, model, provider,
                           endpoint, billing_mode, usage))::varchar
from read_parquet(getvariable('parquet_files'), filename = true, file_row_number = true, union_by_name = true);

create or replace temp table classified as
with objects as (
    select source_file, line_number, line,
           coalesce(case when json_valid(line) then starts_with(line, '{') or json_type(line) = 'OBJECT' end, false)
               as is_object
    from lines
    where line is not null and (starts_with(line, '{') or trim(line) <> '')
), fields as (
    select source_file, line_number, line, is_object,
           case when is_object then from_json(line, '{"request_id": "VARCHAR", "created_at": "VARCHAR",
               "account_id": "VARCHAR", "api_key_id": "VARCHAR", "api_key_name": "VARCHAR", "model": "VARCHAR",
               "provider": "VARCHAR", "endpoint": "VARCHAR", "billing_mode": "VARCHAR", "usage": "JSON"}') end as t
    from objects
), counters as (
    select source_file, line_number, line, is_object,
           nullif(t.request_id, '') as request_id, nullif(t.created_at, '') as created_at,
           nullif(t.account_id, '') as account_id, nullif(t.api_key_id, '') as api_key_id,
           nullif(t.api_key_name, '') as api_key_name, nullif(t.model, '') as model,
           nullif(t.provider, '') as provider, nullif(t.endpoint, '') as endpoint,
           nullif(t.billing_mode, '') as billing_mode,
           json_type(t.usage) as usage_type,
           case when json_type(t.usage) = 'OBJECT' then json_extract(t.usage, ['$.input_tokens',
               '$.cached_input_tokens', '$.cache_write_tokens', '$.output_tokens', '$.reasoning_tokens',
               '$.images', '$.web_search_calls']) end as u
    from fields
), typed as (
    select * exclude (u),
           list_transform(u, lambda c: case when json_type(c) in ('BIGINT', 'UBIGINT') then try_cast(c as bigint)
                                       when c is null or json_type(c) = 'NULL' then 0 end) as n,
           case when regexp_matches(created_at, '^\d{4}-\d{2}-\d{2}[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$')
                then timezone('UTC', try_cast(upper(created_at) as timestamptz)) end as created_utc
    from counters
)
select source_file, line_number, request_id, created_utc as created_at, account_id, api_key_id, api_key_name,
       model, provider, endpoint, billing_mode,
       n[1] as input_tokens, n[2] as cached_input_tokens, n[3] as cache_write_tokens, n[4] as output_tokens,
       n[5] as reasoning_tokens, n[6] as images, n[7] as web_search_calls,
       case
           when not is_object then 'malformed_record'
           when request_id is null or created_at is null or account_id is null or api_key_id is null
             or model is null or provider is null or billing_mode is null
             or usage_type is null or usage_type <> 'OBJECT' then 'missing_field'
           when created_utc is null then 'bad_timestamp'
           when billing_mode not in ('payg', 'subscription') then 'bad_billing_mode'
           when len(list_filter(n, lambda x: x is null or x < 0)) > 0 then 'negative_usage'
           when n[2] + n[3] > n[1] or n[5] > n[4] then 'inconsistent_usage'
       end as reason,
       case when reason is not null then line end as raw_record
from typed;

create or replace table rejects as
select getvariable('arrival_date') as arrival_date, source_file, line_number, request_id, reason,
       case reason
           when 'malformed_record' then 'not a JSON object'
           when 'missing_field' then 'a required field is missing or empty'
           when 'bad_timestamp' then 'created_at is not RFC 3339 with a zone: ' || created_at
           when 'bad_billing_mode' then 'billing_mode is not payg or subscription: ' || billing_mode
           when 'negative_usage' then 'a usage counter is not a non-negative integer'
           else 'cached + cache-write > input tokens, or reasoning > output tokens'
       end as detail,
       raw_record
from classified
where reason is not null;

create or replace temp table prices as
with text as (
    -- the generated records report no region: the region-less rows price them (pricing.md)
    select * exclude (region) from read_csv(getvariable('prices'), header = true, all_varchar = true)
    where coalesce(trim(region), '') = ''
), typed as (
    select provider, model, model_type,
           case when regexp_full_match(effective_from, '\d{4}-\d{2}-\d{2}') then effective_from::date::timestamp
                else timezone('UTC', effective_from::timestamptz) end as effective_from,
           input_per_mtok::decimal(38, 12) as input_per_mtok,
           coalesce(cached_input_per_mtok, input_per_mtok)::decimal(38, 12) as cached_input_per_mtok,
           coalesce(cache_write_per_mtok, input_per_mtok)::decimal(38, 12) as cache_write_per_mtok,
           output_per_mtok::decimal(38, 12) as output_per_mtok,
           coalesce(per_request, '0')::decimal(38, 12) as per_request,
           coalesce(per_image, '0')::decimal(38, 12) as per_image,
           coalesce(per_web_search, '0')::decimal(38, 12) as per_web_search
    from text
)
select * from typed;

-- Each key's current name: its most recent accepted record by created_at (ties: latest delivery).
create or replace temp table key_names as
select api_key_id, arg_max_null(api_key_name, (created_at, source_file, line_number)) as api_key_name
from classified
where reason is null
group by api_key_id;

create or replace temp table rated as
with latest as (
    select * from classified
    where reason is null
    qualify row_number() over (partition by request_id order by source_file desc, line_number desc) = 1
)
select r.*, p.* exclude (provider, model)
from latest r
asof left join prices p
    on r.provider = p.provider and r.model = p.model and r.created_at >= p.effective_from;

insert into rejects
select getvariable('arrival_date'), source_file, line_number, request_id, 'unpriced',
       'no price for provider ' || provider || ' and model ' || model || ' in force at ' || created_at || ' UTC',
       to_json({request_id: request_id, created_at: created_at, account_id: account_id, api_key_id: api_key_id,
                api_key_name: api_key_name, model: model, provider: provider, endpoint: endpoint,
                billing_mode: billing_mode, usage: {input_tokens: input_tokens,
                cached_input_tokens: cached_input_tokens, cache_write_tokens: cache_write_tokens,
                output_tokens: output_tokens, reasoning_tokens: reasoning_tokens, images: images,
                web_search_calls: web_search_calls}})::varchar
from rated
where effective_from is null;

create or replace table fct_cost as
with costed as (
    select r.*, names.api_key_name as current_name,
           case when r.endpoint in ('chat.completions', 'responses', 'messages', 'embeddings', 'images.generations',
                                    'images.edits', 'audio.speech', 'audio.transcriptions', 'rerank')
                then r.endpoint else 'other' end as endpoint_class,
           cast((input_tokens - cached_input_tokens - cache_write_tokens) * input_per_mtok * 0.000001
                + cached_input_tokens * cached_input_per_mtok * 0.000001
                + cache_write_tokens * cache_write_per_mtok * 0.000001 as decimal(38, 18)) as input_cost,
           cast(output_tokens * output_per_mtok * 0.000001 as decimal(38, 18)) as output_cost,
           cast(per_request + images * per_image + web_search_calls * per_web_search as decimal(38, 18)) as other_cost
    from rated r
    join key_names names using (api_key_id)
    where r.effective_from is not null
)
select request_id, created_at, getvariable('arrival_date')::date as arrival_date, account_id, api_key_id,
       current_name as api_key_name, model, provider, model_type,
       case when endpoint_class = 'embeddings' then 'embedding'
            when endpoint_class in ('images.generations', 'images.edits') then 'image_generation'
            when reasoning_tokens > 0 then 'reasoning'
            when endpoint_class in ('chat.completions', 'responses', 'messages') then 'chat'
            else 'other' end as purpose,
       endpoint_class as endpoint, billing_mode, 1::bigint as request_count,
       input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images,
       web_search_calls, input_cost, output_cost, other_cost,
       cast(input_cost + output_cost + other_cost as decimal(38, 18)) as total_cost,
       effective_from as price_effective_from
from costed;

-- The marts: the cube per hour from fct_cost (payg), per day from hours, per month from days;
-- the other six tables from the cube at each grain. Measures keep their names.
create or replace temp macro exact_divide(num, den) as
    case when den <> 0 then cast(
        cast(((cast(floor(num) as hugeint) * 1000000000000000000
               + cast((num - floor(num)) * 1000000000000000000 as hugeint)) * 2 + cast(den as hugeint))
             // (cast(den as hugeint) * 2) // 1000000000000000000 as decimal(38, 0))
        + cast(((cast(floor(num) as hugeint) * 1000000000000000000
                 + cast((num - floor(num)) * 1000000000000000000 as hugeint)) * 2 + cast(den as hugeint))
               // (cast(den as hugeint) * 2) % 1000000000000000000 as decimal(38, 0)) * 0.000000000000000001
    as decimal(38, 18)) end;

create or replace table cost_cube_hourly as
select date_trunc('hour', created_at)::timestamp as period_start, account_id, api_key_id, api_key_name, model,
       provider, model_type, purpose, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18)
from fct_cost where billing_mode = 'payg' group by all;
create or replace table cost_cube_daily as
select date_trunc('day', period_start)::timestamp as period_start, * exclude (period_start, request_count,
       input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images,
       web_search_calls, input_cost, output_cost, other_cost, total_cost), sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18)
from cost_cube_hourly group by all;
create or replace table cost_cube_monthly as
select date_trunc('month', period_start)::timestamp as period_start, * exclude (period_start, request_count,
       input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images,
       web_search_calls, input_cost, output_cost, other_cost, total_cost), sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18)
from cost_cube_daily group by all;

create or replace table cost_overview_hourly as
select *, exact_divide(total_cost, request_count) as avg_cost_per_request,
       exact_divide(total_cost * 1000, input_tokens + output_tokens) as avg_cost_per_1k_tokens
from (select period_start, account_id, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_hourly group by all);
create or replace table cost_by_model_hourly as
select period_start, account_id, model, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_hourly group by all;
create or replace table cost_by_type_hourly as
select period_start, account_id, model_type, purpose, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_hourly group by all;
create or replace table cost_by_api_key_hourly as
select period_start, account_id, api_key_id, api_key_name, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_hourly group by all;
create or replace table cost_by_provider_hourly as
select period_start, account_id, provider, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_hourly group by all;
create or replace table provider_model_details_hourly as
select *, exact_divide(total_cost, request_count) as avg_cost_per_request
from (select period_start, account_id, provider, model, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_hourly group by all);

create or replace table cost_overview_daily as
select *, exact_divide(total_cost, request_count) as avg_cost_per_request,
       exact_divide(total_cost * 1000, input_tokens + output_tokens) as avg_cost_per_1k_tokens
from (select period_start, account_id, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_daily group by all);
create or replace table cost_by_model_daily as
select period_start, account_id, model, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_daily group by all;
create or replace table cost_by_type_daily as
select period_start, account_id, model_type, purpose, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_daily group by all;
create or replace table cost_by_api_key_daily as
select period_start, account_id, api_key_id, api_key_name, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_daily group by all;
create or replace table cost_by_provider_daily as
select period_start, account_id, provider, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_daily group by all;
create or replace table provider_model_details_daily as
select *, exact_divide(total_cost, request_count) as avg_cost_per_request
from (select period_start, account_id, provider, model, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_daily group by all);

create or replace table cost_overview_monthly as
select *, exact_divide(total_cost, request_count) as avg_cost_per_request,
       exact_divide(total_cost * 1000, input_tokens + output_tokens) as avg_cost_per_1k_tokens
from (select period_start, account_id, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_monthly group by all);
create or replace table cost_by_model_monthly as
select period_start, account_id, model, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_monthly group by all;
create or replace table cost_by_type_monthly as
select period_start, account_id, model_type, purpose, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_monthly group by all;
create or replace table cost_by_api_key_monthly as
select period_start, account_id, api_key_id, api_key_name, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_monthly group by all;
create or replace table cost_by_provider_monthly as
select period_start, account_id, provider, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_monthly group by all;
create or replace table provider_model_details_monthly as
select *, exact_divide(total_cost, request_count) as avg_cost_per_request
from (select period_start, account_id, provider, model, sum(columns('^(request_count|.*_tokens|images|web_search_calls)$'))::bigint, sum(columns('_cost$'))::decimal(38, 18) from cost_cube_monthly group by all);
