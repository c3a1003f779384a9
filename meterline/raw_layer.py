"""The Parquet raw layer: what ingestion parsed, the one copy of the raw records.

Layout under ``$METERLINE_RAW`` (default ``data/raw``):

    arrival_date=YYYY-MM-DD/        one folder per arrival day, replaced whole on a rerun
        usage_records.parquet       valid records, typed, created_at in UTC (TIMESTAMP, no zone)
        usage_rejects.parquet       rejected records with reason, detail and raw text
        arrival_manifest.parquet    files and records read that day (one row)
        arrival_event_days.parquet  the event days that day's records touched, now or before
    price_catalog.parquet           the typed price catalog of the last run, replaced whole

Every file carries all of its table's columns (:data:`DAY_COLUMNS`, ``arrival_date`` included),
so a reader globs ``arrival_date=*/<table>.parquet`` without partition discovery. A day folder
is written beside the layer (under ``_incoming/``, which no glob matches) and renamed into
place, so a reader sees the old day or the new one, never half of one. Empty days have files
too (zero rows, full schema).

The DuckDB warehouse holds no copy: its ``raw.usage_records``, ``raw.usage_rejects``,
``raw.arrival_manifest`` and ``raw.arrival_event_days`` are views over these files
(:func:`open_layer`), which dbt, the checks and a notebook read like tables; Spark reads the
same files (``dbt_project/macros/engine.sql``). A warehouse from before, which held them as
tables, has them moved here the first time a run opens it.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from meterline.contract import USAGE_COUNTERS
from meterline.warehouse import sql_string, unordered_writes

# Each table of a day folder: its columns and their types, in file order.
DAY_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "usage_records": (
        ("arrival_date", "date"),
        ("source_file", "varchar"),
        ("line_number", "bigint"),
        ("request_id", "varchar"),
        ("created_at", "timestamp"),
        ("account_id", "varchar"),
        ("api_key_id", "varchar"),
        ("api_key_name", "varchar"),
        ("model", "varchar"),
        ("provider", "varchar"),
        ("endpoint", "varchar"),
        ("billing_mode", "varchar"),
        *((counter, "bigint") for counter in USAGE_COUNTERS),
        ("region", "varchar"),
    ),
    "usage_rejects": (
        ("arrival_date", "date"),
        ("source_file", "varchar"),
        ("line_number", "bigint"),
        ("request_id", "varchar"),
        ("reason", "varchar"),
        ("detail", "varchar"),
        ("raw_record", "varchar"),
    ),
    "arrival_manifest": (
        ("arrival_date", "date"),
        ("files", "bigint"),
        ("records_read", "bigint"),
        ("ingested_at", "timestamp"),
    ),
    "arrival_event_days": (("arrival_date", "date"), ("event_date", "date")),
}
DAY_TABLES = tuple(DAY_COLUMNS)
CATALOG_FILE = "price_catalog.parquet"
INCOMING = "_incoming"
OLD_SUFFIX = ".old"  # a day folder moved aside while its new one is swapped in


def day_dir(raw: Path, arrival_date: date) -> Path:
    return raw / f"arrival_date={arrival_date.isoformat()}"


def table_glob(raw: Path, table: str) -> str:
    """The files of ``table`` over every arrival day (what an engine's raw source reads)."""
    if table == "price_catalog":
        return str(raw / CATALOG_FILE)
    return str(raw / "arrival_date=*" / f"{table}.parquet")


def _typed(table: str, query: str) -> str:
    """``query``'s columns of ``table`` by name, in file order and with the layer's types."""
    columns = ", ".join(f"cast({name} as {kind}) as {name}" for name, kind in DAY_COLUMNS[table])
    return f"select {columns} from ({query})"


def _no_rows(table: str) -> str:
    return "select " + ", ".join(f"null::{kind} as {name}" for name, kind in DAY_COLUMNS[table]) + " where false"


def _view_sql(raw: Path, table: str) -> str:
    if not any(raw.glob(f"arrival_date=*/{table}.parquet")):
        return _no_rows(table)  # DuckDB cannot read a glob that matches no file
    # By name: a column added since (region) reads as NULL in the files written before it.
    files = f"read_parquet({sql_string(table_glob(raw, table))}, hive_partitioning = false, union_by_name = true)"
    return _typed(table, f"select * from {files}")


def register_views(con: duckdb.DuckDBPyConnection, raw: Path) -> None:
    """(Re)create the warehouse's ``raw.<table>`` views over the layer's files at ``raw``."""
    con.execute("create schema if not exists raw")
    for table in DAY_TABLES:
        con.execute(f"create or replace view raw.{table} as {_view_sql(raw, table)}")


def open_layer(con: duckdb.DuckDBPyConnection, raw: Path) -> None:
    """Make the warehouse read the layer at ``raw``: finish or undo what a write cut short left
    (:func:`_recover`), move the raw tables of a warehouse from before into it
    (:func:`_adopt_tables`), then point the ``raw`` views at its files."""
    raw.mkdir(parents=True, exist_ok=True)
    _recover(raw)
    _adopt_tables(con, raw)
    register_views(con, raw)


def _recover(raw: Path) -> None:
    """A day folder moved aside by a swap that never finished (:func:`_swap_folder`) goes back in
    place when its day has no folder; every other leftover of ``_incoming/`` is deleted."""
    incoming = raw / INCOMING
    if not incoming.is_dir():
        return
    for leftover in sorted(incoming.iterdir()):
        target = raw / leftover.name.removesuffix(OLD_SUFFIX)
        if leftover.name.endswith(OLD_SUFFIX) and not target.exists():
            os.replace(leftover, target)
        elif leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()


def _adopt_tables(con: duckdb.DuckDBPyConnection, raw: Path) -> None:
    """A warehouse written before the layer was the one copy holds the day tables as DuckDB tables:
    every arrival day of them is written to the layer (replacing its folder, which was a copy of
    them), then the tables are dropped. Interrupted, it starts again on the next open; the file
    does not shrink (DuckDB reuses the freed space)."""
    tables = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_catalog = current_database() "
            "and table_schema = 'raw' and table_type = 'BASE TABLE'"
        ).fetchall()
    }
    adopted = [table for table in DAY_TABLES if table in tables]
    if not adopted:
        return
    if "usage_records" in adopted:  # a warehouse from before regions
        con.execute("alter table raw.usage_records add column if not exists region varchar")
    every_day = " union ".join(f"select arrival_date from raw.{table}" for table in adopted)
    for (day,) in con.execute(f"{every_day} order by 1").fetchall():
        queries = {
            table: f"select * from raw.{table} where arrival_date = $day" if table in adopted else _no_rows(table)
            for table in DAY_TABLES
        }
        write_day(con, raw, day, queries, {"day": day})
    con.execute("begin transaction")
    for table in adopted:
        con.execute(f"drop table raw.{table}")
    con.execute("commit")


