"""Operations (issue 5): the nightly schedule, the late-files sensor, backfills, the single-writer
lock, ``meterline status`` and the code location ``dagster dev`` loads. Real runs, real instance.

The pipeline tests share two installations holding the same two arrival days (module fixtures):
``turns``, where a ``meterline`` process and a call in this process materialize them one by one,
taking turns on the lock, while a third call gives up on it; ``backfill``, where one run
materializes both, and on which the late-files sensor then ticks."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml

from meterline.errors import UsageError
from meterline.locking import TIMEOUT_ENV, lock_path, warehouse_lock
from meterline.settings import INSTANCE_TEMPLATE, REPO_ROOT, Settings
from orchestration.automation.schedules import DELAY_ENV, SCHEDULE_NAME, TRIGGER_TAG, build_nightly_schedule
from orchestration.automation.sensors import SENSOR_NAME
from orchestration.cli import main
from orchestration.definitions import WAREHOUSE_TAG, defs, meterline_job
from orchestration.instance import prepare_instance
from orchestration.internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    event_log_held_open,
)
from orchestration.runs import PID_TAG
from orchestration.status import day_states, print_status
from tests.helpers import Installation, install, usage_record

CATALOG = (
    "openai,openai/gpt-test,LLM,2020-01-01,2,,,8,,,",
    "openai,openai/gpt-test,LLM,2026-11-02T00:00:00Z,3,,,9,,,",
)
D1, D2, D3 = "2026-11-01", "2026-11-02", "2026-11-03"
UTC = UTC


def _write_two_days(inst: Installation) -> None:
    """Two arrival days that depend on each other: an offset crossing midnight into the day of the
    price change, a record arriving a day late, a correction delivered the next day, a key renamed on
    the last day. The bad line is on the first day, so the second day's run is clean (no warning)."""
    inst.write_catalog(*CATALOG)
    inst.write_jsonl(D1, "a.jsonl", [
        usage_record("r1", "2026-11-01T10:00:00Z"),
        usage_record("r2", "2026-11-01T23:30:00-02:00"),
        "not json",
    ])  # fmt: skip
    inst.write_jsonl(D2, "a.jsonl", [
        usage_record("r3", "2026-11-02T05:00:00Z"),
        usage_record("r1", "2026-11-01T10:00:00Z", usage={"input_tokens": 2000, "output_tokens": 500}),
        usage_record("r4", "2026-11-02T06:00:00Z", billing_mode="subscription"),
        usage_record("r5", "2026-11-01T12:00:00Z"),
        usage_record("r6", "2026-11-02T07:00:00Z", api_key_name="Prod key v2"),
    ])  # fmt: skip


# What the two days cost: r1 as corrected at the old price, r2 r3 r4 r6 at the new one, r5 old.
EXPECTED_REQUESTS = 6
EXPECTED_TOTAL = Decimal("0.008") + 4 * Decimal("0.0075") + Decimal("0.006")


def _instance() -> dg.DagsterInstance:
    return prepare_instance(Settings.from_env())


def _cli(*args: str, env: dict[str, str] | None = None, stderr=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd=REPO_ROOT, env=env or dict(os.environ), stdout=subprocess.PIPE, stderr=stderr, text=True,
    )  # fmt: skip


