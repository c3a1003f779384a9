-- Valid usage records, typed and named; endpoint normalised to the contract's list;
-- region NULL when the record reports none.
select
    arrival_date,
    source_file,
    line_number,
    request_id,
    created_at,
    cast(created_at as date) as event_date,
    account_id,
    api_key_id,
    api_key_name,
    model,
    provider,
    region,
    case
        when endpoint in (
            'chat.completions', 'responses', 'messages', 'embeddings', 'images.generations',
            'images.edits', 'audio.speech', 'audio.transcriptions', 'rerank'
        ) then endpoint
        else 'other'
    end as endpoint,
    billing_mode,
    input_tokens,
    cached_input_tokens,
    cache_write_tokens,
    output_tokens,
    reasoning_tokens,
    images,
    web_search_calls
from {{ source('raw', 'usage_records') }}