def write_day(
    con: duckdb.DuckDBPyConnection, raw: Path, arrival_date: date, queries: Mapping[str, str], params: dict[str, Any]
) -> Path:
    """Write arrival day ``arrival_date``: each table's rows from ``queries[table]`` (bound to the
    ``params`` it names as ``$name``), typed as :data:`DAY_COLUMNS`, into a new folder swapped in
    place of the day's previous one. Nothing of a failed write is left behind."""
    staging = _incoming(raw)
    try:
        # Rows in no particular order (each carries its line number): DuckDB encodes on every core.
        with unordered_writes(con):
            for table in DAY_TABLES:
                query = _typed(table, queries[table])
                con.execute(
                    f"copy ({query}) to {sql_string(staging / (table + '.parquet'))} (format parquet)",
                    {name: value for name, value in params.items() if re.search(rf"\${name}\b", query)},
                )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    target = day_dir(raw, arrival_date)
    _swap_folder(staging, target)
    return target


def rows_in_days(raw: Path, days: Iterable[date]) -> int:
    """How many records, rejects and event days the layer holds for arrival days ``days``, from
    the files' footers (no row is read). 0 means nothing arrived on those days and no earlier
    ingestion of them touched an event day: a dbt build of them would rebuild nothing."""
    files = [
        str(path)
        for day in days
        for table in ("usage_records", "usage_rejects", "arrival_event_days")
        if (path := day_dir(raw, day) / f"{table}.parquet").exists()
    ]
    if not files:
        return 0
    with duckdb.connect() as con:
        [(rows,)] = con.execute("select coalesce(sum(num_rows), 0) from parquet_file_metadata(?)", [files]).fetchall()
    return int(rows)


def _incoming(raw: Path) -> Path:
    folder = raw / INCOMING / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def write_catalog(con: duckdb.DuckDBPyConnection, raw: Path) -> Path:
    """Write ``raw.price_catalog`` as the layer's catalog file (atomic replace)."""
    staging = _incoming(raw)
    con.execute(f"copy (select * from raw.price_catalog) to {sql_string(staging / CATALOG_FILE)} (format parquet)")
    target = raw / CATALOG_FILE
    os.replace(staging / CATALOG_FILE, target)
    staging.rmdir()
    return target


def _swap_folder(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``: two renames, the old folder deleted after.

    POSIX cannot rename a folder over a non-empty one, so the old folder is first
    renamed aside, as ``_incoming/<day folder>.old``; between the two renames the day is
    briefly absent (a run reads the layer after ingestion, never during it), and a process
    killed there leaves the old folder to :func:`_recover`."""
    old = None
    if target.exists():
        old = new.parent / f"{target.name}{OLD_SUFFIX}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old)
