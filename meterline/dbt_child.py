"""``meterline-dbt``: dbt that dies with the process that started it, started warm when it can.

The Dagster run starts ``dbt build`` as a child process. When the run's process is killed (``kill
-9``, the OOM killer, a lost container), an orphaned dbt would go on writing the warehouse for a
while, and the next run, which takes the writer lock as soon as the killed run's process is gone,
would fail on DuckDB's own file lock midway. This entry point asks Linux to send the child SIGKILL
when its parent dies (``prctl(PR_SET_PDEATHSIG)``, which survives ``exec``), then becomes the dbt
installed beside it. DuckDB's write-ahead log makes a killed writer safe: its open transaction is
rolled back. Elsewhere than on Linux it is plain dbt.

**A warm dbt.** Importing dbt takes 3 to 5 s of CPU before dbt does anything, in every dbt process.
:func:`warm_dbt` starts, once per process that runs pipelines (the ``meterline`` command, a test
session), a server that imports dbt and its adapters once and waits on a UNIX socket in a private
folder (mode 0700), named by ``_METERLINE_WARM_DBT``. ``meterline-dbt`` then hands its arguments,
environment, working folder and stdout/stderr to that server, which forks a child that runs dbt
with them: the same dbt, started without importing it again, and while a run ingests the server
imports dbt in parallel. The dbt child dies with the server, the server with the process that
started it, and the child also when ``meterline-dbt`` goes away (killed or finished);
``meterline-dbt`` forwards SIGINT and SIGTERM to it and exits with its exit code. Without a server,
or when it does not answer, ``meterline-dbt`` starts dbt itself, as before, and says so on stderr
when a server was expected.

**A warmed-up dbt.** Importing is not all: the first dbt command in a process also builds the JSON
schemas that validate a project and a profile, and the code that reads and writes dbt's manifest
(mashumaro compiles it on first use): ~1 s of CPU that every forked child paid again. Before its
first fork the server therefore runs ``dbt parse`` and ``dbt ls`` once, in process, on a throwaway
project of one model and one test in its private folder (DuckDB in memory, no database opened,
nothing written elsewhere, usage statistics off, dbt's Rust parser off: its thread pool would not
survive a fork), so that each child inherits that work done. A warm-up that fails only costs the
children that time again.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# The socket of this process tree's warm dbt (:func:`warm_dbt`); not a setting (no METERLINE_
# prefix: meterline/settings.py reads those, and the dbt parse's digest hashes them).
WARM_ENV = "_METERLINE_WARM_DBT"
# dbt and the adapters it loads by the profile's type; imported by the server, not by the forks.
_PRELOADED = ("dbt.cli.main", "dbt.adapters.duckdb", "dbt.adapters.spark")
# The throwaway project of the server's warm-up (:func:`_warm_up`): file name -> text.
_WARM_UP_PROJECT = {
    "dbt_project.yml": "name: warm_up\nversion: '1.0.0'\nprofile: warm_up\nconfig-version: 2\n"
    "flags:\n  send_anonymous_usage_stats: false\n",
    "profiles.yml": "warm_up:\n  target: memory\n  outputs:\n    memory:\n      type: duckdb\n"
    "      path: ':memory:'\n      threads: 1\n",
    "models/warm_up.sql": "select 1 as one\n",
    "models/_models.yml": "version: 2\nmodels:\n  - name: warm_up\n    columns:\n      - name: one\n"
    "        data_tests: [not_null]\n",
}
_WARM_UP_FOLDER = "warm-up"  # beside the socket
_HEADER = 8  # bytes: the length of a request, sent with the caller's stdout and stderr
_running: tuple[subprocess.Popen, str] | None = None  # this process's server and its socket


def dbt_path() -> str:
    """The dbt of this environment (beside its Python), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """Ask Linux to send this process ``signum`` when its parent dies."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(128 + signum)


def main() -> None:
    die_with_parent()
    args = sys.argv[1:]
    path = os.environ.get(WARM_ENV)
    if path:
        code = _run_warm(path, args)
        if code is not None:
            sys.exit(code)
    dbt = dbt_path()
    os.execv(dbt, [dbt, *args])


# -- the caller's side ------------------------------------------------------------------------


def _run_warm(path: str, args: list[str]) -> int | None:
    """dbt ``args`` in a child of the warm server at ``path``: its exit code; None when the
    server does not answer before dbt started (start dbt here instead)."""
    request = json.dumps({"argv": args, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    child = None
    ended: list[bytes] = []
    try:
        with contextlib.closing(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)) as conn:
            conn.connect(path)
            socket.send_fds(conn, [len(request).to_bytes(_HEADER, "big")], [1, 2])
            conn.sendall(request)
            replies = conn.makefile("rb")
            started = replies.readline().split()  # b"pid N" once the child has its stdout
            if started[:1] != [b"pid"]:
                raise ConnectionError("no dbt child")
            child = int(started[1])
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda signum, _frame: _forward(child, signum))
            ended = replies.readline().split()  # b"exit N" when dbt is done
    except OSError as exc:
        if child is None:  # dbt has not started: start it here
            print(f"meterline-dbt: the warm dbt at {path} did not answer ({exc}); starting dbt", file=sys.stderr)
            return None
    if ended[:1] == [b"exit"]:
        return int(ended[1])
    print(f"meterline-dbt: dbt (process {child}) ended without an exit code: killed", file=sys.stderr)
    return 128 + signal.SIGKILL


def _forward(child: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signum)


# -- the server ------------------------------------------------------------------------------


def warm_dbt() -> None:
    """Start this process's warm dbt server, unless it runs (see the module's docstring), and
    point ``meterline-dbt`` at it through ``_METERLINE_WARM_DBT``. Only from the main thread:
    Linux kills the server when the thread that started it ends (it dies with its parent)."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return
    global _running
    if _running is None or _running[0].poll() is not None:
        path = os.path.join(tempfile.mkdtemp(prefix="meterline-dbt-"), "dbt.sock")  # 0700: this user only
        _running = (start_server(path), path)
        atexit.register(_stop, *_running)
    os.environ[WARM_ENV] = _running[1]


