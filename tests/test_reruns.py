"""Reruns: idempotent, late files, late prices, corrections and removed files."""

from __future__ import annotations

from datetime import datetime

from tests.conftest import Installation, usage_record, on_every_engine

pytestmark = on_every_engine

CATALOG = "openai,openai/gpt-test,LLM,2020-01-01,2,,,8,,,"
MARTS = ["fct_cost", "cost_cube_hourly", "cost_cube_daily", "cost_cube_monthly", "cost_by_api_key_monthly"]


def _snapshot(inst: Installation) -> dict[str, list[tuple]]:
    tables = [f"marts.{t}" for t in MARTS] + ["quarantine.rejected_usage", "raw.usage_records"]
    return {t: sorted(inst.warehouse_rows(f"select * from {t}"), key=repr) for t in tables}


def _served(inst: Installation, table: str) -> list[tuple]:
    return sorted(inst.serving_rows(f"select * from marts.{table}"), key=repr)


def test_rerunning_a_day_is_idempotent(installation: Installation) -> None:
    installation.write_catalog(CATALOG)
    installation.write_jsonl("2026-11-05", "a.jsonl", [
        usage_record("r1", "2026-11-05T01:00:00Z"),
        usage_record("r1", "2026-11-05T01:00:00Z", usage={"input_tokens": 7}),
        usage_record("r2", "2026-11-04T23:00:00Z"),
        "garbage",
    ])
    assert installation.run("2026-11-05") == 0
    before, served = _snapshot(installation), _served(installation, "cost_cube_hourly")
    assert installation.run("2026-11-05") == 0
    assert _snapshot(installation) == before
    assert _served(installation, "cost_cube_hourly") == served


def test_a_late_file_in_an_old_folder_is_picked_up_by_rerunning_that_day(installation: Installation) -> None:
    installation.write_catalog(CATALOG)
    installation.write_jsonl("2026-11-05", "a.jsonl", [usage_record("r1", "2026-11-05T01:00:00Z")])
    installation.write_jsonl("2026-11-06", "a.jsonl", [usage_record("r2", "2026-11-06T01:00:00Z")])
    assert installation.run("2026-11-05", "2026-11-06") == 0
    installation.write_jsonl("2026-11-05", "late.jsonl.gz", [usage_record("r3", "2026-11-05T02:00:00Z")])
    assert installation.run("2026-11-05") == 0
    assert installation.serving_rows("select request_id from marts.fct_cost order by 1") == [("r1",), ("r2",), ("r3",)]
    assert installation.serving_rows(
        "select request_count from marts.cost_overview_daily where period_start = '2026-11-05'") == [(2,)]


def test_an_unpriced_record_is_costed_by_a_rerun_once_its_price_exists(installation: Installation) -> None:
    installation.write_catalog(CATALOG)
    installation.write_jsonl("2026-11-05", "a.jsonl", [usage_record("r1", "2026-11-05T01:00:00Z", model="x/new")])
    assert installation.run("2026-11-05") == 0
    assert installation.warehouse_rows("select reason from quarantine.rejected_usage") == [("unpriced",)]

    installation.write_catalog(CATALOG, "openai,x/new,LLM,2026-11-01,1,,,1,,,")
    assert installation.run("2026-11-05") == 0
    assert installation.warehouse_rows("select count(*) from quarantine.rejected_usage") == [(0,)]
    assert installation.serving_rows("select request_id, model from marts.fct_cost") == [("r1", "x/new")]


def test_a_correction_that_moves_a_request_to_another_day_leaves_no_trace_on_the_old_day(
    installation: Installation,
) -> None:
    installation.write_catalog(CATALOG)
    installation.write_jsonl("2026-11-05", "a.jsonl", [usage_record("r1", "2026-11-03T10:00:00Z"),
                                                      usage_record("r2", "2026-11-03T11:00:00Z")])
    assert installation.run("2026-11-05") == 0
    installation.write_jsonl("2026-11-06", "fix.jsonl", [
        usage_record("r1", "2026-11-04T10:00:00Z", usage={"input_tokens": 10})])
    assert installation.run("2026-11-06") == 0
    assert installation.serving_rows("select request_id, created_at, input_tokens from marts.fct_cost order by 1") == [
        ("r1", datetime(2026, 11, 4, 10), 10), ("r2", datetime(2026, 11, 3, 11), 1000)]
    assert dict(installation.serving_rows("select period_start, request_count from marts.cost_overview_daily")) == {
        datetime(2026, 11, 3): 1, datetime(2026, 11, 4): 1}


def test_a_removed_file_takes_its_records_out_on_rerun(installation: Installation) -> None:
    installation.write_catalog(CATALOG)
    installation.write_jsonl("2026-11-05", "a.jsonl", [usage_record("r1", "2026-11-05T01:00:00Z")])
    wrong = installation.write_jsonl("2026-11-05", "wrong.jsonl", [usage_record("r2", "2026-11-02T01:00:00Z")])
    assert installation.run("2026-11-05") == 0
    wrong.unlink()
    assert installation.run("2026-11-05") == 0
    assert installation.serving_rows("select request_id from marts.fct_cost") == [("r1",)]
    assert installation.serving_rows(
        "select count(*) from marts.cost_cube_daily where period_start = '2026-11-02'") == [(0,)]
