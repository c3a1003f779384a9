"""The dbt invocation for a run's window of arrival days (a pure function, no dbt run)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import dagster as dg

from orchestration.assets.dbt import dbt_build_args


def test_a_range_of_arrival_days_becomes_one_half_open_window_of_vars() -> None:
    window = dg.TimeWindow(datetime(2026, 10, 30, tzinfo=timezone.utc), datetime(2026, 11, 2, tzinfo=timezone.utc))
    command, flag, variables = dbt_build_args(window)
    assert (command, flag) == ("build", "--vars")
    # [start, end): the last arrival day of the range is 2026-11-01
    assert json.loads(variables) == {"arrival_start": "2026-10-30", "arrival_end": "2026-11-02"}
