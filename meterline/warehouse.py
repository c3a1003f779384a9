"""Opening the DuckDB warehouse, with errors that name the file and the fix."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb


class WarehouseLockedError(RuntimeError):
    """Another process holds the warehouse's write lock."""


def sql_string(value: object) -> str:
    """``value`` as a SQL string literal (quotes doubled): for paths where DuckDB takes no parameter
    (COPY ... TO, a view's definition)."""
    return "'" + str(value).replace("'", "''") + "'"


def connect(path: Path, memory_limit: str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse DuckDB file (created with its folder when missing), DuckDB's memory
    capped at ``memory_limit`` (it spills to disk beyond)."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseLockedError(
                f"the warehouse {path} is locked by another process ({exc}). "
                "Wait for the running meterline/Dagster run to finish, or stop it, then retry."
            ) from exc
        raise
    con.execute(f"set memory_limit = '{memory_limit}'")
    return con


@contextlib.contextmanager
def unordered_writes(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Inside: DuckDB's ``preserve_insertion_order`` off, so that a COPY encodes its file's row groups
    on every core. For writes whose rows carry what orders them (line numbers, periods): a reader
    gets no order without ORDER BY. Never around a query whose result depends on its input's order
    (``row_number() over ()`` numbering a file's lines)."""
    con.execute("set preserve_insertion_order = false")
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):  # a failed connection: the write's own error counts
            con.execute("reset preserve_insertion_order")
