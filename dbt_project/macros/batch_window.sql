{#- The arrival-day window a run processes, [start, end): METERLINE_ARRIVAL_START/END, set by
    Dagster for its dbt process, else the vars arrival_start/arrival_end (dbt_project.yml, or
    --vars by hand). Environment, not --vars, from Dagster: dbt re-parses the whole project when
    its --vars change, but only the files that read an environment variable when that changes. -#}
{% macro arrival_start() -%}
    {{ env_var('METERLINE_ARRIVAL_START', var('arrival_start')) }}
{%- endmacro %}

{% macro arrival_end() -%}
    {{ env_var('METERLINE_ARRIVAL_END', var('arrival_end')) }}
{%- endmacro %}

{% macro in_arrival_window(column) -%}
    {{ column }} >= cast('{{ arrival_start() }}' as date)
    and {{ column }} < cast('{{ arrival_end() }}' as date)
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
