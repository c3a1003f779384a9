"""What the tests share: a meterline installation in a folder of its own, run for real, and
records in the shape of raw_usage.md.

Every path of marts.md points into the installation's folder (METERLINE_* and DAGSTER_HOME), so
tests use a real DuckDB warehouse, real dbt runs and a real Dagster instance without touching the
repo's data/ folder. Fixtures live in conftest.py; this module is imported by the tests.

Installations sit at fixed paths per test worker (:func:`installation_root`), wiped before each
use: dbt's profile holds the warehouse path, so a new path costs a full dbt parse (~8 s), while a
path parsed before is restored from the parse cache (orchestration/dbt/resource.py).
"""

from __future__ import annotations

import csv
import fcntl
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from meterline.catalog import CATALOG_COLUMNS, REGION
from meterline.raw_layer import day_dir
from meterline.settings import REPO_ROOT, Settings
from meterline.warehouse import sql_string
from orchestration.runner import materialize

# The schemas dbt and the raw layer create in a Spark warehouse.
SPARK_SCHEMAS = ("raw", "staging", "intermediate", "marts", "quarantine")
HAS_SPARK = importlib.util.find_spec("pyspark") is not None
NO_SPARK_REASON = "the spark engine needs the spark extra: pip install -e '.[test,spark]'"


def usage_record(request_id: str, created_at: str, **fields: Any) -> dict[str, Any]:
    """A valid raw usage record (raw_usage.md); keyword arguments override or add fields."""
    record: dict[str, Any] = {
        "request_id": request_id,
        "created_at": created_at,
        "account_id": "acct_1",
        "api_key_id": "key_1",
        "api_key_name": "Prod key",
        "model": "openai/gpt-test",
        "provider": "openai",
        "endpoint": "chat.completions",
        "billing_mode": "payg",
        "usage": {"input_tokens": 1000, "output_tokens": 500},
    }
    record.update(fields)
    return record


