"""The Parquet raw layer: what ingestion parsed, in files any engine reads.

Layout under ``$METERLINE_RAW`` (default ``data/raw``):

    arrival_date=YYYY-MM-DD/        one folder per arrival day, replaced whole on a rerun
        usage_records.parquet       valid records, typed, created_at in UTC (TIMESTAMP, no zone)
        usage_rejects.parquet       rejected records with reason, detail and raw text
        arrival_manifest.parquet    files and records read that day (one row)
        arrival_event_days.parquet  the event days that day's records touched, now or before
    price_catalog.parquet           the typed price catalog of the last run, replaced whole

Every file carries all of its table's columns, ``arrival_date`` included, so a
reader globs ``arrival_date=*/<table>.parquet`` without partition discovery.
A day folder is written beside the layer (under ``_incoming/``, which no glob
matches) and renamed into place, so a reader sees the old day or the new one,
never half of one. Empty days have files too (zero rows, full schema).
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import date
from pathlib import Path

import duckdb

from meterline.warehouse import sql_string

# Table of the DuckDB raw schema -> its file in a day folder.
DAY_TABLES = ("usage_records", "usage_rejects", "arrival_manifest", "arrival_event_days")
CATALOG_FILE = "price_catalog.parquet"
INCOMING = "_incoming"


def day_dir(raw: Path, arrival_date: date) -> Path:
    return raw / f"arrival_date={arrival_date.isoformat()}"


def table_glob(raw: Path, table: str) -> str:
    """The files of ``table`` over every arrival day (what an engine's raw source reads)."""
    if table == "price_catalog":
        return str(raw / CATALOG_FILE)
    return str(raw / "arrival_date=*" / f"{table}.parquet")


def _incoming(raw: Path) -> Path:
    folder = raw / INCOMING / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def write_day(con: duckdb.DuckDBPyConnection, raw: Path, arrival_date: date) -> Path:
    """Write arrival day ``arrival_date`` of the warehouse's raw tables as one Parquet folder
    and swap it in place of the day's previous folder."""
    staging = _incoming(raw)
    for table in DAY_TABLES:
        con.execute(
            f"copy (select * from raw.{table} where arrival_date = $day) "
            f"to {sql_string(staging / (table + '.parquet'))} (format parquet)",
            {"day": arrival_date},
        )
    target = day_dir(raw, arrival_date)
    _swap_folder(staging, target)
    return target


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
    renamed aside; between the two renames the day is briefly absent (a run that
    reads the layer does so after ingestion, never during it)."""
    old = None
    if target.exists():
        old = new.parent / f"{new.name}.old"
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old)
