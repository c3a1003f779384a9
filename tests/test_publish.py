"""Publishing: readers never blocked or shown half a run; failed runs and runs blocked by a
check on what the engine built publish nothing; a rerun rewrites only the partitions it touched."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from data_quality import report
from tests.conftest import Installation, usage_record, on_every_engine

pytestmark = on_every_engine

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
        "select (select version from meta.publication), cast(sum(total_cost) as varchar), count(*) "
        "from marts.fct_cost")[0]


def test_a_reader_sees_the_old_or_the_new_version_while_a_run_publishes(installation: Installation) -> None:
    installation.write_catalog(CATALOG)
    installation.write_jsonl("2026-11-05", "a.jsonl", [usage_record(f"a{i}", "2026-11-05T01:00:00Z") for i in range(5)])
    assert installation.run("2026-11-05") == 0
    old = _versions(installation)
    installation.write_jsonl("2026-11-06", "b.jsonl", [usage_record(f"b{i}", "2026-11-06T01:00:00Z") for i in range(3)])
    stop = installation.root / "stop"
    readers = {mode: subprocess.Popen([sys.executable, "-c", READER, str(installation.serving), str(stop), mode],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for mode in ("reconnect", "hold")}
    try:
        time.sleep(2)
        assert installation.run("2026-11-06") == 0
    finally:
        stop.touch()
        outputs = {mode: reader.communicate(timeout=120) for mode, reader in readers.items()}
    for mode, reader in readers.items():
        assert reader.returncode == 0, outputs[mode][1]
    seen = {mode: [tuple(v) for v in json.loads(out)] for mode, (out, _) in outputs.items()}
    new = _versions(installation)
    assert old != new
    assert set(seen["reconnect"]) <= {old, new}
    assert (seen["reconnect"][0], seen["reconnect"][-1]) == (old, new)
    assert set(seen["hold"]) == {old}  # the open file keeps its version, undisturbed


def test_a_failed_run_leaves_the_serving_file_as_it_was(installation: Installation) -> None:
    installation.write_catalog(CATALOG)
    installation.write_jsonl("2026-11-05", "a.jsonl", [usage_record("a1", "2026-11-05T01:00:00Z")])
    assert installation.run("2026-11-05") == 0
    before = _published_state(installation)
    installation.write_jsonl("2026-11-05", "b.jsonl", [usage_record("b1", "2026-11-05T02:00:00Z")])
    (installation.day_folder("2026-11-05") / "c.parquet").write_bytes(b"this is not parquet")
    assert installation.run("2026-11-05") == 1
    assert _published_state(installation) == before


def test_a_blocking_check_on_the_engines_marts_stops_the_publication(installation: Installation) -> None:
    installation.write_catalog(CATALOG)
    installation.write_jsonl("2026-11-05", "a.jsonl", [usage_record(f"a{i}", "2026-11-05T01:00:00Z") for i in range(3)])
    assert installation.run("2026-11-05") == 0
    clean = report.load_summary(installation.reports / report.LATEST)
    assert clean["status"] == "passed" and all(check["passed"] for check in clean["checks"])
    [conservation] = [c for c in clean["checks"] if c["name"] == "conservation"]
    assert conservation["details"]["days"] == [{"arrival_date": "2026-11-05", "records_read": 3, "costed": 3,
                                                "superseded": 0, "quarantined": 0, "unaccounted": 0}]
    before = _published_state(installation)

    # A costed row claiming arrival day 2026-11-06 on an event day that day's run does not rebuild.
    installation.plant_fct_cost_row("a0", request_id="'ghost'", arrival_date="date '2026-11-06'",
                                    billing_mode="'subscription'")
    installation.write_jsonl("2026-11-06", "b.jsonl", [usage_record(f"b{i}", "2026-11-06T01:00:00Z") for i in range(2)])
    assert installation.run("2026-11-06") == 1
    assert _published_state(installation) == before
    assert not list(installation.serving.parent.glob(".*export*"))  # the run's Spark exports are gone
    blocked = report.load_summary(installation.reports / report.LATEST)
    assert blocked["status"] == "blocked"
    failed = {(c["asset"], c["name"]) for c in blocked["checks"] if not c["passed"]}
    assert failed == {("fct_cost", "conservation")}
    [conservation] = [c for c in blocked["checks"] if c["name"] == "conservation"]
    assert conservation["offending_rows"] == [{"arrival_date": "2026-11-06", "records_read": 2, "costed": 3,
                                               "superseded": 0, "quarantined": 0, "unaccounted": -1}]


def test_a_rerun_rewrites_only_the_partitions_it_touched(installation: Installation) -> None:
    installation.write_catalog(CATALOG)
    for day, created in [("2026-10-31", "2026-10-31T05:00:00Z"), ("2026-11-01", "2026-11-01T05:00:00Z"),
                         ("2026-11-02", "2026-11-02T05:00:00Z")]:
        installation.write_jsonl(day, "a.jsonl", [usage_record(f"r{day}", created)])
    assert installation.run("2026-10-31", "2026-11-02") == 0
    files_before = dict(((t, k), p) for t, k, p in installation.serving_rows(
        "select table_name, partition_key, path from meta.published_files"))
    hashes_before = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in files_before.values()}

    installation.write_jsonl("2026-11-02", "late.jsonl", [usage_record("late", "2026-11-02T06:00:00Z")])
    assert installation.run("2026-11-02") == 0
    files_after = dict(((t, k), p) for t, k, p in installation.serving_rows(
        "select table_name, partition_key, path from meta.published_files"))

    rewritten = {key for key in files_after if files_after[key] != files_before.get(key)}
    assert {key for _, key in rewritten} == {"2026-11-02", "2026-11-01"}  # the event day and its month
    untouched = set(files_before) - rewritten
    assert {key for _, key in untouched} == {"2026-10-31", "2026-10-01", "2026-11-01"}
    for key in untouched:
        assert files_after[key] == files_before[key]
        assert hashlib.sha256(Path(files_after[key]).read_bytes()).hexdigest() == hashes_before[files_before[key]]
