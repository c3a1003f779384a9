"""Reruns: idempotent, late files, late prices, corrections that move a request, removed files.

One installation goes through four real runs, in order; each test reads the state a stage left:

1. arrival days 2026-11-05 and 2026-11-06: the first run (a record twice in one file, a late
   record, an unpriced model, an invalid line, a file that will be removed);
2. 2026-11-05 again, nothing changed: the rerun must change nothing;
3. 2026-11-05 again after a late file landed in its folder, the wrong file was removed and the
   unpriced model got its price;
4. arrival day 2026-11-07: a correction that moves a request of 2026-11-06 to another event day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from tests.helpers import Installation, usage_record

pytestmark = pytest.mark.pipeline

CATALOG = "openai,openai/gpt-test,LLM,2020-01-01,2,,,8,,,"
NEW_PRICE = "openai,x/new,LLM,2026-11-01,1,,,1,,,"
D1, D2, D3 = "2026-11-05", "2026-11-06", "2026-11-07"
TABLES = [
    "marts.fct_cost",
    "marts.cost_cube_hourly",
    "marts.cost_cube_daily",
    "marts.cost_cube_monthly",
    "marts.cost_by_api_key_monthly",
    "quarantine.rejected_usage",
    "raw.usage_records",
]


@dataclass(frozen=True)
class State:
    code: int
    warehouse: dict[str, list[tuple]]
    published: dict[str, list[tuple]]
    fct: dict[str, dict[str, Any]]  # published fct_cost by request_id
    daily_requests: dict[datetime, int]  # published requests per UTC day


def _state(inst: Installation, code: int) -> State:
    warehouse = {t: sorted(inst.warehouse_rows(f"select * from {t}"), key=repr) for t in TABLES}
    if not inst.serving.exists():  # nothing was ever published: the first run failed
        return State(code, warehouse, {}, {}, {})
    fct = {row["request_id"]: row for row in inst.serving_records("select * from marts.fct_cost")}
    daily = dict(inst.serving_rows("select period_start, sum(request_count) from marts.cost_overview_daily group by 1"))
    return State(code, warehouse, inst.published(), fct, daily)


@pytest.fixture(scope="module")
def stages(module_installation: Installation) -> Iterator[dict[str, State]]:
    inst = module_installation
    inst.write_catalog(CATALOG)
    inst.write_jsonl(D1, "a.jsonl", [
        usage_record("r1", "2026-11-05T01:00:00Z"),
        usage_record("r1", "2026-11-05T01:00:00Z", usage={"input_tokens": 7}),
        usage_record("r2", "2026-11-04T23:00:00Z"),
        usage_record("u1", "2026-11-05T03:00:00Z", model="x/new"),
        "garbage",
    ])  # fmt: skip
    wrong = inst.write_jsonl(D1, "wrong.jsonl", [usage_record("w1", "2026-11-02T01:00:00Z")])
    inst.write_jsonl(D2, "a.jsonl", [usage_record("m1", "2026-11-03T10:00:00Z"),
                                     usage_record("m2", "2026-11-03T11:00:00Z")])  # fmt: skip
    states = {"first": _state(inst, inst.run(D1, D2))}
    states["again"] = _state(inst, inst.run(D1))

    inst.write_jsonl(D1, "late.jsonl.gz", [usage_record("r3", "2026-11-05T02:00:00Z")])
    wrong.unlink()
    inst.write_catalog(CATALOG, NEW_PRICE)
    states["late"] = _state(inst, inst.run(D1))

    inst.write_jsonl(D3, "fix.jsonl", [usage_record("m1", "2026-11-04T10:00:00Z", usage={"input_tokens": 10})])
    states["moved"] = _state(inst, inst.run(D3))
    yield states


def test_every_run_succeeds(stages: dict[str, State]) -> None:
    assert [state.code for state in stages.values()] == [0, 0, 0, 0]
    assert set(stages["first"].fct) == {"r1", "r2", "w1", "m1", "m2"}


def test_rerunning_a_day_is_idempotent(stages: dict[str, State]) -> None:
    assert stages["again"].warehouse == stages["first"].warehouse
    assert stages["again"].published == stages["first"].published


def test_a_late_file_in_an_old_folder_is_picked_up_by_rerunning_that_day(stages: dict[str, State]) -> None:
    assert "r3" in stages["late"].fct and "r3" not in stages["first"].fct
    assert stages["late"].daily_requests[datetime(2026, 11, 5)] == 3  # r1 (once), r3 and u1, now priced


def test_an_unpriced_record_is_costed_by_a_rerun_once_its_price_exists(stages: dict[str, State]) -> None:
    def reasons(state: State) -> list[str]:
        return sorted(row[4] for row in state.warehouse["quarantine.rejected_usage"])

    assert reasons(stages["first"]) == ["malformed_record", "unpriced"]
    assert reasons(stages["late"]) == ["malformed_record"]
    assert stages["late"].fct["u1"]["model"] == "x/new"


def test_a_removed_file_takes_its_records_out_on_rerun(stages: dict[str, State]) -> None:
    assert "w1" in stages["first"].fct and "w1" not in stages["late"].fct
    assert datetime(2026, 11, 2) in stages["first"].daily_requests
    assert datetime(2026, 11, 2) not in stages["late"].daily_requests  # no zero row left behind


def test_a_correction_that_moves_a_request_to_another_day_leaves_no_trace_on_the_old_day(
    stages: dict[str, State],
) -> None:
    moved = stages["moved"].fct["m1"]
    assert (moved["created_at"], moved["input_tokens"], str(moved["arrival_date"])) == (
        datetime(2026, 11, 4, 10), 10, D3)  # fmt: skip
    days = stages["moved"].daily_requests
    assert (days[datetime(2026, 11, 3)], days[datetime(2026, 11, 4)]) == (1, 2)  # m2; m1 beside r2
