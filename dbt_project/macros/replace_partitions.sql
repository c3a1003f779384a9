{#-
  DuckDB's incremental strategy `replace_partitions` (see partitioned_incremental
  in macros/engine.sql): delete every partition the run rebuilds (config
  partition_column / partition_grain, keys from batch_partitions), then insert
  the model's rows. A partition that lost all its rows is emptied too, which
  delete+insert on the new rows' keys misses.
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
{% endmacro %}

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
    {%- if temporary and language == 'sql' and config.get('incremental_strategy') == 'replace_partitions' -%}
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
