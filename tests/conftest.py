"""Shared fixtures: an isolated meterline installation in a temp folder, run for real.

Every path of marts.md points into the temp folder (METERLINE_* and
DAGSTER_HOME), so tests use a real DuckDB warehouse, real dbt runs and a real
Dagster instance without touching the repo's data/ folder.

Engines: an installation runs on DuckDB unless the test module is marked
``@on_every_engine``, which runs its tests once per engine of
``METERLINE_TEST_ENGINES`` (default: duckdb,spark; spark is skipped, with the
reason, when the ``spark`` extra is not installed). All Spark installations of
a test session share one local Spark (its start-up costs ~15 s) and one
Spark warehouse folder, emptied at the start of each installation.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.catalog import CATALOG_COLUMNS
from orchestration.dbt_project import prepare_manifest
from orchestration.runner import materialize
from orchestration.settings import ENGINES, Settings

# The schemas dbt and the raw layer create in a Spark warehouse.
SPARK_SCHEMAS = ("raw", "staging", "intermediate", "marts", "quarantine")


def _engine_params() -> list[Any]:
    names = [e.strip() for e in os.environ.get("METERLINE_TEST_ENGINES", ",".join(ENGINES)).split(",") if e.strip()]
    unknown = set(names) - set(ENGINES)
    if unknown:
        raise pytest.UsageError(f"METERLINE_TEST_ENGINES: unknown engines {sorted(unknown)}")
    no_spark = importlib.util.find_spec("pyspark") is None
    return [
        pytest.param(name, marks=pytest.mark.skipif(
            name == "spark" and no_spark, reason="the spark engine needs: pip install -e '.[test,spark]'"))
        for name in names
    ]


# Runs every test of a module (or a test) once per engine; the installations follow.
on_every_engine = pytest.mark.parametrize("engine", _engine_params(), indirect=True, scope="module")



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
        self.prices.write_text("\n".join([",".join(CATALOG_COLUMNS), *rows]) + "\n", encoding="utf-8")

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
            from orchestration.spark import spark_session

            assert not params, "Spark queries take no parameters"
            return [tuple(row) for row in spark_session(Settings.from_env()).sql(sql).collect()]
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, params or {}).fetchall()

    def plant_fct_cost_row(self, like: str, **values: str) -> None:
        """Insert into the engine's marts.fct_cost a copy of request ``like`` with some columns set
        to SQL literals (a defect that only a data-quality check can find)."""
        if self.engine == "spark":
            from pyspark.sql import functions as F

            from orchestration.spark import spark_session

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

    def serving_rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        with duckdb.connect(str(self.serving), read_only=True) as con:
            return con.execute(sql, params or {}).fetchall()


def _reset_spark_warehouse() -> None:
    """Drop meterline's schemas from the shared Spark warehouse (when this session started Spark)."""
    from orchestration.spark import spark_session

    spark = spark_session(Settings.from_env())
    for schema in SPARK_SCHEMAS:
        spark.sql(f"drop schema if exists {schema} cascade").collect()


def _install(root: Path, monkeypatch: pytest.MonkeyPatch, engine: str, spark_warehouse: Path) -> Installation:
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
    for name, value in {
        "METERLINE_LANDING": inst.landing,
        "METERLINE_WAREHOUSE": inst.warehouse,
        "METERLINE_SERVING": inst.serving,
        "METERLINE_REPORTS": inst.reports,
        "METERLINE_PRICES": inst.prices,
        "DAGSTER_HOME": inst.dagster_home,
        "METERLINE_RAW": root / "raw",
        "METERLINE_ENGINE": engine,
        "METERLINE_SPARK_WAREHOUSE": spark_warehouse,
    }.items():
        monkeypatch.setenv(name, str(value))
    if engine == "spark":
        _reset_spark_warehouse()
    return inst


def pytest_configure(config: pytest.Config) -> None:
    """Parse the dbt project before collection: test modules import the Dagster definitions,
    which need target/manifest.json (absent on a fresh clone)."""
    prepare_manifest()


@pytest.fixture(scope="module")
def engine(request: pytest.FixtureRequest) -> str:
    """The engine of this module's installations: duckdb, unless parametrized by on_every_engine."""
    return getattr(request, "param", "duckdb")


@pytest.fixture(scope="session")
def spark_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one Spark warehouse folder of this test session (a process hosts one local Spark)."""
    return tmp_path_factory.mktemp("spark_warehouse")


@pytest.fixture
def installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, spark_warehouse: Path
) -> Installation:
    return _install(tmp_path, monkeypatch, engine, spark_warehouse)


@pytest.fixture(scope="module")
def module_installation(
    tmp_path_factory: pytest.TempPathFactory, engine: str, spark_warehouse: Path
) -> Iterator[Installation]:
    """One installation shared by a module's tests (a pipeline run costs ~20 s)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _install(tmp_path_factory.mktemp(f"meterline_{engine}"), monkeypatch, engine, spark_warehouse)
