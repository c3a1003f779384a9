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
