"""Dagster resources: every outside path of meterline, resolved at run time."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import warehouse
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
    def built_marts(self, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection holding the marts this run built, as ``publish()`` reads them:
        the DuckDB warehouse itself, or on Spark the rebuilt partitions exported to Parquet."""
        settings = self.settings()
        if settings.engine == "duckdb":
            with self.connect_warehouse() as con:
                yield con
            return
        from orchestration.spark import spark_session
        from orchestration.spark_export import exported_marts

        export = settings.serving.with_name(f".{settings.serving.name}.export-{run_id}")
        with exported_marts(spark_session(settings), settings.serving, export) as con:
            yield con
