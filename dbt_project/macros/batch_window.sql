{#- The arrival-day window a run processes, [arrival_start, arrival_end), from --vars. -#}
{% macro in_arrival_window(column) -%}
    {{ column }} >= cast('{{ var("arrival_start") }}' as date)
    and {{ column }} < cast('{{ var("arrival_end") }}' as date)
{%- endmacro %}

{#- The partitions a run rebuilds, as DATEs: the event days of int_batch_event_days (grain 'day')
    or the first days of their months (grain 'month'). -#}
{% macro batch_partitions(grain) -%}
    {%- if grain == 'day' -%}
        select event_date from {{ ref('int_batch_event_days') }}
    {%- elif grain == 'month' -%}
        select distinct cast({{ dbt.date_trunc('month', 'event_date') }} as date)
        from {{ ref('int_batch_event_days') }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("batch_partitions: grain must be 'day' or 'month', got " ~ grain) }}
    {%- endif -%}
{%- endmacro %}
