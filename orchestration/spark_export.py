"""Publishing from Spark: the rebuilt partitions out of Spark, into the same serving-file builder.

``publish()`` (orchestration/publish.py) reads a DuckDB connection whose schema
``marts`` holds the published tables and whose ``intermediate.int_batch_event_days``
lists the event days the run rebuilt. On Spark those tables live in the Spark
warehouse, so ``exported_marts`` has Spark write what ``publish()`` will read
(the partitions this run rebuilt; every partition on a first publish) as
Parquet, and returns an in-memory DuckDB with those two schemas as views over
the files. BI readers get the same serving file, built by the same code,
whichever engine built the marts.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.publish import current_files, partition_expression, rebuilt_partitions

BATCH_DAYS = "int_batch_event_days"


def _marts_tables(spark) -> list[str]:
    rows = spark.sql("show tables in marts").collect()
    return sorted(row.tableName for row in rows if not row.isTemporary)


def _view(con: duckdb.DuckDBPyConnection, schema: str, table: str, folder: Path) -> None:
    con.execute(f"create view {schema}.{table} as select * from read_parquet('{folder}/*.parquet')")


@contextmanager
def exported_marts(spark, serving: Path, folder: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Export from Spark what a publish to ``serving`` needs, under ``folder`` (deleted afterwards)."""
    everything = not current_files(serving)
    shutil.rmtree(folder, ignore_errors=True)
    con = duckdb.connect()
    try:
        con.execute("create schema marts; create schema intermediate")
        spark.table(f"intermediate.{BATCH_DAYS}").write.mode("overwrite").parquet(str(folder / BATCH_DAYS))
        _view(con, "intermediate", BATCH_DAYS, folder / BATCH_DAYS)
        for table in _marts_tables(spark):
            rows = spark.table(f"marts.{table}")
            if not everything:
                # Spark prunes to the rebuilt partitions: the filter is on its partition column.
                keys = ", ".join(f"date'{key}'" for (key,) in spark.sql(rebuilt_partitions(table, False)).collect())
                rows = rows.where(f"{partition_expression(table)} in ({keys or 'null'})")
            rows.write.mode("overwrite").parquet(str(folder / table))
            _view(con, "marts", table, folder / table)
        yield con
    finally:
        con.close()
        shutil.rmtree(folder, ignore_errors=True)
