{#-
  DuckDB's incremental strategy `replace_partitions` (see partitioned_incremental
  in macros/engine.sql): delete every partition the run rebuilds (config
  partition_column / partition_grain, keys from batch_partitions), then insert
  the model's rows. A partition that lost all its rows is emptied too, which
  delete+insert on the new rows' keys misses.
  A run of several arrival days (a backfill: backfill_order) inserts the rows in
  partition order, here and in the table's first build below, so that each DuckDB row
  group holds a day or two: with row groups that each held every day (what a join's
  or a grouping's output order gives), the first rerun of each day after a 30-day
  backfill was 1.6-4.5 s slower, deleting from and rewriting all of them
  (BENCHMARKS.md). A night of one arrival day does not sort: its rows are nearly all one day.
-#}
{% macro get_incremental_replace_partitions_sql(arg_dict) %}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    delete from {{ target }}
    where {{ config.require('partition_column') }} in (
        {{ batch_partitions(config.require('partition_grain')) }}
    );
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict["temp_relation"] }}
    {{ backfill_order() }}
{% endmacro %}

{#- The order a replace_partitions model's rows are written in: its partitions' on a run of
    several arrival days (see above), none on a night of one. -#}
{% macro backfill_order() -%}
    {{ return('order by ' ~ config.require('partition_column') if window_days() > 1 else '') }}
{%- endmacro %}

{#-
  The rows `replace_partitions` inserts reach it as a temporary VIEW of the model's SQL,
  not the temporary table dbt-duckdb's incremental materialization makes of every other
  model: the insert computes them straight into the target. Through a table, a 5M-record
  day's fct_cost was written twice (the temp table spilling past DuckDB's memory cap, then
  read back): 7.0-7.3 s against 4.4 s. The view is read once, after the delete; no model
  of this strategy reads its own table. Columns and the contract are checked as before
  (the schema-change check reads the view's columns; the contract assertion runs here).
-#}
{% macro duckdb__create_table_as(temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none) -%}
    {%- set replaces_partitions = language == 'sql' and config.get('incremental_strategy') == 'replace_partitions' -%}
    {%- set order = backfill_order() if replaces_partitions and not temporary else '' -%}
    {%- if order -%}
        {%- set compiled_code = 'select * from (\n' ~ compiled_code ~ '\n) ' ~ order -%}
    {%- endif -%}
    {%- if temporary and replaces_partitions -%}
        {%- if config.get('contract').enforced -%}
            {{ get_assert_columns_equivalent(compiled_code) }}
        {%- endif %}
        create temporary view {{ relation.include(database=false, schema=false) }} as (
            {{ compiled_code }}
        );
    {%- else -%}
        {{ dbt.duckdb__create_table_as(temporary, relation, compiled_code, language, partitioned_by, sorted_by) }}
    {%- endif -%}
{%- endmacro %}
