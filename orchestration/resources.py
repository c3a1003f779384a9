"""meterline's one Dagster resource, ``paths``: every outside path, resolved at run time, and the
warehouse's single-writer lock held for the whole run (meterline/locking.py), and the run's
SQLite event log held open."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from meterline import spark_tables, warehouse
from meterline.locking import warehouse_lock
from meterline.settings import Settings
from orchestration.internals import event_log_held_open
from orchestration.runs import process_tags

# Steps that read landing files or write the serving file retry on failure: a file still being
# copied, a network share or a reader briefly holding a file should not fail a night's run.
TRANSIENT_IO_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


class MeterlinePaths(dg.ConfigurableResource):
    """The ``paths`` resource: the paths of marts.md. Each field left empty falls back to its
    ``METERLINE_*`` environment variable (then the contract's default) when a run reads it, so
    one deployment can serve several installations. While a run uses it (the whole run, with the
    job's in-process executor), it holds the warehouse's writer lock and keeps the run's event log
    open (orchestration/internals.py)."""

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[MeterlinePaths]:
        on_wait = context.log.info if context.log else None
        with contextlib.ExitStack() as stack:
            if context.instance is not None and context.run is not None:
                # Who runs this run, so that a run whose process dies is recognised (orchestration/runs.py).
                context.instance.add_run_tags(context.run.run_id, process_tags())
                # The run's events append to its event log's WAL instead of a checkpoint each.
                stack.enter_context(event_log_held_open(context.instance, context.run.run_id))
            stack.enter_context(
                warehouse_lock(self.settings().warehouse, holder=f"Dagster run {context.run_id}", on_wait=on_wait)
            )
            yield stack.enter_context(super().yield_for_execution(context))

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
        (meterline/spark_tables.py)."""
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