def start_server(path: str, wait: float = 5.0) -> subprocess.Popen:
    """A warm dbt server listening on ``path`` (a caller that connects now waits while it imports
    dbt); back once the socket exists, or after ``wait`` seconds (callers then start dbt themselves)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "meterline.dbt_child", path],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # a terminal's Ctrl-C reaches dbt once, through meterline-dbt
    )  # fmt: skip
    deadline = time.monotonic() + wait
    while not os.path.exists(path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return process


def _stop(process: subprocess.Popen, path: str) -> None:
    process.kill()
    process.wait()
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def serve(path: str) -> None:
    """Listen on ``path`` at once (a caller that connects meanwhile waits), import dbt, then fork
    a dbt child per request. When the process that started it dies, even by ``kill -9``, the
    server gets SIGTERM, removes its socket (and the folder, when empty) and exits; its dbt
    children, killed with it, leave nothing either."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: _remove_and_exit(path))
    die_with_parent(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    for module in _PRELOADED:
        with contextlib.suppress(ImportError):  # dbt-spark comes with the spark extra only
            __import__(module)
    with contextlib.suppress(Exception):  # a failed warm-up costs each child its time, no more
        _warm_up(os.path.join(os.path.dirname(path), _WARM_UP_FOLDER))
    # Reaped as they end, so that their CPU time counts in this server's, and the server's in
    # the run's (``time``, the benchmarks), as a dbt started by the run itself counts.
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            _child(conn)
        conn.close()


def _warm_up(folder: str) -> bool:
    """Run ``dbt parse`` and ``dbt ls`` on the throwaway project in ``folder`` (then removed), so
    that the children forked afterwards start with dbt's one-time work done (module docstring).
    Quiet: dbt's output and log stay in ``folder``. Whether both commands succeeded."""
    project = Path(folder)
    try:
        for name, text in _WARM_UP_PROJECT.items():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(text)
        # Every setting on the command line, where it beats the DBT_* variables a user may have set.
        common = ["--project-dir", folder, "--profiles-dir", folder, "--profile", "warm_up", "--target", "memory",
                  "--target-path", str(project / "target"), "--log-path", str(project / "logs"), "--quiet",
                  "--no-static-parser", "--no-send-anonymous-usage-stats"]  # fmt: skip
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            return all(_dbt([command, *common]) == 0 for command in ("parse", "ls"))
    finally:
        shutil.rmtree(project, ignore_errors=True)


def _remove_and_exit(path: str) -> None:
    shutil.rmtree(os.path.join(os.path.dirname(path), _WARM_UP_FOLDER), ignore_errors=True)  # killed warming up
    with contextlib.suppress(OSError):
        os.unlink(path)
        os.rmdir(os.path.dirname(path))
    os._exit(0)


def _reap(_signum: int, _frame: object) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _child(conn: socket.socket) -> None:
    """Become the caller's dbt: its stdout and stderr, folder, environment and arguments."""
    try:
        header, fds, _, _ = socket.recv_fds(conn, _HEADER, 2)
        request = _receive(conn, int.from_bytes(header, "big"))
        die_with_parent()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()  # dbt runs with TZ=UTC
        conn.sendall(f"pid {os.getpid()}\n".encode())
        threading.Thread(target=_die_with_caller, args=(conn,), daemon=True).start()
    except BaseException:
        os._exit(1)
    code = _dbt(request["argv"])
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
        conn.sendall(f"exit {code}\n".encode())
    os._exit(code)


def _receive(conn: socket.socket, length: int) -> dict:
    data = b""
    while len(data) < length:
        chunk = conn.recv(length - len(data))
        if not chunk:
            raise ConnectionError("the caller went away")
        data += chunk
    return json.loads(data)


def _die_with_caller(conn: socket.socket) -> None:
    """meterline-dbt never writes after its request: end of file means it is gone."""
    with contextlib.suppress(OSError):
        conn.recv(1)
    os.kill(os.getpid(), signal.SIGKILL)


def _dbt(argv: list[str]) -> int:
    """dbt's console script, in this process: its exit code."""
    from dbt.cli.main import cli

    sys.argv = ["dbt", *argv]
    try:
        cli()
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        return 130
    except Exception:  # what would have ended a dbt process with a traceback
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    serve(sys.argv[1])
