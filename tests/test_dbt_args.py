"""How a run hands its window of arrival days to dbt: through the environment, so that dbt
does not re-parse the whole project on every run (it does when --vars change)."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from orchestration.assets.dbt import dbt_window_env
from orchestration.dbt_project import DBT_EXECUTABLE
from orchestration.settings import DBT_PROJECT_DIR
from tests.conftest import Installation


def test_a_range_of_arrival_days_becomes_one_half_open_window() -> None:
    window = dg.TimeWindow(datetime(2026, 10, 30, tzinfo=timezone.utc), datetime(2026, 11, 2, tzinfo=timezone.utc))
    # [start, end): the last arrival day of the range is 2026-11-01
    assert dbt_window_env(window) == {"METERLINE_ARRIVAL_START": "2026-10-30", "METERLINE_ARRIVAL_END": "2026-11-02"}


def _dbt(command: str, target: Path, window: tuple[str, str]) -> str:
    env = {**os.environ, "METERLINE_ARRIVAL_START": window[0], "METERLINE_ARRIVAL_END": window[1], "TZ": "UTC"}
    done = subprocess.run(
        [DBT_EXECUTABLE, command, "--select", "int_batch_event_days", "--target-path", str(target),
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_new_window_is_compiled_in_without_a_full_reparse(installation: Installation, tmp_path: Path) -> None:
    target = tmp_path / "target"
    _dbt("compile", target, ("2026-10-30", "2026-11-02"))
    log = _dbt("compile", target, ("2026-11-05", "2026-11-06"))
    assert "Unable to do partial parsing" not in log
    compiled = next(target.glob("compiled/**/int_batch_event_days.sql")).read_text()
    assert "'2026-11-05'" in compiled and "'2026-11-06'" in compiled
    assert "2026-10-30" not in compiled
