"""What Spark built, read through DuckDB: views over the Spark tables' own Parquet files.

The checks after dbt and the publish step read the models through one DuckDB connection
(``MeterlinePaths.built_warehouse``). On Spark that connection is :func:`connect`: an
in-memory DuckDB where ``raw.*`` are views over the raw layer's files and the DuckDB
warehouse's raw tables (the price catalog; attached read-only; ingestion writes both on
both engines) and each relation of the schemas dbt builds on Spark
(:data:`SCHEMAS`) is a view over Parquet:

- a table: its own files under its metastore location (``<location>/*.parquet``, or
  ``<location>/<column>=*/.../*.parquet`` with the partition columns typed as in Spark),
  read in place, nothing copied;
- a view of marts or quarantine (``rejected_usage``), or a table without files yet (e.g. an
  empty ``int_unpriced_usage``): written by Spark as Parquet into the run's export folder
  (a zero-row table as a file of its columns).

Which is which is looked up in Spark once per run, by the first :func:`connect` after dbt,
and kept in ``relations.json`` of the export folder with the exports; the run's resource
deletes the folder when the run ends (``MeterlinePaths.teardown_after_execution``). DuckDB's
memory is capped at ``$METERLINE_DUCKDB_MEMORY_LIMIT``, as on the warehouse.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb

from meterline.raw_layer import register_views
from meterline.settings import Settings

# The schemas dbt builds on Spark that Python reads (staging holds views over raw, which
# Python reads from the raw layer's files), and those whose views it reads: the views of
# intermediate (int_usage_rated) are steps inside dbt, and exporting one would compute it again.
SCHEMAS = ("intermediate", "marts", "quarantine")
VIEW_SCHEMAS = ("marts", "quarantine")
MANIFEST = "relations.json"
WAREHOUSE = "duckdb_warehouse"  # the DuckDB warehouse's name in the connection
# Spark type of a partition column -> its DuckDB type.
PARTITION_TYPES = {"date": "DATE", "string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT"}


def export_folder(serving: Path, run_id: str) -> Path:
    """The export folder of run ``run_id``, beside the serving file."""
    return serving.with_name(f".{serving.name}.export-{run_id}")


def _local_path(location: str, table: str) -> Path:
    """The file path of a table location (a ``file:`` URI or a path); any other scheme is refused."""
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        raise RuntimeError(
            f"Spark table {table} is stored at {location}, which this machine cannot read as a file: "
            "put the Spark warehouse on a path the machine running meterline mounts (README, 'On a cluster')"
        )
    return Path(unquote(parsed.path))


def _describe(spark: Any, name: str) -> tuple[list[str], list[tuple[str, str]], dict[str, str]]:
    """(columns, [(partition column, Spark type)], details such as Type and Location) of a
    Spark relation, from DESCRIBE TABLE EXTENDED."""
    columns: list[str] = []
    partitions: list[tuple[str, str]] = []
    details: dict[str, str] = {}
    section = "columns"
    for label, value, _ in spark.sql(f"describe table extended {name}").collect():
        if label == "# Partition Information":
            section = "partitions"
        elif label == "# Detailed Table Information":
            section = "details"
        elif not label or label.startswith("#"):
            continue
        elif section == "columns":
            columns.append(label)
        elif section == "partitions":
            partitions.append((label, value))
        else:
            details[label] = value
    return columns, partitions, details


def _export(spark: Any, name: str, folder: Path) -> dict[str, Any]:
    """Have Spark write relation ``name`` as Parquet under ``folder``."""
    target = folder / name
    rows = spark.table(name)
    rows.write.mode("overwrite").parquet(str(target))
    return {"columns": rows.columns, "files": str(target / "*.parquet"), "hive_types": {}}


def _relation(spark: Any, name: str, folder: Path) -> dict[str, Any] | None:
    """Where DuckDB reads relation ``name``: its table files, or Spark's export of it; None for
    a view outside VIEW_SCHEMAS."""
    columns, partitions, details = _describe(spark, name)
    if details.get("Type") == "VIEW":
        return _export(spark, name, folder) if name.split(".")[0] in VIEW_SCHEMAS else None
    if details.get("Provider", "").lower() != "parquet" or not details.get("Location"):
        raise RuntimeError(
            f"Spark table {name} is not a Parquet table with a location (provider {details.get('Provider')!r}); "
            "the models are built as Parquet (dbt_project.yml, file_format)"
        )
    unknown = [f"{column} {data_type}" for column, data_type in partitions if data_type not in PARTITION_TYPES]
    if unknown:
        raise RuntimeError(f"Spark table {name} has partition columns DuckDB is not told how to read: {unknown}")
    pattern = "/".join([*(f"{column}=*" for column, _ in partitions), "*.parquet"])
    root = _local_path(details["Location"], name)
    if not any(root.glob(pattern)):
        return _export(spark, name, folder)
    return {
        "columns": columns,
        "files": str(root / pattern),
        "hive_types": {column: PARTITION_TYPES[data_type] for column, data_type in partitions},
    }


def _describe_run(settings: Settings, folder: Path) -> dict[str, dict[str, Any]]:
    """Look up every relation of SCHEMAS in Spark, export the views and empty tables into
    ``folder`` and write ``relations.json`` there last. Export folders of earlier runs (left
    by a crash: one run at a time holds the warehouse lock) are deleted."""
    from meterline.spark import spark_session

    for stale in settings.serving.parent.glob(export_folder(settings.serving, "*").name):
        shutil.rmtree(stale, ignore_errors=True)
    folder.mkdir(parents=True)
    spark = spark_session(settings)
    names = [
        f"{schema}.{row.tableName}"
        for schema in SCHEMAS
        if spark.catalog.databaseExists(schema)
        for row in spark.sql(f"show tables in {schema}").collect()
        if not row.isTemporary
    ]
    relations = {name: relation for name in names if (relation := _relation(spark, name, folder))}
    staging = folder / f".{MANIFEST}.tmp"
    staging.write_text(json.dumps(relations, indent=1), encoding="utf-8")
    os.replace(staging, folder / MANIFEST)
    return relations


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view_sql(relation: dict[str, Any]) -> str:
    hive = relation["hive_types"]
    options = (
        f"hive_partitioning = true, hive_types = {{{', '.join(f'{_literal(c)}: {t}' for c, t in hive.items())}}}"
        if hive
        else "hive_partitioning = false"
    )
    columns = ", ".join(_quoted(column) for column in relation["columns"])
    return f"select {columns} from read_parquet({_literal(relation['files'])}, {options})"


def connect(settings: Settings, run_id: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding raw.* of the DuckDB warehouse and, as views, what Spark built
    (looked up, and exported where needed, on the run's first call)."""
    folder = export_folder(settings.serving, run_id)
    manifest = folder / MANIFEST
    if manifest.is_file():
        relations = json.loads(manifest.read_text(encoding="utf-8"))
    else:
        relations = _describe_run(settings, folder)
    con = duckdb.connect(config={"memory_limit": settings.duckdb_memory_limit})
    try:
        con.execute(f"attach {_literal(str(settings.warehouse))} as {WAREHOUSE} (read_only)")
        for schema in sorted({"raw", *(name.split(".")[0] for name in relations)}):
            con.execute(f"create schema {schema}")
        raw_tables = con.execute(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = 'raw' order by 1",
            [WAREHOUSE],
        ).fetchall()
        for (table,) in raw_tables:
            con.execute(f"create view raw.{_quoted(table)} as select * from {WAREHOUSE}.raw.{_quoted(table)}")
        register_views(con, settings.raw)  # the day tables: the raw layer's files
        for name, relation in relations.items():
            schema, table = name.split(".")
            con.execute(f"create view {schema}.{_quoted(table)} as {_view_sql(relation)}")
    except BaseException:
        con.close()
        raise
    return con