@dataclass(frozen=True)
class Installation:
    engine: str
    root: Path
    landing: Path
    warehouse: Path
    serving: Path
    reports: Path
    prices: Path
    dagster_home: Path

    def write_catalog(self, *rows: str) -> None:
        """The catalog CSV with its optional region column; a row written without a region cell is region-less."""
        columns = (*CATALOG_COLUMNS, REGION)
        padded = [row if len(next(csv.reader([row]))) == len(columns) else row + "," for row in rows]
        self.prices.write_text("\n".join([",".join(columns), *padded]) + "\n", encoding="utf-8")

    def day_folder(self, day: str) -> Path:
        folder = self.landing / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def write_jsonl(self, day: str, name: str, records: list[dict[str, Any] | str]) -> Path:
        """Write records (dicts as JSON, strings verbatim) one per line; .gz names are gzipped."""
        text = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)
        path = self.day_folder(day) / name
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode("utf-8")))
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def write_parquet(self, day: str, name: str, records: list[dict[str, Any]]) -> Path:
        path = self.day_folder(day) / name
        pq.write_table(pa.Table.from_pylist(records), path)
        return path

    def run(self, start: str, end: str | None = None) -> int:
        return materialize(date.fromisoformat(start), date.fromisoformat(end or start))

    def warehouse_rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """Rows of a query on the engine's warehouse (SQL both engines read: `string`, not `varchar`)."""
        if self.engine == "spark":
            from meterline.spark import spark_session

            assert not params, "Spark queries take no parameters"
            return [tuple(row) for row in spark_session(Settings.from_env()).sql(sql).collect()]
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, params or {}).fetchall()

    def plant_fct_cost_row(self, like: str, **values: str) -> None:
        """Insert into the engine's marts.fct_cost a copy of request ``like`` with some columns set
        to SQL literals (a defect that only a data-quality check can find)."""
        if self.engine == "spark":
            from pyspark.sql import functions as F

            from meterline.spark import spark_session

            rows = spark_session(Settings.from_env()).table("marts.fct_cost").where(F.col("request_id") == like)
            copy = [F.expr(values[c]).alias(c) if c in values else F.col(c) for c in rows.columns]
            rows.select(copy).write.insertInto("marts.fct_cost")
            return
        replaced = ", ".join(f"{value} as {column}" for column, value in values.items())
        with duckdb.connect(str(self.warehouse)) as con:
            con.execute(
                f"insert into marts.fct_cost select * replace ({replaced}) from marts.fct_cost where request_id = ?",
                [like],
            )

    def edit_raw(self, table: str, day: str, select: str) -> None:
        """Replace arrival day ``day``'s file of ``table`` in the raw layer by ``select`` over its
        rows (table ``rows``): what an older ingestion left, or a defect only a check can find."""
        path = day_dir(self.root / "raw", date.fromisoformat(day)) / f"{table}.parquet"
        with duckdb.connect() as con:
            con.execute("create table rows as select * from read_parquet(?)", [str(path)])
            con.execute(f"copy ({select}) to {sql_string(path)} (format parquet)")

    def serving_rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        with duckdb.connect(str(self.serving), read_only=True) as con:
            return con.execute(sql, params or {}).fetchall()

    def serving_records(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a query on the serving file as dicts by column name."""
        with duckdb.connect(str(self.serving), read_only=True) as con:
            cursor = con.execute(sql)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def published(self) -> dict[str, list[tuple]]:
        """Every table of the serving file's schema marts, rows sorted."""
        tables = [name for (name,) in self.serving_rows(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1")]  # fmt: skip
        return {table: sorted(self.serving_rows(f"select * from marts.{table}"), key=repr) for table in tables}


def _reset_spark_warehouse() -> None:
    """Drop meterline's schemas from the shared Spark warehouse (when this session started Spark)."""
    from meterline.spark import spark_session

    spark = spark_session(Settings.from_env())
    for schema in SPARK_SCHEMAS:
        spark.sql(f"drop schema if exists {schema} cascade").collect()


def install(root: Path, monkeypatch: pytest.MonkeyPatch, engine: str = "duckdb",
            spark_warehouse: Path | None = None) -> Installation:  # fmt: skip
    """An empty installation in ``root`` (emptied first), its paths set in the environment."""
    shutil.rmtree(root, ignore_errors=True)
    inst = Installation(
        engine=engine,
        root=root,
        landing=root / "landing",
        warehouse=root / "warehouse.duckdb",
        serving=root / "serving" / "meterline.duckdb",
        reports=root / "reports",
        prices=root / "prices.csv",
        dagster_home=root / "dagster_home",
    )
    inst.landing.mkdir(parents=True)
    settings = {
        "METERLINE_LANDING": inst.landing,
        "METERLINE_WAREHOUSE": inst.warehouse,
        "METERLINE_SERVING": inst.serving,
        "METERLINE_REPORTS": inst.reports,
        "METERLINE_PRICES": inst.prices,
        "DAGSTER_HOME": inst.dagster_home,
        "METERLINE_RAW": root / "raw",
        "METERLINE_ENGINE": engine,
        "METERLINE_SPARK_WAREHOUSE": spark_warehouse or root / "spark_warehouse",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, str(value))
    if engine == "spark":
        _reset_spark_warehouse()
    return inst


def worker_id() -> str:
    """This pytest process's name: gw0, gw1, ... under pytest-xdist, else main."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


_held: list[Any] = []  # the open lock files of this process's roots


# Where the installations live: a memory file system when the machine has one. A pipeline run
# commits hundreds of times (Dagster's event log in SQLite, DuckDB's and dbt's transactions);
# on this project's 2-core machines a commit costs ~15 ms on disk and ~0.3 ms in /dev/shm.
# METERLINE_TEST_TMP overrides it. The files are the same real DuckDB, SQLite and Parquet files.
SCRATCH_ENV = "METERLINE_TEST_TMP"
_MEMORY = Path("/dev/shm")
_MEMORY_NEEDED = 4 * 1024**3  # bytes free: the Spark parity's warehouse and both workers' installations


def scratch_dir() -> Path:
    """The base folder of the test installations: $METERLINE_TEST_TMP, else /dev/shm when it is a
    writable memory file system with room, else the system's temp folder."""
    if os.environ.get(SCRATCH_ENV):
        return Path(os.environ[SCRATCH_ENV])
    if _MEMORY.is_dir() and os.access(_MEMORY, os.W_OK) and shutil.disk_usage(_MEMORY).free >= _MEMORY_NEEDED:
        return _MEMORY
    return Path(tempfile.gettempdir())


def installation_root() -> Path | None:
    """A folder of fixed path for this checkout and test worker, for this process alone; None
    when another test session of the same checkout holds it (the tests then use temp folders)."""
    checkout = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:10]
    base = scratch_dir() / f"meterline-tests-{checkout}"
    base.mkdir(exist_ok=True)
    lock = (base / f"{worker_id()}.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    _held.append(lock)
    return base / worker_id()


def shown_value(text: str) -> Any:
    """A cell's text as the value it shows: "$1,234.57" -> Decimal("1234.57"), "1,234" -> 1234; other
    texts (names, "12.3%") as they are; the en dash of a missing value -> None."""
    if text == "\N{EN DASH}":
        return None
    if text.lstrip("-").startswith("$"):
        return Decimal(text.replace("$", "").replace(",", ""))
    if text.replace(",", "").isdigit():
        return int(text.replace(",", ""))
    return text
