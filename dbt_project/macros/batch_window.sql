{#- The arrival-day window a run processes, [start, end): METERLINE_ARRIVAL_START/END, set by
    Dagster for its dbt process, else the vars arrival_start/arrival_end (dbt_project.yml, or
    --vars by hand). Environment, not --vars, from Dagster: dbt re-parses the whole project when
    its --vars change. Read only when dbt executes (`execute`), never while it parses: dbt re-parses
    every file that read an environment variable at parse time when its value changes, and the
    window changes every run (re-parsing and writing the parse again cost seconds a run). -#}
{% macro arrival_start() -%}
    {{ env_var('METERLINE_ARRIVAL_START', var('arrival_start')) if execute else var('arrival_start') }}
{%- endmacro %}

{% macro arrival_end() -%}
    {{ env_var('METERLINE_ARRIVAL_END', var('arrival_end')) if execute else var('arrival_end') }}
{%- endmacro %}

{#- How many arrival days the window holds (1 on a nightly run, more on a backfill). -#}
{% macro window_days() -%}
    {%- set start = modules.datetime.date.fromisoformat(arrival_start() | trim) -%}
    {%- set end = modules.datetime.date.fromisoformat(arrival_end() | trim) -%}
    {{ return((end - start).days) }}
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

{#- dbt's get_where_subquery (the relation a generic test reads), plus the run's window of arrival
    days for the tests that ask for it with `meta: {arrival_window: <date column>}`, and-ed with the
    test's own `where` if it has one. The window is rendered when the test runs: in a `where` config
    it would be rendered, and re-parsed, every run. -#}
{% macro get_where_subquery(relation) -%}
    {%- set column = (config.get('meta') or {}).get('arrival_window') -%}
    {%- if column -%}
        {%- set where = config.get('where') -%}
        {%- set condition = in_arrival_window(column) ~ ((' and (' ~ where ~ ')') if where else '') -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ condition ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(adapter.dispatch('get_where_subquery', 'dbt')(relation)) -%}
{%- endmacro %}
