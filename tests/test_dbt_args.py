"""How meterline runs dbt without parsing more than it must: a run hands its window of arrival
days to dbt through the environment (a change of --vars re-parses the whole project), and a
command parses the project only when something dbt reads has changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from meterline.settings import DBT_PROJECT_DIR, REPO_ROOT
from orchestration.dbt.assets import dbt_window_env
from orchestration.dbt.resource import DBT_EXECUTABLE, meterline_dbt
from orchestration.dbt.unchanged import REBUILT_WHOLE, Built, Tested, reason_to_build
from tests.helpers import Installation


def test_a_range_of_arrival_days_becomes_one_half_open_window() -> None:
    window = dg.TimeWindow(datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    # [start, end): the last arrival day of the range is 2026-11-01
    assert dbt_window_env(window) == {"METERLINE_ARRIVAL_START": "2026-10-30", "METERLINE_ARRIVAL_END": "2026-11-02"}


# A generic test on the run's window of arrival days (meta: {arrival_window: arrival_date}).
WINDOWED_TEST = "unique_stg_raw__usage_records__arrival_date_source_file_line_number_"


def _dbt(command: str, target: Path, window: tuple[str, str], project: Path = DBT_PROJECT_DIR, **env: str) -> str:
    env = {**os.environ, "METERLINE_ARRIVAL_START": window[0], "METERLINE_ARRIVAL_END": window[1], "TZ": "UTC", **env}
    done = subprocess.run(
        [DBT_EXECUTABLE, command, "--select", "int_batch_event_days", WINDOWED_TEST, "--target-path", str(target),
         "--log-path", str(target), "--project-dir", str(project), "--profiles-dir", str(DBT_PROJECT_DIR)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.subprocess
def test_a_new_window_is_compiled_in_without_parsing_again(installation: Installation, tmp_path: Path) -> None:
    target = tmp_path / "target"
    _dbt("compile", target, ("2026-10-30", "2026-11-02"))
    saved_parse = target / "partial_parse.msgpack"
    parsed = saved_parse.stat().st_mtime_ns
    _dbt("compile", target, ("2026-11-05", "2026-11-06"))
    # Not a file parsed again (each run's window changes): the window is read when dbt executes.
    assert saved_parse.stat().st_mtime_ns == parsed
    for node in ("int_batch_event_days.sql", "unique_stg_raw__usage_records_*.sql"):  # dbt hashes a long test name
        compiled = next(target.glob(f"compiled/**/{node}")).read_text()
        assert "'2026-11-05'" in compiled and "'2026-11-06'" in compiled, node
        assert "2026-10-30" not in compiled, node


@pytest.mark.subprocess
def test_the_dbt_log_file_holds_what_the_console_does_unless_debug_is_asked_for(
    installation: Installation, tmp_path: Path
) -> None:
    """dbt_project.yml's flags put dbt's log file at info: no query or connection events (at 1M records,
    2 MB a run and 0.3-0.45 s of dbt's step); DBT_LOG_LEVEL_FILE=debug brings them back."""
    window = ("2026-11-05", "2026-11-06")
    _dbt("compile", tmp_path / "info", window)
    _dbt("compile", tmp_path / "debug", window, DBT_LOG_LEVEL_FILE="debug")
    info, debug = ((tmp_path / name / "dbt.log").read_text() for name in ("info", "debug"))
    for log in (info, debug):
        assert "Found " in log and "Compiled node 'int_batch_event_days'" in log
    assert "Using duckdb connection" in debug and "Using duckdb connection" not in info
    assert len(info) * 5 < len(debug)


@pytest.mark.subprocess
def test_a_windowed_test_keeps_its_own_where(installation: Installation, tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    models = project / "models" / "staging" / "_staging__models.yml"
    window = "\n            meta: {arrival_window: arrival_date}\n"  # the test's config
    models.write_text(models.read_text().replace(window, window + "            where: line_number > 1\n", 1))
    _dbt("compile", tmp_path / "target", ("2026-11-05", "2026-11-06"), project)
    compiled = next((tmp_path / "target").glob("compiled/**/unique_stg_raw__usage_records_*.sql")).read_text()
    assert "'2026-11-05'" in compiled and "'2026-11-06'" in compiled and "and (line_number > 1)" in compiled


def _prepare_manifest(clone: Path, **env: str) -> tuple[int, list[str]]:
    """prepare_manifest in a new process on ``clone``'s project: (manifest mtime, node ids)."""
    code = ("import json; from orchestration.dbt.resource import meterline_dbt as p, prepare_manifest; "
            "prepare_manifest(); print(json.dumps([p.manifest_path.stat().st_mtime_ns, "
            "sorted(json.loads(p.manifest_path.read_text())['nodes'])]))")  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if k != "DBT_TARGET_PATH"}  # the clone's target/
    done = subprocess.run([sys.executable, "-c", code], cwd=clone, capture_output=True, text=True, check=False,
                          env={**environment, "PYTHONPATH": str(clone), "TZ": "UTC", **env})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    mtime, nodes = json.loads(done.stdout.splitlines()[-1])
    return mtime, nodes


@pytest.mark.subprocess
def test_the_project_is_parsed_again_only_when_what_dbt_reads_changed(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    for folder in ("meterline", "orchestration", "dbt_project"):  # the code that finds and parses the project
        shutil.copytree(
            REPO_ROOT / folder, clone / folder, ignore=shutil.ignore_patterns("target", "logs", "__pycache__")
        )
    parsed, nodes = _prepare_manifest(clone)
    assert "model.meterline.fct_cost" in nodes
    assert _prepare_manifest(clone) == (parsed, nodes)  # nothing changed: the manifest is not rewritten

    (clone / "dbt_project" / "models" / "marts" / "probe.sql").write_text("select 1 as probe\n")
    edited, nodes = _prepare_manifest(clone)
    assert edited > parsed and "model.meterline.probe" in nodes  # a new model is in the next manifest

    elsewhere = str(tmp_path / "elsewhere.duckdb")  # the profile reads the warehouse path
    moved, _ = _prepare_manifest(clone, METERLINE_WAREHOUSE=elsewhere)
    assert moved > edited
    # Back to the first installation's paths: its parse comes back from the cache, not from dbt
    # (the cached manifest keeps the time it was written).
    assert _prepare_manifest(clone) == (edited, nodes)
    assert len(list((clone / "dbt_project" / "target" / "parse-cache").iterdir())) == 3


# -- a window where nothing arrived (orchestration/dbt/unchanged.py) ---------------------------------

MODELS = {
    dg.AssetKey("int_batch_event_days"): "v1",
    dg.AssetKey("int_usage_deduped"): "v1",
    dg.AssetKey("fct_cost"): "v2",
}
TEST = dg.AssetCheckKey(dg.AssetKey("fct_cost"), "relationships_fct_cost_api_key_id")


def _reason(**changes: Any) -> str | None:
    """reason_to_build for an empty window whose last build is this code's, with ``changes``."""
    last = {key: Built(version, f"data-{version}", "run-1") for key, version in MODELS.items()}
    arguments: dict[str, Any] = {
        "engine": "duckdb",
        "arrived_rows": 0,
        "selected": set(MODELS),
        "code_versions": MODELS,
        "built": last,
        "relations": {key.path[-1] for key in MODELS},
        "tests": {TEST: Tested(True, dg.AssetCheckSeverity.ERROR, "run-1")},
    }
    return reason_to_build(**{**arguments, **changes})


def test_dbt_is_left_out_only_when_nothing_arrived_and_the_last_build_is_this_codes() -> None:
    assert _reason() is None
    assert _reason(arrived_rows=3) == "3 raw rows in the window"
    assert _reason(engine="spark") == "the spark engine builds every run"
    assert _reason(selected={dg.AssetKey("fct_cost")}) == "int_batch_event_days is not selected"
    assert _reason(built={}) == "fct_cost was never built"
    assert _reason(code_versions={**MODELS, dg.AssetKey("fct_cost"): "v3"}) == "fct_cost changed since its last build"
    assert _reason(relations={"int_batch_event_days", "int_usage_deduped"}) == "fct_cost is not in the warehouse"
    failed = Tested(False, dg.AssetCheckSeverity.ERROR, "run-1")
    assert _reason(tests={TEST: failed}) == "dbt test relationships_fct_cost_api_key_id did not pass in its last run"
    assert _reason(tests={TEST: None}) == "dbt test relationships_fct_cost_api_key_id has never run"


def test_the_models_rebuilt_whole_every_run_are_the_projects_tables() -> None:
    """An empty window leaves the incremental models and the views as they are, and the tables empty:
    those are the models dbt still builds on such a night."""
    manifest = json.loads(meterline_dbt.manifest_path.read_text(encoding="utf-8"))
    tables = {
        node["name"] for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "table"
    }  # fmt: skip
    assert tables == {key.path[-1] for key in REBUILT_WHOLE}
