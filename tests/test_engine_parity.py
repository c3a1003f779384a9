"""Spark against DuckDB: one scenario played on both engines, every published table compared.

The contract tests (test_pipeline, test_reruns, test_marts, test_publish, test_data_quality) hold
the DuckDB engine to the contracts; this module holds Spark to DuckDB, exactly: the same rows, the
same column types, the same exact decimals, the same exit codes, after each stage of the scenario:

1. a first run of two arrival days: generated traffic (every endpoint, cached and cache-write
   tokens, reasoning, images, web searches, offsets, late and re-delivered records, a renamed key,
   subscriptions, invalid lines, unpriced routes) and hand-written records; every published table
   is compared;
   Among them requests with a region (priced by their region's row, or by the region-less one) and
   a model served by two providers (the provider alternatives);
2. a rerun of three days with a late file, a correction that moves a request to another event day,
   a removed file, a price change in the middle of an hour (also at the alternative provider) and a
   price for an unpriced model, after
   a defect was planted in the engine's own fct_cost: a blocking check fails and nothing is
   published, so the engines' own marts are compared (the rebuilt partitions replaced, not added
   to, on both).

Two Spark runs: each costs minutes on 2 cores (every dbt model and test is a Spark job).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from meterline.quality import report
from meterline.sample import generate_landing
from meterline.settings import DEFAULT_PRICES
from tests.helpers import (
    HAS_SPARK,
    NO_SPARK_REASON,
    Installation,
    install,
    usage_record,
)

pytestmark = [pytest.mark.spark, pytest.mark.pipeline, pytest.mark.skipif(not HAS_SPARK, reason=NO_SPARK_REASON)]

D1, D2, D3 = "2026-11-05", "2026-11-06", "2026-11-07"
TEST_PRICES = (
    "openai,openai/gpt-test,LLM,2020-01-01,2.5,0.25,3.125,10,,,0.01",
    "openai,openai/gpt-test,LLM,2020-01-01,2.75,0.275,3.4375,11,,,0.01,us",  # a region row
    "azure,openai/gpt-test,LLM,2020-01-01,2,0.2,2.5,8,,,",  # an alternative provider
    "openai,openai/image-test,Vision,2020-01-01,5,,,40,,0.04,",
    "openai,x/extreme,LLM,2020-01-01,1000000000,,,1,,,",  # $10^9 per million input tokens
)
PRICE_CHANGES = (
    "openai,openai/gpt-test,LLM,2026-11-05T10:30:00Z,2,0.2,2.5,8,,,0.01",  # mid-hour
    "azure,openai/gpt-test,LLM,2026-11-05T10:45:00Z,3,0.3,3.75,12,,,",  # mid-day at the alternative
    "openai,x/priced-later,LLM,2026-01-01,1,,,3,0.0003,,",
)
U = usage_record
CACHED = {"input_tokens": 1000, "cached_input_tokens": 400, "cache_write_tokens": 100, "output_tokens": 200}


@dataclass(frozen=True)
class Stage:
    code: int
    report_status: str
    failed_checks: set[tuple[str, str]]
    published: dict[str, list[tuple]]
    types: list[tuple]
    quarantine: list[tuple]
    marts: dict[str, list[tuple]]  # the engine's own marts (a blocked run's rows are only there)


def _stage(inst: Installation, code: int) -> Stage:
    types = inst.serving_rows(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' order by table_name, ordinal_position")  # fmt: skip
    quarantine = sorted(inst.warehouse_rows(
        "select cast(arrival_date as string), source_file, line_number, request_id, reason, detail "
        "from quarantine.rejected_usage"), key=repr)  # fmt: skip
    summary = report.load_summary(inst.reports / report.LATEST)
    failed = {(check["asset"], check["name"]) for check in summary["checks"] if not check["passed"]}
    columns: dict[str, list[str]] = {}
    for table, column, _ in types:
        columns.setdefault(table, []).append(column)
    marts = {table: sorted(inst.warehouse_rows(
        f"select {', '.join(names)} from marts.{table} where request_id <> 'ghost'" if table == "fct_cost"
        else f"select {', '.join(names)} from marts.{table}"), key=repr) for table, names in columns.items()}  # fmt: skip
    return Stage(code, summary["status"], failed, inst.published(), types, quarantine, marts)


def _catalog(*extra: str) -> list[str]:
    return [*DEFAULT_PRICES.read_text(encoding="utf-8").splitlines()[1:], *TEST_PRICES, *extra]


def play(inst: Installation) -> list[Stage]:
    """The scenario on one installation; the state after each stage."""
    inst.write_catalog(*_catalog())
    generate_landing(inst.landing, days=2, rows_per_day=400, seed=5, start=date.fromisoformat(D1), catalog=inst.prices)
    inst.write_jsonl(D1, "hand.jsonl", [
        U("p1", "2026-11-05T10:29:59.999Z", usage=CACHED),
        U("p2", "2026-11-05T10:30:00Z", usage=CACHED),
        U("p3", "2026-11-05T12:00:00+08:00"),
        U("p4", "2026-11-05T13:00:00Z", model="x/priced-later", usage={"input_tokens": 7, "output_tokens": 3}),
        U("p5", "2026-11-05T14:00:00Z", model="openai/image-test", endpoint="images.generations",
          usage={"input_tokens": 50, "images": 3}),
        U("p6", "2026-11-05T15:00:00Z", usage={"input_tokens": 3, "output_tokens": 1, "web_search_calls": 1}),
        U("r1", "2026-11-05T10:00:00Z", region="us", usage=CACHED),  # its region's row
        U("r2", "2026-11-05T11:00:00Z", region="eu", usage=CACHED),  # no eu row: the region-less one
        U("r3", "2026-11-05T11:00:00Z", provider="azure", usage=CACHED),
        # $10^11 alone in its model's groups: an average of 12 integer digits, which the exact division
        # holds and Spark's own DECIMAL division (11 integer digits at these types) cannot.
        U("x1", "2026-11-05T16:00:00Z", model="x/extreme", usage={"input_tokens": 100_000_000, "output_tokens": 0}),
    ])  # fmt: skip
    removed = inst.write_jsonl(D2, "removed.jsonl", [
        U("q1", "2026-11-06T01:00:00Z"), U("q2", "2026-11-04T23:00:00Z", api_key_name="Old name")])  # fmt: skip
    stages = [_stage(inst, inst.run(D1, D2))]

    inst.write_catalog(*_catalog(*PRICE_CHANGES))
    inst.write_jsonl(D1, "late.jsonl", [U("p7", "2026-11-05T16:00:00-05:00")])
    inst.write_jsonl(D3, "fix.jsonl", [
        U("p3", "2026-11-06T05:00:00Z", usage={"input_tokens": 10, "output_tokens": 10}),  # moved to D2
        U("p8", "2026-11-07T00:00:00Z", api_key_name="Prod key, renamed"),
    ])  # fmt: skip
    removed.unlink()
    # A costed row claiming arrival day D3 on an event day no run of this scenario rebuilds.
    [(like,)] = inst.warehouse_rows("select min(request_id) from marts.fct_cost where billing_mode = 'payg'")
    inst.plant_fct_cost_row(
        like,
        request_id="'ghost'",
        arrival_date=f"date '{D3}'",
        billing_mode="'subscription'",
        created_at="timestamp '2026-10-01 12:00:00'",
        partition_date="date '2026-10-01'",
    )
    stages.append(_stage(inst, inst.run(D1, D3)))
    return stages


@pytest.fixture(scope="module")
def played(roots: Path, spark_warehouse: Path) -> Iterator[dict[str, list[Stage]]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        stages = {"duckdb": play(install(roots / "parity-duckdb", monkeypatch))}
    with pytest.MonkeyPatch.context() as monkeypatch:
        stages["spark"] = play(install(roots / "parity-spark", monkeypatch, "spark", spark_warehouse))
    yield stages


def _assert_same_tables(spark: dict[str, list[tuple]], duck: dict[str, list[tuple]]) -> None:
    assert set(spark) == set(duck)
    for table, rows in duck.items():
        assert spark[table] == rows, table


STAGES = pytest.mark.parametrize("stage", [0, 1], ids=["first-run", "blocked-rerun"])


def test_the_scenario_runs_publishes_and_blocks_as_the_contracts_say(played: dict[str, list[Stage]]) -> None:
    first, rerun = played["duckdb"]
    assert (first.code, rerun.code) == (0, 1)
    assert (first.report_status, rerun.report_status) == ("warnings", "blocked")
    assert rerun.failed_checks - first.failed_checks == {("fct_cost", "conservation")}
    assert rerun.published == first.published  # blocked: nothing published
    assert len(first.published) == 24 and all(rows for rows in first.published.values())
    # What the rerun had to get right, so that Spark agreeing with DuckDB means something:
    fct = {row[0]: row for row in rerun.marts["fct_cost"]}
    first_fct = {row[0]: row for row in first.marts["fct_cost"]}
    assert {"q1", "q2", "p1", "p3"} <= set(first_fct) and "p4" not in first_fct  # p4 unpriced at first
    assert {"p1", "p2", "p3", "p4", "p7", "p8"} <= set(fct) and not {"q1", "q2"} & set(fct)
    assert ("p4", "unpriced") in {(row[3], row[4]) for row in first.quarantine}
    assert ("p4", "unpriced") not in {(row[3], row[4]) for row in rerun.quarantine}
    assert fct["p3"][1].day == 6 and first_fct["p3"][1].day == 5  # moved to D2's event day

    def price(row: tuple) -> tuple:  # (other_cost, total_cost, price_effective_from)
        return row[-3:]

    assert price(fct["p2"]) != price(first_fct["p2"]) and price(fct["p1"]) == price(first_fct["p1"])  # from 10:30
    assert price(first_fct["x1"])[1] == Decimal(10**11)
    columns = [column for table, column, _ in first.types if table == "provider_model_details_daily"]
    [extreme] = [row for row in first.published["provider_model_details_daily"] if "x/extreme" in row]
    assert extreme[columns.index("avg_cost_per_request")] == Decimal(10**11)
    assert {row[5] for row in rerun.marts["fct_cost"] if row[4] == "key_1"} == {"Prod key, renamed"}


@STAGES
def test_spark_exits_and_reports_as_duckdb_does(played: dict[str, list[Stage]], stage: int) -> None:
    spark, duck = played["spark"][stage], played["duckdb"][stage]
    assert (spark.code, spark.report_status, spark.failed_checks) == (duck.code, duck.report_status, duck.failed_checks)


@STAGES
def test_spark_publishes_every_table_with_the_same_columns_and_types(
    played: dict[str, list[Stage]], stage: int
) -> None:
    assert played["spark"][stage].types == played["duckdb"][stage].types


@STAGES
def test_spark_publishes_exactly_the_rows_duckdb_publishes(played: dict[str, list[Stage]], stage: int) -> None:
    _assert_same_tables(played["spark"][stage].published, played["duckdb"][stage].published)


@STAGES
def test_spark_builds_exactly_the_marts_duckdb_builds(played: dict[str, list[Stage]], stage: int) -> None:
    """After the rerun (blocked, so not published) the engines' own marts: partitions replaced."""
    _assert_same_tables(played["spark"][stage].marts, played["duckdb"][stage].marts)


@STAGES
def test_spark_quarantines_exactly_what_duckdb_quarantines(played: dict[str, list[Stage]], stage: int) -> None:
    assert played["spark"][stage].quarantine == played["duckdb"][stage].quarantine
