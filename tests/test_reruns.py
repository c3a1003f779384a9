"""Reruns: idempotent, late files, late prices, corrections that move a request, removed files.

One installation goes through four real runs, in order; each test reads the state a stage left:

1. arrival days 2026-11-05 and 2026-11-06: the first run (a record twice in one file, a late
   record, an unpriced model, an invalid line, a file that will be removed);
2. 2026-11-05 again, nothing changed: the rerun must change nothing;
3. 2026-11-05 again after a late file landed in its folder, the wrong file was removed and the
   unpriced model got its price;
4. arrival day 2026-11-08, which has no folder: a night where nothing arrived;
5. arrival day 2026-11-07: a correction that moves a request of 2026-11-06 to another event day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg
import pytest

from meterline.quality import report
from orchestration.quality import CARRIED_OVER
from tests.helpers import Installation, usage_record

pytestmark = pytest.mark.pipeline

CATALOG = "openai,openai/gpt-test,LLM,2020-01-01,2,,,8,,,"
NEW_PRICE = "openai,x/new,LLM,2026-11-01,1,,,1,,,"
D1, D2, D3, EMPTY = "2026-11-05", "2026-11-06", "2026-11-07", "2026-11-08"
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
    run_id: str
    batch_rows: tuple[int, int]  # rows of int_batch_event_days and int_usage_deduped: the run's batch
    warehouse: dict[str, list[tuple]]
    published: dict[str, list[tuple]]
    fct: dict[str, dict[str, Any]]  # published fct_cost by request_id
    daily_requests: dict[datetime, int]  # published requests per UTC day


def _state(inst: Installation, code: int) -> State:
    run_id = report.load_summary(inst.reports / report.LATEST)["run_id"]
    warehouse = {t: sorted(inst.warehouse_rows(f"select * from {t}"), key=repr) for t in TABLES}
    [batch_rows] = inst.warehouse_rows(
        "select (select count(*) from intermediate.int_batch_event_days), "
        "(select count(*) from intermediate.int_usage_deduped)"
    )
    if not inst.serving.exists():  # nothing was ever published: the first run failed
        return State(code, run_id, batch_rows, warehouse, {}, {}, {})
    fct = {row["request_id"]: row for row in inst.serving_records("select * from marts.fct_cost")}
    daily = dict(inst.serving_rows("select period_start, sum(request_count) from marts.cost_overview_daily group by 1"))
    return State(code, run_id, batch_rows, warehouse, inst.published(), fct, daily)


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
    states["empty"] = _state(inst, inst.run(EMPTY))

    inst.write_jsonl(D3, "fix.jsonl", [usage_record("m1", "2026-11-04T10:00:00Z", usage={"input_tokens": 10})])
    states["moved"] = _state(inst, inst.run(D3))
    yield states


def test_every_run_succeeds(stages: dict[str, State]) -> None:
    assert [state.code for state in stages.values()] == [0, 0, 0, 0, 0]
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


def test_a_night_where_nothing_arrived_rebuilds_nothing_and_reports_every_model_and_test(
    stages: dict[str, State], module_installation: Installation
) -> None:
    """dbt builds the two tables of the run's batch alone (to empty); every other model and dbt test is
    reported as its last build left it, in Dagster and in the run's report; the next night builds in full."""
    empty, late = stages["empty"], stages["late"]
    assert (empty.warehouse, empty.published) == (late.warehouse, late.published)
    assert empty.batch_rows == (0, 0) and late.batch_rows != (0, 0)
    instance = dg.DagsterInstance.get()

    def materialized(asset: str) -> dict[str, dg.AssetMaterialization]:
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
        return {record.event_log_entry.run_id: record.asset_materialization for record in records}

    fct_cost, batch_days = materialized("fct_cost"), materialized("int_batch_event_days")
    # fct_cost was not rebuilt: reported with its last build's run and data version
    assert fct_cost[empty.run_id].metadata[CARRIED_OVER].value == late.run_id
    assert fct_cost[empty.run_id].tags["dagster/data_version"] == fct_cost[late.run_id].tags["dagster/data_version"]
    assert CARRIED_OVER not in batch_days[empty.run_id].metadata  # dbt built this one
    summary = report.load_summary(report.find_run(module_installation.reports, stages["moved"].run_id))
    dbt_tests = [check for check in summary["checks"] if check["source"] == "dbt"]
    assert dbt_tests and all(check["passed"] for check in dbt_tests)
    assert not any("not run again" in check["summary"] for check in dbt_tests)  # the next night: dbt again
    empty_report = report.load_summary(report.find_run(module_installation.reports, empty.run_id))
    carried = [check for check in empty_report["checks"] if check["source"] == "dbt"]
    assert {check["name"] for check in carried} == {check["name"] for check in dbt_tests}
    assert all(check["passed"] for check in carried)
    rebuilt = {"int_batch_event_days", "int_usage_deduped"}  # the tables of the batch, rebuilt to empty
    assert {check["asset"] for check in carried if "not run again" not in check["summary"]} == rebuilt
    log = (report.find_run(module_installation.reports, empty.run_id) / "run.log").read_text(encoding="utf-8")
    assert (
        "nothing arrived in arrival days 2026-11-08 .. 2026-11-09 (end excluded): "
        "dbt builds int_batch_event_days and int_usage_deduped only (to empty)"
    ) in log
