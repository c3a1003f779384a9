"""Publishing: readers never blocked or shown half a run; failed runs and runs blocked by a
check on what the engine built publish nothing; a rerun rewrites only the partitions it touched.

One installation goes through four real runs, in order; each test reads what a stage left:

1. arrival days 2026-10-31 .. 2026-11-02, a record each: the first publication;
2. 2026-11-02 again after a late file, while two readers query the serving file;
3. 2026-11-03 with a file that is not Parquet: the run fails;
4. 2026-11-04 after a defect was planted in the warehouse's fct_cost: a blocking check fails.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meterline.quality import report
from tests.helpers import Installation, usage_record

pytestmark = pytest.mark.pipeline

CATALOG = "openai,openai/gpt-test,LLM,2020-01-01,2,,,8,,,"
READER = r"""
import json, os, sys, time, duckdb
serving, stop, mode = sys.argv[1:4]
QUERY = "select (select version from meta.publication), cast(sum(total_cost) as varchar), count(*) from marts.fct_cost"
held = duckdb.connect(serving, read_only=True) if mode == "hold" else None
seen = []
while True:
    done = os.path.exists(stop)
    if held is not None:   # a BI tool that keeps the file open
        seen.append(held.execute(QUERY).fetchall()[0])
    else:                  # a BI tool that reconnects for every query
        with duckdb.connect(serving, read_only=True) as con:
            seen.append(con.execute(QUERY).fetchall()[0])
    if done:
        break
    time.sleep(0.05)
