{#- A counted usage record re-serialised as a JSON object (the raw_usage.md fields). -#}
{% macro usage_record_json() -%}
    {{ return(adapter.dispatch('usage_record_json', 'meterline')()) }}
{%- endmacro %}

{% macro default__usage_record_json() -%}
    {%- set fields = ['request_id', 'created_at', 'account_id', 'api_key_id', 'api_key_name', 'model',
                      'provider', 'endpoint', 'billing_mode'] -%}
    {%- set counters = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens',
                        'reasoning_tokens', 'images', 'web_search_calls'] -%}
    cast(to_json({
        {%- for f in fields %}'{{ f }}': {{ f }}, {% endfor -%}
        'usage': { {%- for c in counters %}'{{ c }}': {{ c }}{{ ', ' if not loop.last }}{% endfor -%} }
    }) as {{ dbt.type_string() }})
{%- endmacro %}
