"""Operations (issue 5): the nightly schedule, the late-files sensor, backfills, the single-writer
lock, ``meterline status`` and the code location ``dagster dev`` loads. Real runs, real instance."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml

from meterline.errors import UsageError
from meterline.locking import lock_path, warehouse_lock
from meterline.settings import INSTANCE_TEMPLATE, REPO_ROOT, Settings
from orchestration.automation.schedules import DELAY_ENV, SCHEDULE_NAME, TRIGGER_TAG, build_nightly_schedule
from orchestration.automation.sensors import SENSOR_NAME
from orchestration.definitions import WAREHOUSE_TAG, defs, meterline_job
from orchestration.instance import prepare_instance
from orchestration.status import day_states, print_status
from tests.helpers import Installation, install, usage_record

CATALOG = (
    "openai,openai/gpt-test,LLM,2020-01-01,2,,,8,,,",
    "openai,openai/gpt-test,LLM,2026-11-02T00:00:00Z,3,,,9,,,",
)
D1, D2, D3 = "2026-11-01", "2026-11-02", "2026-11-03"
UTC = UTC


def _write_three_days(inst: Installation) -> None:
    """Three arrival days that depend on each other: a record arriving a day late, a correction
    delivered the next day, an offset crossing midnight, a key renamed on the last day."""
    inst.write_catalog(*CATALOG)
    inst.write_jsonl(D1, "a.jsonl", [
        usage_record("r1", "2026-11-01T10:00:00Z"),
        usage_record("r2", "2026-11-01T23:30:00-02:00"),
    ])  # fmt: skip
    inst.write_jsonl(D2, "a.jsonl", [
        usage_record("r3", "2026-11-02T05:00:00Z"),
        usage_record("r1", "2026-11-01T10:00:00Z", usage={"input_tokens": 2000, "output_tokens": 500}),
        usage_record("r4", "2026-11-02T06:00:00Z", billing_mode="subscription"),
        "not json",
    ])  # fmt: skip
    inst.write_jsonl(D3, "a.jsonl", [
        usage_record("r5", "2026-11-01T12:00:00Z"),
        usage_record("r6", "2026-11-03T01:00:00Z", api_key_name="Prod key v2"),
    ])  # fmt: skip


# What the three days cost: r1 as corrected at the old price, r2 r3 r4 r6 at the new one, r5 old.
EXPECTED_REQUESTS = 6
EXPECTED_TOTAL = Decimal("0.008") + 4 * Decimal("0.0075") + Decimal("0.006")


def _instance() -> dg.DagsterInstance:
    return prepare_instance(Settings.from_env())


def _cli(*args: str, env: dict[str, str] | None = None, stderr=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd=REPO_ROOT, env=env or dict(os.environ), stdout=subprocess.PIPE, stderr=stderr, text=True,
    )  # fmt: skip


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
    installation: Installation, capsys: pytest.CaptureFixture[str]
) -> None:
    installation.write_catalog(*CATALOG)
    installation.write_jsonl(D1, "a.jsonl", [usage_record("r1", "2026-11-01T10:00:00Z")])
    installation.write_jsonl(D2, "a.jsonl", [usage_record("r2", "2026-11-02T10:00:00Z")])
    assert installation.run(D1) == 0
    instance = _instance()
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    states = lambda: {s.day.isoformat(): s.state for s in day_states(instance, installation.landing)}  # noqa: E731

    quiet = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert quiet.run_requests == []
    assert states() == {D1: "materialized", D2: "never run"}

    late = installation.write_jsonl(D1, "b.jsonl", [usage_record("r9", "2026-11-01T11:00:00Z")])
    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=quiet.cursor))
    [request] = first.run_requests
    assert (request.partition_key, request.tags[TRIGGER_TAG]) == (D1, "late-files")
    assert states() == {D1: "stale", D2: "never run"}

    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=first.cursor))
    assert again.run_requests == []

    # Another change to the same day is a new trigger, once.
    installation.write_jsonl(D1, "b.jsonl", [usage_record("r9", "2026-11-01T11:00:00Z", model="openai/other")])
    os.utime(late, (time.time() + 5, time.time() + 5))
    changed = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=again.cursor))
    [second] = changed.run_requests
    assert second.partition_key == D1 and second.run_key != request.run_key

    print_status(instance, installation.landing)
    out = capsys.readouterr().out
    assert f"{D1}   stale" in out and f"{D2}   never run" in out
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


# --- backfills and concurrent runs -----------------------------------------------------------------


@pytest.mark.pipeline
def test_a_backfill_of_several_days_equals_running_them_one_by_one(
    roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backfill = install(roots / "backfill", monkeypatch)
    _write_three_days(backfill)
    assert backfill.run(D1, D3) == 0
    in_one_run = backfill.published()

    one_by_one = install(roots / "function", monkeypatch)
    _write_three_days(one_by_one)
    for day in (D1, D2, D3):
        assert one_by_one.run(day) == 0
    day_by_day = one_by_one.published()

    assert "fct_cost" in in_one_run and "cost_overview_daily" in in_one_run
    assert in_one_run == day_by_day
    assert len(in_one_run["fct_cost"]) == EXPECTED_REQUESTS


@pytest.mark.pipeline
@pytest.mark.subprocess
def test_two_concurrent_materialize_calls_take_turns(installation: Installation) -> None:
    _write_three_days(installation)
    logs = [installation.root / f"run{i}.err" for i in (1, 2)]
    # Hold the lock while both start, so both must wait for it, then for each other.
    with warehouse_lock(installation.warehouse, holder="the test"):
        procs = [_cli("materialize", "--from", D1, "--to", D3, stderr=log.open("w")) for log in logs]
        deadline = time.monotonic() + 300
        while not all("waiting up to" in log.read_text() for log in logs):
            assert time.monotonic() < deadline, "the two calls never waited for the lock"
            assert all(p.poll() is None for p in procs), [log.read_text()[-2000:] for log in logs]
            time.sleep(0.5)
    for proc, log in zip(procs, logs, strict=True):
        proc.communicate(timeout=600)
        assert proc.returncode == 0, log.read_text()[-3000:]
        assert "held by pid" in log.read_text()

    runs = sorted(_instance().get_run_records(), key=lambda r: r.start_time)
    assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
    assert runs[0].end_time <= runs[1].start_time  # one after the other, never at once
    assert installation.warehouse_rows("select count(*), sum(total_cost) from marts.fct_cost") == [
        (EXPECTED_REQUESTS, EXPECTED_TOTAL)
    ]
    assert installation.warehouse_rows(
        "select arrival_date::varchar, count(*) from raw.usage_records group by 1 order by 1"
    ) == [(D1, 2), (D2, 3), (D3, 2)]
    assert installation.serving_rows("select count(*), sum(total_cost) from marts.fct_cost") == [
        (EXPECTED_REQUESTS, EXPECTED_TOTAL)
    ]


@pytest.mark.subprocess
def test_a_locked_warehouse_fails_in_one_line_naming_the_lock_and_its_holder(installation: Installation) -> None:
    installation.write_catalog(*CATALOG)
    with warehouse_lock(installation.warehouse, holder="meterline reprice (test)"):
        proc = _cli("materialize", "--from", D1, "--to", D1, env={**os.environ, "METERLINE_LOCK_TIMEOUT": "1"})
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1
    [line] = [line for line in err.splitlines() if line.startswith("meterline: error:")]
    assert str(lock_path(installation.warehouse)) in line and str(installation.warehouse) in line
    assert f"pid {os.getpid()}" in line and "meterline reprice (test)" in line and "METERLINE_LOCK_TIMEOUT" in line
    assert _instance().get_run_records() == []  # refused before any run started


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
