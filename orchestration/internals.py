"""Every use of a Dagster or dagster-dbt API that is not public, in one place: each may change in a
patch release, and pyproject.toml pins dagster 1.13.27 and dagster-dbt 0.29.27 for them. When
upgrading, check these first (tests/test_dbt_args.py, tests/test_operations.py and the pipeline tests
exercise each)."""

import sqlite3
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
from dagster_dbt.compat import DBT_PYTHON_VERSION
from dagster_dbt.dbt_project import using_dagster_dev
from sqlalchemy.pool import NullPool

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "CODE_VERSION_TAG",
    "DATA_VERSION_TAG",
    "AssetCheckExecutionRecordStatus",
    "DBT_PYTHON_VERSION",
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
