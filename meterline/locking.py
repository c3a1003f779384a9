"""One writer at a time: the cross-process lock around everything that writes the warehouse.

DuckDB lets one process write a database file; a second writer fails midway,
and two runs interleaving their steps would publish each other's half-built
marts. So every run holds an exclusive lock on ``<warehouse>.lock`` (next to
the warehouse file) from its start to its end:

- ``meterline materialize`` / ``reprice`` take it before the run starts;
- runs launched by Dagster (UI, schedule, sensor, backfills) take it when their
  ``paths`` resource (orchestration/resources.py) is set up, which the job's
  in-process executor does once per run.

The lock is a ``flock`` on the file, released by the kernel when its process
dies, so a crashed run never leaves it stuck. The holder writes its pid and
command into the file; a caller that cannot get the lock within
``$METERLINE_LOCK_TIMEOUT`` seconds (default 900) fails with one line naming
both. The lock is re-entrant within a process (the CLI holds it, then the run
it starts in-process takes it again).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from meterline.settings import Settings
from meterline.warehouse import WarehouseLockedError

TIMEOUT_ENV = "METERLINE_LOCK_TIMEOUT"
_POLL_SECONDS = 0.5

# Locks this process holds: lock file -> (file descriptor, re-entry depth).
_held: dict[Path, tuple[int, int]] = {}
_held_guard = threading.Lock()


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


def describe_holder(path: Path) -> str:
    """Who holds the lock at ``path``, as its holder wrote it (best effort)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "an unknown process"
    return f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('command')}, since {holder.get('since')})"


@contextmanager
def warehouse_lock(
    warehouse: Path,
    *,
    holder: str | None = None,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold the single-writer lock of ``warehouse`` for the block; yields the lock file's path.

    Waits up to ``timeout`` seconds (default ``$METERLINE_LOCK_TIMEOUT``, 900) for another holder,
    calling ``on_wait`` once with a line saying whom it waits for, then raises WarehouseLockedError."""
    path = lock_path(warehouse)
    with _held_guard:
        if path in _held:
            fd, depth = _held[path]
            _held[path] = (fd, depth + 1)
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield path
        finally:
            _release(path)
        return

    wait = Settings.from_env().lock_timeout if timeout is None else timeout
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        _acquire(fd, path, warehouse, wait, on_wait)
        _wait_for_file(warehouse, deadline, wait, on_wait)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_holder_record(holder)).encode())
    except BaseException:
        os.close(fd)
        raise
    with _held_guard:
        _held[path] = (fd, 1)
    try:
        yield path
    finally:
        _release(path)


def _acquire(fd: int, path: Path, warehouse: Path, wait: float, on_wait: Callable[[str], None] | None) -> None:
    deadline = time.monotonic() + wait
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            raise WarehouseLockedError(
                f"the warehouse {warehouse} is being written by {describe_holder(path)}, which holds the lock "
                f"{path}; gave up after {wait:g} s. Wait for that run to finish (or stop it) and retry, "
                f"or set {TIMEOUT_ENV} to wait longer."
            )
        if not announced and on_wait is not None:
            on_wait(f"waiting up to {wait:g} s for the warehouse lock {path}, held by {describe_holder(path)}")
            announced = True
        time.sleep(_POLL_SECONDS)


def _wait_for_file(warehouse: Path, deadline: float, wait: float, on_wait: Callable[[str], None] | None) -> None:
    """Wait until no process holds DuckDB's own lock on the warehouse file. The flock is free as soon
    as a run's process dies; the dbt it started dies with it (meterline-dbt, meterline/dbt_child.py)
    a moment later, and a plain dbt (an installation without that entry point) only once it notices."""
    announced = False
    while warehouse.exists():
        try:
            duckdb.connect(str(warehouse), read_only=True).close()
            return
        except duckdb.Error as exc:
            if not isinstance(exc, duckdb.IOException) or "lock" not in str(exc).lower():
                return  # not another process's lock: the run's own connection reports it in context
            holder = str(exc).splitlines()[0]
        if time.monotonic() >= deadline:
            raise WarehouseLockedError(
                f"the warehouse {warehouse} is still open in another process ({holder}); gave up after "
                f"{wait:g} s. Stop that process (a dbt left by a killed run ends by itself) and retry, "
                f"or set {TIMEOUT_ENV} to wait longer."
            )
        if not announced and on_wait is not None:
            on_wait(f"waiting up to {wait:g} s for a process still holding the warehouse file: {holder}")
            announced = True
        time.sleep(_POLL_SECONDS)


def _release(path: Path) -> None:
    with _held_guard:
        fd, depth = _held[path]
        if depth > 1:
            _held[path] = (fd, depth - 1)
            return
        del _held[path]
    os.ftruncate(fd, 0)
    os.close(fd)  # closing the only descriptor releases the flock


def _holder_record(holder: str | None) -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": holder or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
