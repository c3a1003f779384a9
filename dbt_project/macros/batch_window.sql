{#- The arrival-day window a run processes, [arrival_start, arrival_end), from --vars. -#}
{% macro in_arrival_window(column) -%}
    {{ column }} >= cast('{{ var("arrival_start") }}' as date)
    and {{ column }} < cast('{{ var("arrival_end") }}' as date)
{%- endmacro %}

{#- The partitions a run rebuilds: the event days (or their months) of int_batch_event_days. -#}
{% macro batch_partitions(grain) -%}
    {%- if grain == 'day' -%}
        select event_date from {{ ref('int_batch_event_days') }}
    {%- elif grain == 'month' -%}
        select distinct cast({{ dbt.date_trunc('month', 'event_date') }} as {{ dbt.type_timestamp() }})
        from {{ ref('int_batch_event_days') }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("batch_partitions: grain must be 'day' or 'month', got " ~ grain) }}
    {%- endif -%}
{%- endmacro %}