def _call(*args: str) -> tuple[int, str, str]:
    """``meterline ARGS`` in this process: its exit code, what it printed on stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _settings_env() -> dict[str, str]:
    """The environment that points at the current installation (to re-enter it in a later test)."""
    return {k: v for k, v in os.environ.items() if k.startswith("METERLINE_") or k == "DAGSTER_HOME"}


def _enter(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


# --- the nightly schedule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tick", "day"),
    [
        (datetime(2026, 11, 3, 2, 0, tzinfo=UTC), "2026-11-02"),
        (datetime(2027, 1, 1, 2, 0, tzinfo=UTC), "2026-12-31"),
        (datetime(2028, 3, 1, 2, 0, tzinfo=UTC), "2028-02-29"),
    ],
)
def test_the_nightly_tick_requests_the_previous_arrival_day(tick: datetime, day: str) -> None:
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    [request] = schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def())
    ).run_requests
    assert (request.partition_key, request.run_key, request.tags[TRIGGER_TAG]) == (day, day, "nightly")


def test_the_schedule_delay_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DELAY_ENV, "5")
    assert build_nightly_schedule(meterline_job).cron_schedule == "0 5 * * *"
    for bad in ("24", "two", "-1"):
        monkeypatch.setenv(DELAY_ENV, bad)
        with pytest.raises(UsageError, match=DELAY_ENV):
            build_nightly_schedule(meterline_job)


# --- the late-files sensor and meterline status --------------------------------------------------


@pytest.mark.pipeline
def test_a_late_file_triggers_one_rerun_of_exactly_its_day(
    backfill: Backfill, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _enter(backfill.env, monkeypatch)  # D1 and D2 materialized (the backfill below), D3 never run
    inst = backfill.inst
    assert backfill.code == 0
    inst.write_jsonl(D3, "a.jsonl", [usage_record("r7", "2026-11-03T10:00:00Z")])
    instance = _instance()
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    states = lambda: {s.day.isoformat(): s.state for s in day_states(instance, inst.landing)}  # noqa: E731

    quiet = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert quiet.run_requests == []
    assert states() == {D1: "materialized", D2: "materialized", D3: "never run"}

    late = inst.write_jsonl(D1, "b.jsonl", [usage_record("r9", "2026-11-01T11:00:00Z")])
    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=quiet.cursor))
    [request] = first.run_requests
    assert (request.partition_key, request.tags[TRIGGER_TAG]) == (D1, "late-files")
    assert states() == {D1: "stale", D2: "materialized", D3: "never run"}

    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=first.cursor))
    assert again.run_requests == []

    # Another change to the same day is a new trigger, once.
    inst.write_jsonl(D1, "b.jsonl", [usage_record("r9", "2026-11-01T11:00:00Z", model="openai/other")])
    os.utime(late, (time.time() + 5, time.time() + 5))
    changed = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=again.cursor))
    [second] = changed.run_requests
    assert second.partition_key == D1 and second.run_key != request.run_key

    print_status(instance, inst.landing)
    out = capsys.readouterr().out
    assert f"{D1}   stale" in out and f"{D2}   materialized" in out and f"{D3}   never run" in out
    assert "last run:" in out and "SUCCESS" in out


@pytest.mark.pipeline
def test_a_missing_landing_folder_fails_naming_it_and_the_day_shows_failed(
    installation: Installation, capsys: pytest.CaptureFixture[str]
) -> None:
    installation.write_catalog(*CATALOG)
    installation.landing.rmdir()
    assert installation.run(D1) == 1
    err = capsys.readouterr().err
    assert f"the landing folder {installation.landing} does not exist" in err and "METERLINE_LANDING" in err
    assert [(s.day.isoformat(), s.state) for s in day_states(_instance(), installation.landing)] == [(D1, "failed")]


# --- two calls taking turns, and a backfill of the same days --------------------------------------


@dataclass(frozen=True)
class Turns:
    """Arrival days D1 then D2 materialized one by one by two calls taking turns on the lock: a
    ``meterline`` process (D1), then a call in this process (D2) that waited for it; meanwhile, a
    third call with a 1-second lock timeout was refused."""

    inst: Installation
    pid: int  # the process's
    process: tuple[int, str]  # its exit code and stderr
    refused: tuple[int, str, str]  # exit code, stdout and stderr of the call given up on the lock
    waited: tuple[int, str, str]  # the same of the call that waited, then ran D2
    runs: list  # the instance's run records, by start time
    published: dict[str, list[tuple]]


@dataclass(frozen=True)
class Backfill:
    inst: Installation
    env: dict[str, str]
    code: int
    published: dict[str, list[tuple]]
    run_tags: list[dict[str, str]]


def _holder_pid(inst: Installation) -> int | None:
    try:
        return json.loads(lock_path(inst.warehouse).read_text() or "{}").get("pid")
    except (OSError, ValueError):
        return None


def _wait_for(condition, proc: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        assert time.monotonic() < deadline, what
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)


@pytest.fixture(scope="module")
def turns(roots: Path) -> Iterator[Turns]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        inst = install(roots / "module", monkeypatch)
        _write_two_days(inst)
        log = inst.root / "process.err"
        # Hold the lock while the process starts, so that it must wait for it.
        with warehouse_lock(inst.warehouse, holder="the test"):
            proc = _cli("materialize", "--from", D1, "--to", D1, stderr=log.open("w"))
            _wait_for(lambda: "waiting up to" in log.read_text(), proc, log, "the process never waited for the lock")
        _wait_for(lambda: _holder_pid(inst) == proc.pid, proc, log, "the process never took the lock")
        with pytest.MonkeyPatch.context() as impatient:
            impatient.setenv(TIMEOUT_ENV, "1")
            refused = _call("materialize", "--from", D1, "--to", D2)
        waited = _call("materialize", "--from", D2, "--to", D2)
        proc.communicate(timeout=600)
        runs = sorted(_instance().get_run_records(), key=lambda r: r.start_time)
        yield Turns(inst, proc.pid, (proc.returncode, log.read_text()), refused, waited, runs, inst.published())


@pytest.fixture(scope="module")
def backfill(roots: Path) -> Iterator[Backfill]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        inst = install(roots / "backfill", monkeypatch)
        _write_two_days(inst)
        code = inst.run(D1, D2)
        tags = [dict(r.dagster_run.tags) for r in _instance().get_run_records()]
        yield Backfill(inst, _settings_env(), code, inst.published(), tags)


@pytest.mark.pipeline
@pytest.mark.subprocess
def test_a_backfill_of_several_days_equals_running_them_one_by_one(backfill: Backfill, turns: Turns) -> None:
    assert backfill.code == 0
    [tags] = backfill.run_tags  # the backfill is one run of the two days
    assert (tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]) == (D1, D2)
    day_by_day = turns.published  # D1, then D2, each in a run of its own
    assert "fct_cost" in backfill.published and "cost_overview_daily" in backfill.published
    assert backfill.published == day_by_day
    assert len(backfill.published["fct_cost"]) == EXPECTED_REQUESTS


@pytest.mark.pipeline
@pytest.mark.subprocess
def test_two_concurrent_materialize_calls_take_turns(turns: Turns) -> None:
    code, err = turns.process
    assert code == 0, err[-3000:]
    assert f"held by pid {os.getpid()}" in err and "(the test," in err  # the process waited for the test
    code, _, err = turns.waited
    assert code == 0, err[-3000:]
    assert "waiting up to" in err and f"held by pid {turns.pid}" in err  # this call waited for the process

    runs = turns.runs
    assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
    assert [r.dagster_run.tags[PID_TAG] for r in runs] == [str(turns.pid), str(os.getpid())]
    assert runs[0].end_time <= runs[1].start_time  # one after the other, never at once
    inst = turns.inst
    assert inst.warehouse_rows("select count(*), sum(total_cost) from marts.fct_cost") == [
        (EXPECTED_REQUESTS, EXPECTED_TOTAL)
    ]
    assert inst.warehouse_rows(
        "select arrival_date::varchar, count(*) from raw.usage_records group by 1 order by 1"
    ) == [(D1, 2), (D2, 5)]
    assert inst.serving_rows("select count(*), sum(total_cost) from marts.fct_cost") == [
        (EXPECTED_REQUESTS, EXPECTED_TOTAL)
    ]


@pytest.mark.pipeline
@pytest.mark.subprocess
def test_a_locked_warehouse_fails_in_one_line_naming_the_lock_and_its_holder(turns: Turns) -> None:
    code, _, err = turns.refused
    assert code == 1
    [line] = [line for line in err.splitlines() if line.startswith("meterline: error:")]
    assert str(lock_path(turns.inst.warehouse)) in line and str(turns.inst.warehouse) in line
    assert f"pid {turns.pid}" in line and f"materialize --from {D1} --to {D1}" in line and TIMEOUT_ENV in line
    # Refused before any run started: the instance holds the two other calls' runs only.
    # A one-day run is that day's partition, as the schedule launches it.
    assert [r.dagster_run.tags.get(PARTITION_NAME_TAG) for r in turns.runs] == [D1, D2]


@pytest.mark.pipeline
@pytest.mark.subprocess
def test_a_run_shows_a_line_per_step_and_keeps_the_whole_log_in_a_file(turns: Turns) -> None:
    code, out, err = turns.waited  # `meterline materialize` of D2, on this process's terminal
    assert code == 0, err[-3000:]
    assert len(out.splitlines()) <= 15, out
    assert f"arrival day {D2}: 1 files" in out and "models and tests done" in out
    assert re.search(r"checks: [1-9]\d* passed, 0 failed, 0 warnings", out), out
    # This run's log, in its report folder (the process's run left its own beside it).
    [log] = [path for path in turns.inst.reports.glob("*/run.log") if str(path) in out]
    text = log.read_text(encoding="utf-8")
    assert re.search(r"OK created sql \w+ model marts\.fct_cost", text)  # dbt's own log: in the file only
    assert "OK created" not in out


# --- the Dagster instance and code location ------------------------------------------------------


def test_the_instance_queues_runs_with_one_warehouse_writer(installation: Installation) -> None:
    instance = _instance()
    assert Path(instance.root_directory) == installation.dagster_home  # $DAGSTER_HOME is honoured
    assert (installation.dagster_home / "dagster.yaml").read_text() == INSTANCE_TEMPLATE.read_text()
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": WAREHOUSE_TAG, "limit": 1} in limits
    assert meterline_job.tags[WAREHOUSE_TAG] and meterline_job.executor_def is dg.in_process_executor
    # The repo root's dagster.yaml (dagster dev without $DAGSTER_HOME) = the template + storage in data/.
    root = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    storage = {key: root.pop(key) for key in ("storage", "local_artifact_storage", "compute_logs")}
    assert root == yaml.safe_load(INSTANCE_TEMPLATE.read_text())
    assert storage["storage"] == {"sqlite": {"base_dir": "data/dagster_home"}}


def test_a_run_stores_its_events_in_the_wal_and_checkpoints_once_at_its_end(tmp_path: Path) -> None:
    """Dagster's SQLite event log opens a connection per event; a run's ``paths`` resource holds one open,
    so an event appends to the WAL instead of checkpointing and deleting it (BENCHMARKS.md: ~0.75 s
    of a 1M-record night's thread). Every event is still stored, and nothing is left in a WAL after the run."""
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        run_id = str(uuid.uuid4())
        shard = Path(instance.event_log_storage.path_for_shard(run_id))
        wal = shard.with_name(shard.name + "-wal")
        with event_log_held_open(instance, run_id):
            for number in range(3):
                instance.report_engine_event(f"event {number}", job_name="job", run_id=run_id)
                assert wal.is_file() and wal.stat().st_size > 0  # appended, not checkpointed away
        assert not wal.exists()  # checkpointed into the shard when the run let go
        assert [entry.message for entry in instance.all_logs(run_id)] == [f"event {n}" for n in range(3)]
        # After the run, Dagster's own per-event connection checkpoints as it did before.
        instance.report_engine_event("after the run", job_name="job", run_id=run_id)
        assert not wal.exists() and len(instance.all_logs(run_id)) == 4


def test_a_held_event_log_compiles_its_statements_once_per_database(tmp_path: Path) -> None:
    """Dagster's SQLite event log makes an engine (and so compiles its INSERT again) per stored event;
    while held, the storage keeps one engine per database, a hold within a hold (the CLI's around the
    run's) the outer one's, and the storage is Dagster's own again afterwards."""
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        run_id = str(uuid.uuid4())

        def engines() -> list[object]:
            found = []
            for _ in range(2):
                with storage.run_connection(run_id) as conn:
                    found.append(conn.engine)
            return found

        assert len(set(map(id, engines()))) == 2  # Dagster's own: an engine per connection
        with event_log_held_open(instance, run_id):
            first, second = engines()
            assert first is second
            with event_log_held_open(instance, run_id):
                assert engines() == [first, first]
                instance.report_engine_event("inner", job_name="job", run_id=run_id)
            assert engines() == [first, first]  # the inner hold left the outer one's engines
            instance.report_engine_event("outer", job_name="job", run_id=run_id)
        assert "_connect" not in vars(storage)
        assert len(set(map(id, engines()))) == 2
        assert [entry.message for entry in instance.all_logs(run_id)] == ["inner", "outer"]


@pytest.mark.subprocess
def test_dagster_dev_loads_the_code_location_on_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(REPO_ROOT, clone, ignore=shutil.ignore_patterns(
        ".git", ".venv", "data", "target", "logs", "__pycache__", ".pytest_cache", "*.egg-info", ".tmp_dagster_home_*"
    ))  # fmt: skip
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DAGSTER_HOME", "DBT_TARGET_PATH") and not k.startswith("METERLINE_")
    }
    env["DAGSTER_IS_DEV_CLI"] = "1"  # what `dagster dev` sets for its code server
    dagster = str(Path(sys.executable).with_name("dagster"))
    proc = subprocess.run(
        [dagster, "definitions", "validate"], cwd=clone, env=env, capture_output=True, text=True, timeout=300
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Validation successful for code location meterline" in output
    assert (clone / "dbt_project" / "target" / "manifest.json").is_file()  # the clone's own project, parsed


@pytest.mark.subprocess
def test_the_dbt_step_imports_great_expectations_beside_dbt_and_an_empty_night_never_does(
    installation: Installation,
) -> None:
    """fct_cost's GX suite follows dbt; GX's import (~2.4 s) runs in a thread while dbt builds, and only
    when dbt rebuilds rows: an empty night never validates a row (issue 18). Ingestion imports no GX."""
    installation.write_catalog()
    installation.write_jsonl("2026-11-05", "a.jsonl", [usage_record("r1", "2026-11-05T10:00:00Z")])
    script = """
import sys, threading
import dagster as dg
from orchestration.definitions import defs, meterline_dbt_models, price_catalog, raw_usage

def run(day, assets):
    assert dg.materialize(assets, partition_key=day, resources=defs.resources).success
    importing = any(thread.name == "meterline-import-gx" for thread in threading.enumerate())
    return importing, "great_expectations" in sys.modules

empty = run("2026-11-04", [price_catalog, raw_usage, meterline_dbt_models])
print(*empty, *run("2026-11-05", [price_catalog, raw_usage]), *run("2026-11-05", [meterline_dbt_models]))
"""
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert found.returncode == 0, found.stderr[-3000:]
    # The dbt step ends with the import ended: nothing after it imports beside GX's thread (two threads
    # importing sqlalchemy.orm's modules at once failed a step with a half-initialized module).
    assert found.stdout.splitlines()[-1].split() == ["False", "False", "False", "False", "False", "True"]