print(json.dumps(seen))
"""


def _published_state(inst: Installation) -> dict[str, str]:
    """Every file of the serving installation -> hash of its bytes."""
    files = [inst.serving, *sorted(p for p in inst.serving.parent.rglob("*") if p.is_file())]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _versions(inst: Installation) -> tuple:
    return inst.serving_rows(
        "select (select version from meta.publication), cast(sum(total_cost) as varchar), count(*) from marts.fct_cost"
    )[0]


def _files(inst: Installation) -> dict[tuple[str, str], str]:
    """(table, partition) -> the Parquet file the serving file reads."""
    return {
        (t, k): p for t, k, p in inst.serving_rows("select table_name, partition_key, path from meta.published_files")
    }


@dataclass
class Stages:
    inst: Installation
    codes: list[int]
    first_report: dict[str, Any]
    files_before: dict[tuple[str, str], str]
    hashes_before: dict[str, str]
    files_after: dict[tuple[str, str], str]
    old: tuple
    new: tuple
    seen: dict[str, list[tuple]]
    readers_ok: dict[str, str]  # mode -> stderr of a reader that failed, "" when it did not
    before_failed: dict[str, str]
    after_failed: dict[str, str]
    after_blocked: dict[str, str]
    blocked_report: dict[str, Any]


def _read_while_running(inst: Installation, day: str) -> tuple[int, dict[str, list[tuple]], dict[str, str]]:
    """Run ``day`` while one reader reconnects for every query and another holds the file open."""
    stop = inst.root / "stop"
    readers = {mode: subprocess.Popen([sys.executable, "-c", READER, str(inst.serving), str(stop), mode],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for mode in ("reconnect", "hold")}  # fmt: skip
    try:
        time.sleep(2)
        code = inst.run(day)
    finally:
        stop.touch()
        outputs = {mode: reader.communicate(timeout=120) for mode, reader in readers.items()}
    failed = {mode: outputs[mode][1] if reader.returncode else "" for mode, reader in readers.items()}
    seen = {mode: [tuple(v) for v in json.loads(out)] for mode, (out, _) in outputs.items() if not failed[mode]}
    return code, seen, failed


@pytest.fixture(scope="module")
def stages(module_installation: Installation) -> Iterator[Stages]:
    inst = module_installation
    inst.write_catalog(CATALOG)
    for day in ("2026-10-31", "2026-11-01", "2026-11-02"):
        inst.write_jsonl(day, "a.jsonl", [usage_record(f"r{day}", f"{day}T05:00:00Z")])
    codes = [inst.run("2026-10-31", "2026-11-02")]
    first_report = report.load_summary(inst.reports / report.LATEST)
    files_before = _files(inst)
    hashes_before = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in files_before.values()}
    old = _versions(inst)

    inst.write_jsonl("2026-11-02", "late.jsonl", [usage_record("late", "2026-11-02T06:00:00Z")])
    code, seen, readers_ok = _read_while_running(inst, "2026-11-02")
    codes.append(code)
    files_after, new = _files(inst), _versions(inst)

    before_failed = _published_state(inst)
    inst.write_jsonl("2026-11-03", "b.jsonl", [usage_record("b1", "2026-11-03T02:00:00Z")])
    (inst.day_folder("2026-11-03") / "c.parquet").write_bytes(b"this is not parquet")
    codes.append(inst.run("2026-11-03"))
    after_failed = _published_state(inst)

    # A costed row claiming arrival day 2026-11-04 on an event day that day's run does not rebuild.
    inst.plant_fct_cost_row("r2026-10-31", request_id="'ghost'", arrival_date="date '2026-11-04'",
                            billing_mode="'subscription'")  # fmt: skip
    inst.write_jsonl("2026-11-04", "b.jsonl", [usage_record(f"d{i}", "2026-11-04T01:00:00Z") for i in range(2)])
    codes.append(inst.run("2026-11-04"))
    yield Stages(inst, codes, first_report, files_before, hashes_before, files_after, old, new, seen, readers_ok,
                 before_failed, after_failed, _published_state(inst),
                 report.load_summary(inst.reports / report.LATEST))  # fmt: skip


def test_the_runs_end_as_expected(stages: Stages) -> None:
    assert stages.codes == [0, 0, 1, 1]


def test_a_reader_sees_the_old_or_the_new_version_while_a_run_publishes(stages: Stages) -> None:
    assert stages.readers_ok == {"reconnect": "", "hold": ""}
    assert stages.old != stages.new
    assert set(stages.seen["reconnect"]) <= {stages.old, stages.new}
    assert (stages.seen["reconnect"][0], stages.seen["reconnect"][-1]) == (stages.old, stages.new)
    assert set(stages.seen["hold"]) == {stages.old}  # the open file keeps its version, undisturbed


def test_a_rerun_rewrites_only_the_partitions_it_touched(stages: Stages) -> None:
    before, after = stages.files_before, stages.files_after
    rewritten = {key for key in after if after[key] != before.get(key)}
    assert {key for _, key in rewritten} == {"2026-11-02", "2026-11-01"}  # the event day and its month
    untouched = set(before) - rewritten
    assert {key for _, key in untouched} == {"2026-10-31", "2026-10-01", "2026-11-01"}
    for key in untouched:
        assert after[key] == before[key]
        assert hashlib.sha256(Path(after[key]).read_bytes()).hexdigest() == stages.hashes_before[before[key]]


def test_a_failed_run_leaves_the_serving_file_as_it_was(stages: Stages) -> None:
    assert stages.after_failed == stages.before_failed


def test_a_blocking_check_on_the_engines_marts_stops_the_publication(stages: Stages) -> None:
    clean = stages.first_report
    assert clean["status"] == "passed" and all(check["passed"] for check in clean["checks"])
    [conservation] = [c for c in clean["checks"] if c["name"] == "conservation"]
    assert conservation["details"]["days"] == [
        {"arrival_date": day, "records_read": 1, "costed": 1, "superseded": 0, "quarantined": 0, "unaccounted": 0}
        for day in ("2026-10-31", "2026-11-01", "2026-11-02")]  # fmt: skip

    assert stages.after_blocked == stages.after_failed
    assert not list(stages.inst.serving.parent.glob(".*export*"))  # no export of the run left behind
    blocked = stages.blocked_report
    assert blocked["status"] == "blocked"
    failed = {(c["asset"], c["name"]) for c in blocked["checks"] if not c["passed"]}
    assert failed == {("fct_cost", "conservation")}
    [conservation] = [c for c in blocked["checks"] if c["name"] == "conservation"]
    assert conservation["offending_rows"] == [
        {
            "arrival_date": "2026-11-04",
            "records_read": 2,
            "costed": 3,
            "superseded": 0,
            "quarantined": 0,
            "unaccounted": -1,
        }
    ]
