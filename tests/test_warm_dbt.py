"""The warm dbt (meterline/dbt_child.py): ``meterline-dbt`` hands its command to a server that
imported dbt once, and behaves as the dbt it replaces: the same output and exit code, dbt started
itself when the server does not answer, and no dbt left behind when ``meterline-dbt`` is killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meterline.dbt_child import WARM_ENV, dbt_path, start_server
from orchestration.dbt.resource import DBT_EXECUTABLE

pytestmark = pytest.mark.subprocess

NO_ANSWER = "did not answer"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen, str]]:
    path = str(tmp_path_factory.mktemp("warm") / "dbt.sock")
    process = start_server(path)
    try:
        yield process, path
    finally:
        process.kill()
        process.wait()


def _run(args: list[str], socket_path: str | None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != WARM_ENV}
    if socket_path is not None:
        env[WARM_ENV] = socket_path
    return subprocess.run([DBT_EXECUTABLE, *args], env=env, capture_output=True, text=True, check=False, timeout=120)


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` but Python's multiprocessing resource tracker, which the
    server's warm-up starts (dbt makes a lock) and its dbt children share: not a dbt, and it ends
    when the server and its children have."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            tracker = b"multiprocessing.resource_tracker" in (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and not tracker:
            found.append(int(stat.parent.name))
    return found


def test_a_command_through_the_warm_dbt_prints_and_exits_as_dbt_does(server) -> None:
    _, path = server
    warm = _run(["--version"], path)
    assert warm.returncode == 0, warm.stderr
    assert "Core:" in warm.stdout and "duckdb" in warm.stdout
    assert NO_ANSWER not in warm.stderr
    cold = subprocess.run([dbt_path(), "no-such-command"], capture_output=True, text=True, check=False)
    wrong = _run(["no-such-command"], path)
    assert wrong.returncode == cold.returncode == 2
    assert NO_ANSWER not in wrong.stderr and "No such command" in wrong.stderr


def test_the_server_warms_dbt_up_once_and_forks_from_one_thread(server, tmp_path: Path) -> None:
    """Before its first fork the server runs dbt once on a throwaway project: the work is done (the
    JSON schemas built), nothing of it is left on disk, and no thread is left running (a fork copies
    only the thread that forks: a pool's threads would be missing in every child)."""
    process, path = server
    assert _run(["--version"], path).returncode == 0  # answered: the warm-up is over
    assert len(os.listdir(f"/proc/{process.pid}/task")) == 1
    assert os.listdir(os.path.dirname(path)) == ["dbt.sock"]
    probe = (
        "import json, os\n"
        "from dbt.contracts.project import Project\n"
        "from meterline.dbt_child import _warm_up\n"
        f"done = _warm_up({str(tmp_path / 'warm-up')!r})\n"
        "print(json.dumps([done, len(os.listdir('/proc/self/task')), Project.json_schema.__func__.cache_info().currsize]))"
    )
    # dbt settings a user may have in the environment do not reach the throwaway project.
    env = {**os.environ, "DBT_TARGET": "duckdb", "DBT_PROFILE": "meterline", "DBT_STATIC_PARSER": "true"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    done, threads, schemas = json.loads(out.stdout.strip().splitlines()[-1])
    assert done and threads == 1 and schemas > 0, out.stderr
    assert not (tmp_path / "warm-up").exists()


def test_without_an_answer_meterline_dbt_starts_dbt_itself(tmp_path: Path) -> None:
    done = _run(["--version"], str(tmp_path / "nobody.sock"))
    assert done.returncode == 0
    assert "Core:" in done.stdout
    assert NO_ANSWER in done.stderr and "starting dbt" in done.stderr


def _spinning_project(folder: Path) -> Path:
    """A dbt project whose one operation keeps DuckDB busy until it is killed."""
    (folder / "macros").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text("name: spin\nversion: '1.0'\nprofile: spin\n")
    (folder / "profiles.yml").write_text(
        "spin:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: ':memory:'\n"
    )
    (folder / "macros" / "spin.sql").write_text(
        "{% macro spin() %}{% do run_query('select count(*) from range(1000000000000)') %}{% endmacro %}\n"
    )
    return folder


@contextlib.contextmanager
def _spinning(server, folder: Path, stderr: int) -> Iterator[tuple[subprocess.Popen, int]]:
    """``meterline-dbt run-operation spin`` through the server, once its dbt child has run for 2 s:
    (meterline-dbt, the dbt child's pid). Nothing is left running afterwards."""
    process, path = server
    project = _spinning_project(folder)
    spin = subprocess.Popen(
        [DBT_EXECUTABLE, "run-operation", "spin", "--project-dir", str(project), "--profiles-dir", str(project)],
        env={**os.environ, WARM_ENV: path}, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (children := _children(process.pid)) and spin.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert children, "the server never forked a dbt child"
        time.sleep(2)  # dbt is running the operation
        yield spin, children[0]
    finally:
        spin.kill()
        for child in _children(process.pid):
            os.kill(child, signal.SIGKILL)


def _gone(pid: int, seconds: float = 10) -> bool:
    """Whether ``pid``'s children are all gone within ``seconds``."""
    deadline = time.monotonic() + seconds
    while _children(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _children(pid) == []


def test_a_killed_meterline_dbt_takes_its_dbt_with_it(server, tmp_path: Path) -> None:
    with _spinning(server, tmp_path / "spin", subprocess.DEVNULL) as (spin, _):
        assert spin.poll() is None
        spin.send_signal(signal.SIGKILL)
        spin.wait()
        assert _gone(server[0].pid), "the dbt child outlived meterline-dbt"
        assert server[0].poll() is None, "the server serves the next command"


def test_a_killed_dbt_child_fails_the_command_without_running_dbt_again(server, tmp_path: Path) -> None:
    with _spinning(server, tmp_path / "spin", subprocess.PIPE) as (spin, child):
        os.kill(child, signal.SIGKILL)
        _, stderr = spin.communicate(timeout=30)
        assert spin.returncode == 128 + signal.SIGKILL
        assert "ended without an exit code" in stderr and NO_ANSWER not in stderr
        assert _children(server[0].pid) == [], "no second dbt was started"


def test_a_server_whose_command_is_killed_exits_and_leaves_no_socket() -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", "import os, time\nfrom meterline.dbt_child import WARM_ENV, warm_dbt\n"
         "warm_dbt()\nprint(os.environ[WARM_ENV], flush=True)\ntime.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        path = Path(starter.stdout.readline().strip())
        assert path.exists()
        server = _children(starter.pid)
        assert len(server) == 1
    finally:
        starter.kill()  # kill -9: no atexit, no cleanup of its own
        starter.wait()
    deadline = time.monotonic() + 10
    while (path.parent.exists() or Path(f"/proc/{server[0]}").exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not path.parent.exists(), "the socket's folder was left behind"
    assert not Path(f"/proc/{server[0]}").exists(), "the server outlived the command that started it"
