"""Reliability (issue 21): one bad record, file or catalog never poisons a day; a killed run never
leaves anything stuck; a failure's last line names the bad input and the fix.

Fast tests ingest real files into a real DuckDB file. The pipeline tests share one installation
(whose serving path holds a quote) through five real runs and a killed one, in order:

1. ``D1``: good records beside every kind of bad input at once (a created_at past year 9999 in
   UTC, counters of 2^63 - 1, a line that is not UTF-8, a 3 MB line, a NaN counter, 0-byte files,
   links leaving the landing folder, a folder that is not a day): it publishes;
   then ``D1`` again in a real ``meterline materialize`` process, killed with SIGKILL while its dbt
   runs, and ``meterline status``, which marks its run failed;
2. ``D1`` again, the next run after the kill, after an older ingestion left the event day
   10000-01-01 remembered: it publishes what run 1 published;
3. a catalog of a header alone: blocked, the serving file unchanged;
4. a catalog without the traffic's model (most requests unpriced): blocked, unchanged;
5. ``D2`` holding a truncated .jsonl.gz and a .parquet of random bytes: fails, naming both.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster._core.utils import make_new_run_id

from meterline.errors import UsageError
from meterline.ingest import MAX_LINE_BYTES, ingest_day, unreadable_folders
from meterline.publish import parts_dir, publish
from meterline.settings import REPO_ROOT, Settings
from orchestration.definitions import defs
from orchestration.instance import prepare_instance
from orchestration.runs import (
    HOST_TAG,
    PID_TAG,
    STARTED_TAG,
    fail_dead_runs,
    process_start,
)
from orchestration.status import day_states, status
from tests.helpers import Installation, install, usage_record

INT64_MAX = 2**63 - 1
CATALOG = "openai,openai/gpt-test,LLM,2020-01-01,2,,,8,,,"
OTHER_MODEL_ONLY = "openai,openai/other,LLM,2020-01-01,2,,,8,,,"
D1, D2 = "2026-11-05", "2026-11-06"


def _ingest(inst: Installation, day: str = D1):
    with duckdb.connect(str(inst.warehouse)) as con:
        return ingest_day(con, inst.landing, inst.root / "raw", date.fromisoformat(day))


def _bad_lines(inst: Installation, day: str) -> None:
    """One file holding every kind of bad line between good ones, and 0-byte files."""
    good = json.dumps(usage_record("good-1", f"{day}T10:00:00Z")).encode()
    lines = [
        good,                                                                            # 1
        json.dumps(usage_record("y10k", "9999-12-31T23:00:00-05:00")).encode(),          # 2
        json.dumps(usage_record("max-1", f"{day}T11:00:00Z",
                                usage={"input_tokens": INT64_MAX, "output_tokens": 1})).encode(),  # 3
        json.dumps(usage_record("max-2", f"{day}T11:30:00Z",
                                usage={"input_tokens": INT64_MAX, "output_tokens": 1})).encode(),  # 4
        json.dumps(usage_record("cache-overflow", f"{day}T11:00:00Z",
                                usage={"input_tokens": INT64_MAX, "cached_input_tokens": INT64_MAX,
                                       "cache_write_tokens": 1})).encode(),                # 5
        b'{"request_id": "latin-1", "api_key_name": "caf\xe9"}',                          # 6
        json.dumps(usage_record("long", f"{day}T10:00:00Z", api_key_name="x" * (3 * 1024 * 1024))).encode(),  # 7
        b"",                                                                             # 8 (blank)
        json.dumps(usage_record("nan", f"{day}T10:00:00Z")).encode().replace(b'"input_tokens": 1000', b'"input_tokens": NaN'),  # 9
        json.dumps(usage_record("good-2", f"{day}T12:00:00Z")).encode(),                 # 10
    ]  # fmt: skip
    folder = inst.day_folder(day)
    (folder / "bad-lines.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (folder / "empty.jsonl.gz").write_bytes(b"")
    (folder / "empty.parquet").write_bytes(b"")
    (folder / "empty.jsonl").write_bytes(b"")
    nan = usage_record("nan-parquet", f"{day}T10:00:00Z", usage={"input_tokens": float("nan"), "output_tokens": 1.0})
    pq.write_table(pa.Table.from_pylist([nan]), folder / "nan.parquet")


EXPECTED_REJECTS = {
    ("bad-lines.jsonl", 2): ("bad_timestamp", "outside the years 0001 to 9999"),
    ("bad-lines.jsonl", 5): ("inconsistent_usage", f"({INT64_MAX + 1}) > input_tokens ({INT64_MAX})"),
    ("bad-lines.jsonl", 6): ("malformed_record", "not valid UTF-8"),
    ("bad-lines.jsonl", 7): ("malformed_record", f"longer than {MAX_LINE_BYTES} bytes"),
    ("bad-lines.jsonl", 9): ("negative_usage", "usage.input_tokens = NaN"),
    ("nan.parquet", 1): ("negative_usage", "usage.input_tokens = NaN"),
}


def _outside_links(inst: Installation, day: str) -> None:
    """A link to /etc/passwd, one to a JSONL outside the landing folder, a dangling one, and one
    inside the landing folder (followed)."""
    folder = inst.day_folder(day)
    outside = inst.root / "outside.jsonl"
    outside.write_text(json.dumps(usage_record("outside", f"{day}T10:00:00Z")) + "\n")
    (folder / "passwd.jsonl").symlink_to("/etc/passwd")
    (folder / "outside.jsonl").symlink_to(outside)
    (folder / "dangling.jsonl").symlink_to(inst.root / "missing.jsonl")
    other = inst.landing / "shared"
    other.mkdir(exist_ok=True)
    (other / "inside.jsonl").write_text(json.dumps(usage_record("inside", f"{day}T10:00:00Z")) + "\n")
    (folder / "inside.jsonl").symlink_to(other / "inside.jsonl")


def _rejects(inst: Installation) -> dict[tuple[str, int], tuple[str, str]]:
    rows = inst.warehouse_rows("select source_file, line_number, reason, detail from raw.usage_rejects")
    return {(f, n): (reason, detail) for f, n, reason, detail in rows}


def _matches(rejects: dict[tuple[str, int], tuple[str, str]]) -> None:
    assert set(rejects) == set(EXPECTED_REJECTS), rejects
    for key, (reason, detail) in EXPECTED_REJECTS.items():
        assert rejects[key][0] == reason and detail in rejects[key][1], (key, rejects[key])


# --- ingestion, fast ---------------------------------------------------------------------------


def test_each_bad_line_is_quarantined_with_its_line_number_and_the_rest_is_read(installation: Installation) -> None:
    _bad_lines(installation, D1)
    result = _ingest(installation)
    _matches(_rejects(installation))
    assert installation.warehouse_rows("select request_id, line_number from raw.usage_records order by 2") == [
        ("good-1", 1), ("max-1", 3), ("max-2", 4), ("good-2", 10)
    ]  # fmt: skip
    assert (result.files, result.records_read) == (5, 10)  # the 0-byte files are files without records
    (raw,) = installation.warehouse_rows("select raw_record from raw.usage_rejects where line_number = 7")[0]
    assert raw.startswith('{"request_id": "long"') and len(raw) == 10_000
    (raw,) = installation.warehouse_rows("select raw_record from raw.usage_rejects where line_number = 6")[0]
    assert raw.startswith('{"request_id": "latin-1"') and "caf" in raw


def test_a_remembered_event_day_past_year_9999_is_forgotten_by_the_next_ingestion(installation: Installation) -> None:
    installation.write_jsonl(D1, "a.jsonl", [usage_record("a", f"{D1}T10:00:00Z")])
    _ingest(installation)
    # what an ingestion before the fix left
    installation.edit_raw("arrival_event_days", D1, f"from rows union all select '{D1}'::date, '10000-01-01'::date")
    _ingest(installation)
    assert installation.warehouse_rows("select event_date::varchar from raw.arrival_event_days") == [(D1,)]


def test_links_leaving_the_landing_folder_are_skipped_and_reported(installation: Installation) -> None:
    _outside_links(installation, D1)
    result = _ingest(installation)
    assert installation.warehouse_rows("select request_id from raw.usage_records") == [("inside",)]
    assert installation.warehouse_rows("select count(*) from raw.usage_rejects") == [(0,)]
    assert result.files == 1 and len(result.skipped) == 3
    skipped = "\n".join(result.skipped)
    assert "passwd.jsonl links outside the landing folder (to /etc/passwd)" in skipped
    assert "outside.jsonl links outside the landing folder" in skipped
    assert "dangling.jsonl" in skipped and "dangling" in skipped


def test_every_unreadable_file_of_a_day_is_named_in_one_error_with_the_fix(installation: Installation) -> None:
    folder = installation.day_folder(D1)
    (folder / "cut.jsonl.gz").write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:60])
    (folder / "noise.parquet").write_bytes(os.urandom(4096))
    installation.write_jsonl(D1, "fine.jsonl", [usage_record("a", f"{D1}T10:00:00Z")])
    with pytest.raises(UsageError) as error:
        _ingest(installation)
    message = str(error.value)
    assert "\n" not in message
    assert "cannot read 2 landing file(s)" in message and "cut.jsonl.gz (" in message and "noise.parquet (" in message
    assert "re-run this arrival day" in message


def test_folders_not_named_as_a_day_are_reported(installation: Installation) -> None:
    for name in ("date=2026-13-45", "date=garbage", "date=20261105"):
        (installation.landing / name).mkdir()
        (installation.landing / name / "a.jsonl").write_text("{}\n")
    (installation.landing / "notes").mkdir()  # no usage files: not reported
    installation.day_folder(D1)
    found = unreadable_folders(installation.landing)
    assert [line.split(" holds")[0] for line in found] == [
        str(installation.landing / name) for name in ("date=2026-13-45", "date=20261105", "date=garbage")
    ]
    assert all("rename it" in line for line in found)


# --- dead runs, fast ---------------------------------------------------------------------------


def _dead_process_tags() -> dict[str, str]:
    proc = subprocess.Popen(["sleep", "60"])
    tags = {PID_TAG: str(proc.pid), HOST_TAG: os.uname().nodename, STARTED_TAG: process_start(proc.pid) or ""}
    proc.kill()
    proc.wait()
    return tags


def test_the_dead_runs_sensor_marks_failed_a_run_whose_process_is_gone(installation: Installation) -> None:
    instance = prepare_instance(Settings.from_env())
    dead = dg.DagsterRun(job_name="meterline_job", run_id=make_new_run_id(), status=dg.DagsterRunStatus.STARTED,
                         tags=_dead_process_tags())  # fmt: skip
    alive = dg.DagsterRun(job_name="meterline_job", run_id=make_new_run_id(), status=dg.DagsterRunStatus.STARTED,
                          tags={PID_TAG: str(os.getpid()), HOST_TAG: os.uname().nodename,
                                STARTED_TAG: process_start(os.getpid()) or ""})  # fmt: skip
    unknown = dg.DagsterRun(job_name="meterline_job", run_id=make_new_run_id(), status=dg.DagsterRunStatus.STARTED)
    for run in (dead, alive, unknown):
        instance.add_run(run)
    sensor = defs.resolve_sensor_def("dead_runs")
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert "1 run(s)" in str(result.skip_message)
    statuses = {run.run_id: instance.get_run_by_id(run.run_id).status for run in (dead, alive, unknown)}
    assert statuses == {dead.run_id: dg.DagsterRunStatus.FAILURE, alive.run_id: dg.DagsterRunStatus.STARTED,
                        unknown.run_id: dg.DagsterRunStatus.STARTED}  # fmt: skip
    assert fail_dead_runs(instance) == []  # once


# --- the pipeline, one installation through five runs and a killed one --------------------------


@dataclass(frozen=True)
class Run:
    code: int
    stderr: str
    serving: dict[str, list[tuple]]
    quarantine: dict[str, int]  # reason -> records of D1 in quarantine.rejected_usage after the run


@dataclass(frozen=True)
class Killed:
    """A ``meterline materialize`` process killed with SIGKILL while its dbt ran."""

    run_id: str | None  # its run's
    status_after_kill: dg.DagsterRunStatus | None
    dbt_gone: bool  # its dbt stopped within 10 s
    status: tuple[int, str, str]  # ``meterline status`` right after: exit code, stdout, stderr
    states: list[str]  # the arrival days' states then


@dataclass(frozen=True)
class Stages:
    inst: Installation
    runs: dict[str, Run]
    failed_publish: dict[str, Any]
    killed: Killed


def _run(inst: Installation, start: str) -> Run:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = inst.run(start)
    quarantine = dict(
        inst.warehouse_rows(
            "select reason, count(*) from quarantine.rejected_usage where arrival_date = $day group by 1", {"day": D1}
        )
    )
    return Run(code, err.getvalue(), inst.published() if inst.serving.exists() else {}, quarantine)


def _version_dirs(inst: Installation) -> set[Path]:
    return {path for path in parts_dir(inst.serving).glob("*/*") if path.is_dir()}


def _failed_publish(inst: Installation) -> dict[str, Any]:
    """Publish with the folder of the last table replaced by a file, so that publication fails
    after it has written the other tables."""
    before = _version_dirs(inst)
    blocked = parts_dir(inst.serving) / "provider_model_details_monthly"
    shutil.move(blocked, blocked.with_name("moved-away"))
    blocked.write_text("in the way")
    try:
        with duckdb.connect(str(inst.warehouse), read_only=True) as con:
            try:
                publish(con, inst.serving, "f" * 32)
                raised = None
            except OSError as exc:
                raised = exc
    finally:
        blocked.unlink()
        shutil.move(blocked.with_name("moved-away"), blocked)
    leftovers = [p.name for p in inst.serving.parent.iterdir() if p.name.endswith((".tmp", ".wal"))]
    return {"raised": raised, "new_dirs": _version_dirs(inst) - before, "leftovers": leftovers}


# --- kill -9, a stage of the pipeline scenario ------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie no one reaped has stopped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _dbt_child(pid: int) -> int | None:
    for child in _children(pid):
        with contextlib.suppress(OSError):
            if b"build" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
    return None


def _kill_during_dbt(inst: Installation, day: str) -> Killed:
    """Start ``meterline materialize`` of ``day`` in a process of its own, SIGKILL it once its dbt has
    opened the warehouse, then run ``meterline status`` in this process."""
    log = (inst.root / "killed.err").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "materialize", "--from", day, "--to", day],
                            cwd=REPO_ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
    deadline = time.monotonic() + 300
    while (dbt := _dbt_child(proc.pid)) is None:
        assert proc.poll() is None, (inst.root / "killed.err").read_text()[-3000:]
        assert time.monotonic() < deadline, "dbt never started"
        time.sleep(0.2)
    time.sleep(1.0)  # dbt has opened the warehouse
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # dbt dies with the run (meterline-dbt): no orphan goes on writing the warehouse.
    deadline = time.monotonic() + 10
    while _running(dbt) and time.monotonic() < deadline:
        time.sleep(0.1)
    dbt_gone = not _running(dbt)

    instance = prepare_instance(Settings.from_env())
    killed = next((r for r in instance.get_run_records() if r.dagster_run.tags.get(PID_TAG) == str(proc.pid)), None)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = status()
    states = [s.state for s in day_states(instance, inst.landing)]
    return Killed(killed and killed.dagster_run.run_id, killed and killed.dagster_run.status, dbt_gone,
                  (code, out.getvalue(), err.getvalue()), states)  # fmt: skip


@pytest.fixture(scope="module")
def stages(roots: Path) -> Iterator[Stages]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        inst = install(roots / "module", monkeypatch)
        quoted = inst.root / "it's serving" / "meterline.duckdb"
        monkeypatch.setenv("METERLINE_SERVING", str(quoted))
        inst = Installation(**{**inst.__dict__, "serving": quoted})
        inst.write_catalog(CATALOG)
        _bad_lines(inst, D1)
        _outside_links(inst, D1)
        (inst.landing / "date=2026-13-45").mkdir()
        (inst.landing / "date=2026-13-45" / "a.jsonl").write_text("{}\n")
        runs = {"bad inputs": _run(inst, D1)}
        killed = _kill_during_dbt(inst, D1)

        # what an ingestion before the fix left
        inst.edit_raw("arrival_event_days", D1, f"from rows union all select '{D1}'::date, '10000-01-01'::date")
        runs["poisoned rerun"] = _run(inst, D1)
        failed_publish = _failed_publish(inst)

        inst.write_catalog()
        runs["empty catalog"] = _run(inst, D1)
        inst.write_catalog(OTHER_MODEL_ONLY)
        runs["unpriced catalog"] = _run(inst, D1)

        inst.write_catalog(CATALOG)
        (inst.day_folder(D2) / "cut.jsonl.gz").write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:60])
        (inst.day_folder(D2) / "noise.parquet").write_bytes(os.urandom(4096))
        runs["unreadable files"] = _run(inst, D2)
        yield Stages(inst, runs, failed_publish, killed)


@pytest.mark.pipeline
@pytest.mark.subprocess  # the stages kill a meterline process
def test_bad_inputs_do_not_block_the_day_and_int64_counters_add_up_exactly(stages: Stages) -> None:
    run = stages.runs["bad inputs"]
    assert run.code == 0, run.stderr[-3000:]
    fct = {row[0]: row for row in stages.inst.serving_rows("select request_id, input_tokens from marts.fct_cost")}
    assert set(fct) == {"good-1", "good-2", "max-1", "max-2", "inside"}
    assert fct["max-1"][1] == INT64_MAX
    [(tokens, cost)] = stages.inst.serving_rows(
        "select sum(input_tokens), sum(input_cost) from marts.cost_cube_hourly where period_start = ?",
        [f"{D1} 11:00:00"],
    )
    assert tokens == 2 * INT64_MAX  # over a BIGINT, exact
    assert cost == Decimal(2 * INT64_MAX) * 2 / 1_000_000  # at 2 USD per million, exact
    [(daily,)] = stages.inst.serving_rows(
        "select input_tokens from marts.cost_overview_daily where period_start = ?", [D1]
    )
    assert daily == 2 * INT64_MAX + 3000  # and good-1, good-2, inside: 1000 each
    _matches({key: value for key, value in _rejects(stages.inst).items()})
    assert run.quarantine == {"bad_timestamp": 1, "inconsistent_usage": 1, "malformed_record": 2, "negative_usage": 2}
    instance = prepare_instance(Settings.from_env())
    first = min(instance.get_run_records(), key=lambda record: record.create_timestamp)
    logged = "\n".join(event.user_message for event in instance.all_logs(first.dagster_run.run_id))
    assert "passwd.jsonl links outside the landing folder (to /etc/passwd): skipped" in logged
    assert "date=2026-13-45 holds usage files but is not named date=YYYY-MM-DD" in logged


@pytest.mark.pipeline
@pytest.mark.subprocess  # the stages kill a meterline process
def test_a_rerun_after_an_impossible_event_day_was_remembered_succeeds(stages: Stages) -> None:
    run = stages.runs["poisoned rerun"]
    assert run.code == 0, run.stderr[-3000:]
    assert run.serving == stages.runs["bad inputs"].serving


@pytest.mark.pipeline
@pytest.mark.subprocess  # the stages kill a meterline process
def test_a_failed_publication_leaves_no_version_folder_behind(stages: Stages) -> None:
    assert isinstance(stages.failed_publish["raised"], OSError)
    assert stages.failed_publish["new_dirs"] == set()
    assert stages.failed_publish["leftovers"] == []


@pytest.mark.pipeline
@pytest.mark.subprocess  # the stages kill a meterline process
def test_an_empty_catalog_blocks_publication(stages: Stages) -> None:
    run = stages.runs["empty catalog"]
    assert run.code == 1
    assert run.serving == stages.runs["poisoned rerun"].serving  # readers keep the last good version
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("meterline: blocking check raw/price_catalog price_catalog_rules failed:"), last
    assert "holds no price rows" in last and "METERLINE_PRICES" in last


@pytest.mark.pipeline
@pytest.mark.subprocess  # the stages kill a meterline process
def test_a_catalog_leaving_most_requests_unpriced_blocks_publication(stages: Stages) -> None:
    run = stages.runs["unpriced catalog"]
    assert run.code == 1
    assert run.serving == stages.runs["poisoned rerun"].serving
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("meterline: blocking check fct_cost unpriced_share failed: 5 of 5 counted"), last
    assert "METERLINE_UNPRICED_SHARE_MAX" in last
    assert run.quarantine["unpriced"] == 5


@pytest.mark.pipeline
@pytest.mark.subprocess  # the stages kill a meterline process
def test_unreadable_files_fail_the_run_naming_every_file_and_the_fix_last(stages: Stages) -> None:
    run = stages.runs["unreadable files"]
    assert run.code == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("meterline: step raw_usage failed: cannot read 2 landing file(s)"), last
    assert "cut.jsonl.gz" in last and "noise.parquet" in last and "re-run this arrival day" in last


@pytest.mark.pipeline
@pytest.mark.subprocess
def test_a_run_killed_during_dbt_is_marked_failed_and_the_next_run_succeeds(stages: Stages) -> None:
    killed = stages.killed
    assert killed.run_id is not None, "the killed process left no run"
    assert killed.status_after_kill == dg.DagsterRunStatus.STARTED  # what a kill -9 leaves
    assert killed.dbt_gone, "dbt outlived the killed run by 10 s"
    code, out, err = killed.status
    assert code == 0
    assert f"run {killed.run_id} was unfinished but its process is gone: marked failed" in err
    assert f"{D1}   failed" in out
    assert killed.states == ["failed"]

    # The next run of the day (the stage after the kill) succeeds and publishes what the run before did.
    run = stages.runs["poisoned rerun"]
    assert run.code == 0, run.stderr[-3000:]
    instance = prepare_instance(Settings.from_env())
    assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
    assert run.serving == stages.runs["bad inputs"].serving
    assert len(run.serving["fct_cost"]) == 5
