{#-
  What differs between the engines besides SQL dialect: session settings, where
  the raw layer comes from, and how an incremental table replaces partitions.
  DuckDB (default__) is the embedded engine; spark__ is Apache Spark (session,
  thrift or Databricks). The models are the same on both.
-#}

{#-
  Run before every model (project pre-hook). Spark: the SQL settings the models
  rely on, set in the model's own session so they hold on any Spark (a thrift
  server or Databricks gives each connection its own session):
    - UTC, and TIMESTAMP without zone (the contract's TIMESTAMP holding UTC);
    - no decimal precision loss: DECIMAL(38,18) sums and products keep 18 places
      instead of silently dropping to 6 when the precision bound is reached;
    - ANSI mode: an overflow or a bad cast fails the run instead of giving NULL.
-#}
{% macro engine_session_settings() -%}
    {{ return(adapter.dispatch('engine_session_settings', 'meterline')()) }}
{%- endmacro %}

{% macro default__engine_session_settings() -%}
{%- endmacro %}

{% macro spark__engine_session_settings() -%}
    {%- if execute -%}
        {%- for key, value in {
            'spark.sql.session.timeZone': 'UTC',
            'spark.sql.timestampType': 'TIMESTAMP_NTZ',
            'spark.sql.decimalOperations.allowPrecisionLoss': 'false',
            'spark.sql.ansi.enabled': 'true',
        }.items() -%}
            {%- do run_query('set ' ~ key ~ ' = ' ~ value) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#-
  Run at the start of every dbt invocation. Both engines read the Parquet raw
  layer ($METERLINE_RAW, meterline/raw_layer.py) through schema raw: one view per
  table over the files of every arrival day, so the sources are the same names
  on both engines and a rerun's replaced day folder is read as it is now. On
  DuckDB ingestion creates the views in the warehouse; on Spark this macro does.
-#}
{% macro register_raw_layer() -%}
    {{ return(adapter.dispatch('register_raw_layer', 'meterline')()) }}
{%- endmacro %}

{% macro default__register_raw_layer() -%}
{%- endmacro %}

{% macro spark__register_raw_layer() -%}
    {%- if execute -%}
        {%- set raw = env_var('METERLINE_RAW', '../data/raw').rstrip('/') -%}
        {%- set files = {
            'usage_records': raw ~ '/arrival_date=*/usage_records.parquet',
            'usage_rejects': raw ~ '/arrival_date=*/usage_rejects.parquet',
            'arrival_manifest': raw ~ '/arrival_date=*/arrival_manifest.parquet',
            'arrival_event_days': raw ~ '/arrival_date=*/arrival_event_days.parquet',
            'price_catalog': raw ~ '/price_catalog.parquet',
        } -%}
        {%- do run_query('create schema if not exists raw') -%}
        {%- for table, path in files.items() -%}
            {%- do run_query('create or replace view raw.' ~ table ~ ' as select * from parquet.`' ~ path ~ '`') -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#-
  Incremental tables rebuilt by partition: `partition_column` holds the UTC day
  (grain 'day') or the first day of the UTC month (grain 'month') of each row;
  a run rebuilds the partitions of batch_partitions(grain).
  DuckDB: the custom strategy replace_partitions (macros/replace_partitions.sql).
  Spark: a Parquet table partitioned by that column, insert_overwrite of the
  rebuilt partitions; the rebuilt partitions are dropped first, so one that lost
  all its rows is emptied too (insert_overwrite only replaces partitions that
  receive rows).
-#}
{% macro partitioned_incremental(partition_column, partition_grain) -%}
    {{ return(adapter.dispatch('partitioned_incremental', 'meterline')(partition_column, partition_grain)) }}
{%- endmacro %}

{% macro default__partitioned_incremental(partition_column, partition_grain) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='replace_partitions',
        partition_column=partition_column,
        partition_grain=partition_grain,
        on_schema_change='fail'
    ) }}
{%- endmacro %}

{% macro spark__partitioned_incremental(partition_column, partition_grain) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        file_format='parquet',
        partition_by=[partition_column],
        partition_column=partition_column,
        partition_grain=partition_grain,
        on_schema_change='fail',
        pre_hook=["{{ meterline.drop_rebuilt_partitions() }}"]
    ) }}
{%- endmacro %}

{#- Spark: drop this run's rebuilt partitions of the existing table (see partitioned_incremental). -#}
{% macro drop_rebuilt_partitions() -%}
    {%- if execute and is_incremental() -%}
        {%- set column = config.require('partition_column') -%}
        {%- set keys = run_query(batch_partitions(config.require('partition_grain'))).columns[0].values() -%}
        {%- if keys | length > 0 -%}
            alter table {{ this }} drop if exists
            {%- for key in keys %}
                partition ({{ column }} = '{{ key }}'){{ ',' if not loop.last }}
            {%- endfor %}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#-
  Small tables keyed by `unique_key` and rewritten by bucket (int_api_key_names):
  the model returns every row of each bucket it touches.
  DuckDB: delete+insert on the key. Spark: insert_overwrite of the touched
  buckets (Parquet has no row-level delete; a dynamic partition overwrite may
  read the table it replaces).
-#}
{% macro bucketed_incremental(unique_key, bucket_column) -%}
    {{ return(adapter.dispatch('bucketed_incremental', 'meterline')(unique_key, bucket_column)) }}
{%- endmacro %}

{% macro default__bucketed_incremental(unique_key, bucket_column) -%}
    {{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=unique_key) }}
{%- endmacro %}

{% macro spark__bucketed_incremental(unique_key, bucket_column) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        file_format='parquet',
        partition_by=[bucket_column]
    ) }}
{%- endmacro %}
