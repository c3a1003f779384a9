"""Dagster resources: every outside path of meterline, resolved at run time."""

from __future__ import annotations

import dataclasses
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
        return warehouse.connect(self.settings().warehouse, read_only=read_only)
