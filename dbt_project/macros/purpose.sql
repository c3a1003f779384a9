{#- What a request was for (raw_usage.md, "Derived attributes"); the first matching rule wins. -#}
{% macro purpose(endpoint, reasoning_tokens) -%}
    case
        when {{ endpoint }} = 'embeddings' then 'embedding'
        when {{ endpoint }} in ('images.generations', 'images.edits') then 'image_generation'
        when {{ reasoning_tokens }} > 0 then 'reasoning'
        when {{ endpoint }} in ('chat.completions', 'responses', 'messages') then 'chat'
        else 'other'
    end
{%- endmacro %}
