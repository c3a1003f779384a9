"""Opening the DuckDB warehouse, with errors that name the file and the fix."""

from __future__ import annotations

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
