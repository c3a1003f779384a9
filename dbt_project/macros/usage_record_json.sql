{#- A counted usage record re-serialised as a JSON object (the raw_usage.md fields). -#}
{% macro usage_record_json() -%}
    {{ return(adapter.dispatch('usage_record_json', 'meterline')()) }}
{%- endmacro %}

{% macro usage_record_fields() -%}
    {{ return({
        'fields': ['request_id', 'created_at', 'account_id', 'api_key_id', 'api_key_name', 'model',
                   'provider', 'region', 'endpoint', 'billing_mode'],
        'counters': var('usage_counters'),
    }) }}
{%- endmacro %}

{% macro default__usage_record_json() -%}
    {%- set record = usage_record_fields() -%}
    cast(to_json({
        {%- for f in record.fields %}'{{ f }}': {{ f }}, {% endfor -%}
        'usage': { {%- for c in record.counters %}'{{ c }}': {{ c }}{{ ', ' if not loop.last }}{% endfor -%} }
    }) as {{ dbt.type_string() }})
{%- endmacro %}

{#- Spark: the same object; created_at as text like DuckDB's, nulls kept as null. -#}
{% macro spark__usage_record_json() -%}
    {%- set record = usage_record_fields() -%}
    to_json(named_struct(
        {%- for f in record.fields %}'{{ f }}', cast({{ f }} as string), {% endfor -%}
        'usage', named_struct({%- for c in record.counters %}'{{ c }}', {{ c }}{{ ', ' if not loop.last }}{% endfor -%})
    ), map('ignoreNullFields', 'false'))
{%- endmacro %}
