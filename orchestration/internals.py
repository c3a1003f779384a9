"""Every use of a Dagster or dagster-dbt API that is not public, in one place: each may change in a
patch release, and pyproject.toml pins dagster 1.13.27 and dagster-dbt 0.29.27 for them. When
upgrading, check these first (tests/test_dbt_args.py, tests/test_operations.py, tests/test_cli.py and
the pipeline tests exercise each)."""

import importlib.metadata
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy
from dagster._core.definitions.data_version import CODE_VERSION_TAG, DATA_VERSION_TAG
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from dagster_shared.libraries import DagsterLibraryRegistry
from packaging.version import Version
from sqlalchemy.pool import NullPool

# The dbt-core installed beside meterline, which its dbt processes run (pyproject.toml keeps it below 2).
DBT_CORE_VERSION = Version(importlib.metadata.version("dbt-core"))


def _import_dagster_dbt_without_dbt_core() -> None:
    """Import dagster-dbt as if dbt-core were not installed in this process: its module
    ``dagster_dbt.compat`` then imports nothing of dbt (its path for dbt Fusion, which dagster-dbt
    supports without dbt-core), and ``@dbt_assets`` reads a selection of the whole project straight
    from the manifest instead of through dbt's selector. meterline runs dbt in processes of its own
    (meterline/dbt_child.py), never in this one: importing dbt here (~1.1 s) and dbt's selector
    (~0.3 s) were ~1.4 s of every run's start-up (BENCHMARKS.md). dagster-dbt learns dbt's version
    from :class:`orchestration.dbt.resource.MeterlineDbtCli` instead, and Dagster's list of libraries
    names dbt-core with its version, as before. ``dbt.version`` is unimportable during this import
    only; a dbt imported before it (in a test session) stays as it was. This module is imported before
    anything else of meterline imports dagster-dbt (``orchestration/dbt/__init__.py``)."""
    saved = sys.modules.get("dbt.version")
    sys.modules["dbt.version"] = None  # type: ignore[assignment]  # importing it raises ImportError
    try:
        import dagster_dbt  # noqa: F401
    finally:
        if saved is None:
            del sys.modules["dbt.version"]
        else:
            sys.modules["dbt.version"] = saved
    DagsterLibraryRegistry._libraries.pop("dbt-fusion", None)  # what dagster-dbt registers without dbt-core
    DagsterLibraryRegistry.register("dbt-core", DBT_CORE_VERSION.base_version, is_dagster_package=False)


_import_dagster_dbt_without_dbt_core()

from dagster_dbt.dbt_project import using_dagster_dev  # noqa: E402 - after the import above

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "CODE_VERSION_TAG",
    "DATA_VERSION_TAG",
    "AssetCheckExecutionRecordStatus",
    "event_log_held_open",
    "PARTITION_NAME_TAG",
    "using_dagster_dev",
]


@contextmanager
def event_log_held_open(instance, run_id: str) -> Iterator[None]:
    """Hold a connection to the run's SQLite event log, and to the index of asset events, while the run
    stores its events. Dagster's SQLite storage opens and closes a connection per event, and when the
    last connection to a WAL database closes, SQLite checkpoints it and deletes the WAL: each of a
    run's ~400 events paid a new WAL, a checkpoint and the WAL's deletion (~0.75 s of a 1M-record
    night's thread, 0.4 to 1.6 s in 7 measured pairs; BENCHMARKS.md). While this connection is open,
    an event appends to the WAL, which SQLite checkpoints as usual (every 1,000 pages, and when this
    connection closes). Meanwhile the storage also keeps one SQLAlchemy engine per database
    (:func:`_engines_kept`). A hold within a hold of the same storage (the CLI's around the run's own)
    adds nothing: the outer one holds the run's log already. Other storages (Postgres, the
    consolidated SQLite log) are left as they are."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqliteEventLogStorage) or "_connect" in vars(storage):
        yield
        return
    # Dagster creates each shard with its schema, in WAL mode, as the run's first event would.
    with storage.run_connection(run_id):
        pass
    with storage.index_connection():
        pass
    held: list[sqlite3.Connection] = []
    try:
        for shard in (run_id, INDEX_SHARD_NAME):
            # Never used but to be closed, whichever thread tears the run's resources down.
            held.append(sqlite3.connect(storage.path_for_shard(shard), check_same_thread=False))
            # A first read opens the WAL: a connection that never read does not count as one.
            held[-1].execute("select count(*) from sqlite_master").fetchall()
        with _engines_kept(storage):
            yield
    finally:
        for connection in held:
            connection.close()


@contextmanager
def _engines_kept(storage: SqliteEventLogStorage) -> Iterator[None]:
    """Dagster's ``SqliteEventLogStorage._connect`` with one engine per database, kept while this lasts.
    Dagster creates an engine for every connection, and SQLAlchemy caches compiled statements per
    engine: every stored event compiled its INSERT again (~0.65 s of a 1M-record run's 1.2 s of event
    storage, py-spy; BENCHMARKS.md). The connections are Dagster's as before: a new one per event (no
    pool), in a transaction, under the storage's lock; only the engine, and what it has compiled, is
    reused."""
    engines: dict[str, sqlalchemy.Engine] = {}

    @contextmanager
    def connect(shard: str) -> Iterator[sqlalchemy.Connection]:
        with storage._db_lock:
            engine = engines.get(shard)
            if engine is None:
                engine = sqlalchemy.create_engine(
                    storage.conn_string_for_shard(shard),
                    poolclass=NullPool,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                )
                if shard not in storage._initialized_dbs:
                    storage._initdb(engine)
                    storage._initialized_dbs.add(shard)
                engines[shard] = engine
            with engine.connect() as conn, conn.begin():
                yield conn

    storage._connect = connect
    try:
        yield
    finally:
        del storage._connect
        for engine in engines.values():
            engine.dispose()
