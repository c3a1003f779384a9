"""Where the time of one ``meterline materialize`` went, from the run's own records.

The Dagster event log of the run (in its ``$DAGSTER_HOME``) gives each step's
start and end; the dbt step's ``run_results.json`` (dagster-dbt's per-run
target folder) gives how long dbt spent executing its graph, so the rest of
that step is dbt start-up (process, project parse, adapter). Time outside the
run (Python and Dagster imports, the dbt manifest preparation, instance
start-up, exit) and between steps is reported as overhead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from meterline.settings import DBT_PROJECT_DIR

INGEST_STEPS = ("raw_usage", "raw__price_catalog")
DBT_STEP = "meterline_dbt_models"
PUBLISH_STEP = "serving_marts"


def step_times(dagster_home: Path) -> tuple[str, dict[str, tuple[float, float]], tuple[float, float]]:
    """(run id, step key -> (start, end), (run start, run end)) in epoch seconds, of the instance's
    latest run."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        starts: dict[str, float] = {}
        spans: dict[str, tuple[float, float]] = {}
        bounds: dict[str, float] = {}
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type_value
            if kind == "STEP_START":
                starts[event.step_key] = entry.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                spans[event.step_key] = (starts[event.step_key], entry.timestamp)
            elif kind in ("PIPELINE_START", "RUN_START"):
                bounds["start"] = entry.timestamp
            elif kind in ("PIPELINE_SUCCESS", "RUN_SUCCESS", "PIPELINE_FAILURE", "RUN_FAILURE"):
                bounds["end"] = entry.timestamp
    return run.run_id, spans, (bounds["start"], bounds["end"])


def dbt_graph_seconds(run_id: str, *, remove: bool = True) -> dict[str, float]:
    """dbt's own timing of the run (graph execution, models, tests) from its run_results.json.
    ``remove``: delete the run's dagster-dbt target folder afterwards (benchmark runs only)."""
    folders = sorted((DBT_PROJECT_DIR / "target").glob(f"meterline_dbt_models-{run_id[:7]}-*"))
    if not folders:
        return {}
    results = json.loads((folders[0] / "run_results.json").read_text())
    slowest = sorted(results["results"], key=lambda result: -result["execution_time"])[:8]
    by_kind: dict[str, float] = {"model": 0.0, "test": 0.0, "unit_test": 0.0}
    for result in results["results"]:
        kind = result["unique_id"].split(".", 1)[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + result["execution_time"]
    if remove:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    return {
        "graph_s": round(results["elapsed_time"], 2),
        "models_s": round(by_kind["model"], 2),
        "tests_s": round(by_kind["test"] + by_kind["unit_test"], 2),
        "slowest": {result["unique_id"].split(".")[-1]: round(result["execution_time"], 2) for result in slowest},
    }


def _phase(step: str) -> str:
    if step in INGEST_STEPS:
        return "ingest"
    return {DBT_STEP: "dbt", PUBLISH_STEP: "publish"}.get(step, "checks")


def _cpu_at(samples: tuple[tuple[float, int, float], ...], moment: float) -> float:
    """The process tree's CPU seconds at ``moment``: the last sample at or before it."""
    return next((cpu for at, _, cpu in reversed(samples) if at <= moment), 0.0)


def breakdown(
    dagster_home: Path, process_start: float, process_wall: float, samples: tuple[tuple[float, int, float], ...]
) -> dict[str, object]:
    """Seconds per phase of one materialize process: start-up before the run, ingest, dbt (start-up
    and graph), checks, publish, Dagster's overhead between steps, and exit after the run; and the
    peak RSS (MB, whole process tree) and CPU seconds (both cores) during each phase."""
    run_id, spans, (run_start, run_end) = step_times(dagster_home)
    steps = {key: round(end - start, 2) for key, (start, end) in spans.items()}
    process_end = process_start + process_wall
    windows = {"startup_before_run": [(process_start, run_start)], "exit_after_run": [(run_end, process_end)]}
    for key, span in spans.items():
        windows.setdefault(_phase(key), []).append(span)
    peak_rss = {
        phase: max((mb for at, mb, _ in samples if any(start <= at <= end for start, end in spans_)), default=0)
        for phase, spans_ in windows.items()
    }
    cpu = {phase: round(sum(_cpu_at(samples, end) - _cpu_at(samples, start) for start, end in spans_), 1)
           for phase, spans_ in windows.items()}  # fmt: skip
    dbt = dbt_graph_seconds(run_id)
    ingest = sum(steps.get(key, 0.0) for key in INGEST_STEPS)
    dbt_step = steps.get(DBT_STEP, 0.0)
    publish = steps.get(PUBLISH_STEP, 0.0)
    checks = sum(seconds for key, seconds in steps.items() if key not in (*INGEST_STEPS, DBT_STEP, PUBLISH_STEP))
    run_seconds = run_end - run_start
    phases = {
        "startup_before_run": round(run_start - process_start, 2),
        "ingest": round(ingest, 2),
        "dbt_startup": round(dbt_step - dbt.get("graph_s", 0.0), 2),
        "dbt_graph": dbt.get("graph_s", 0.0),
        "checks": round(checks, 2),
        "publish": round(publish, 2),
        "dagster_between_steps": round(run_seconds - sum(steps.values()), 2),
        "exit_after_run": round(process_end - run_end, 2),
    }
    return {"run_id": run_id, "phases": phases, "steps": steps, "dbt": dbt, "peak_rss_mb": peak_rss, "phase_cpu_s": cpu}
