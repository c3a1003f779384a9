"""Dagster resources: every outside path of meterline, resolved at run time."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import spark_tables, warehouse
from orchestration.settings import Settings


class MeterlinePaths(dg.ConfigurableResource):
    """The paths of marts.md. Each field left empty falls back to its
    ``METERLINE_*`` environment variable (then the contract's default) when a
    run reads it, so one deployment can serve several installations."""

    landing: str = ""
    warehouse: str = ""
    serving: str = ""
    reports: str = ""
    prices: str = ""

    def settings(self) -> Settings:
        defaults = Settings.from_env()
        overrides = {
            name: Path(value).expanduser().resolve()
            for name, value in {
                "landing": self.landing,
                "warehouse": self.warehouse,
                "serving": self.serving,
                "reports": self.reports,
                "prices": self.prices,
            }.items()
            if value
        }
        return dataclasses.replace(defaults, **overrides)

    def connect_warehouse(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        settings = self.settings()
        return warehouse.connect(settings.warehouse, settings.duckdb_memory_limit, read_only=read_only)

    @contextmanager
    def built_warehouse(self, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """What the engine built, read-only, for the checks after dbt and the publish step of run
        ``run_id``: one DuckDB connection where raw.*, intermediate.*, marts.* and quarantine.*
        resolve. DuckDB: the warehouse itself. Spark: views over what Spark built
        (orchestration/spark_tables.py)."""
        settings = self.settings()
        if settings.engine == "duckdb":
            with self.connect_warehouse(read_only=True) as con:
                yield con
            return
        with spark_tables.connect(settings, run_id) as con:
            yield con

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """At the end of a run, whatever its outcome: delete the run's Spark export folder."""
        if context.run is not None:
            shutil.rmtree(spark_tables.export_folder(self.settings().serving, context.run.run_id), ignore_errors=True)
