"""One realistic two-day scenario through the whole pipeline (ingest, dbt, publish).

Covers rating (pricing.md), UTC event days, unpriced records, latest delivery
wins across files and days, conservation per arrival day and the three file
formats. Expected values are computed here independently of the SQL.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

import pytest

from meterline.spark_tables import export_folder
from orchestration.resources import MeterlinePaths
from tests.helpers import Installation, usage_record

pytestmark = pytest.mark.pipeline

MILLION = Decimal(1_000_000)
OLD, NEW = "2020-01-01", "2026-11-05T10:30:00Z"
# (provider, model, effective_from) -> prices per pricing.md, with its defaults applied
PRICES: dict[tuple[str, str, str], dict[str, Decimal]] = {
    ("openai", "openai/gpt-test", OLD): dict(
        inp="2.5", cached="0.25", write="3.125", out="10", req="0", img="0", web="0.01"
    ),
    ("openai", "openai/gpt-test", NEW): dict(inp="2", cached="0.2", write="2.5", out="8", req="0", img="0", web="0.01"),
    ("openai", "openai/image-test", OLD): dict(inp="5", cached="5", write="5", out="40", req="0", img="0.04", web="0"),
    ("openai", "openai/embed-test", OLD): dict(
        inp="0.02", cached="0.02", write="0.02", out="0", req="0.0001", img="0", web="0"
    ),
}
PRICES = {key: {name: Decimal(v) for name, v in row.items()} for key, row in PRICES.items()}
CATALOG = [
    "openai,openai/gpt-test,LLM,2020-01-01,2.5,0.25,3.125,10,,,0.01",
    "openai,openai/gpt-test,LLM,2026-11-05T10:30:00Z,2,0.2,2.5,8,,,0.01",
    "openai,openai/image-test,Vision,2020-01-01,5,,,40,,0.04,",
    "openai,openai/embed-test,Embedding,2020-01-01,0.02,,,0,0.0001,,",
]

DAY1, DAY2 = "2026-11-05", "2026-11-06"
U = usage_record
DAY1_A = [  # a.jsonl
    U("uncached", "2026-11-05T10:00:00Z", usage={"input_tokens": 1000, "output_tokens": 500}),
    U(
        "cached",
        "2026-11-05T10:29:59.999Z",
        usage={"input_tokens": 1000, "cached_input_tokens": 400, "cache_write_tokens": 100, "output_tokens": 200},
    ),
    U(
        "after_change",
        "2026-11-05T10:30:00Z",
        usage={"input_tokens": 1000, "cached_input_tokens": 400, "cache_write_tokens": 100, "output_tokens": 200},
    ),
    U(
        "reasoning",
        "2026-11-05T11:00:00Z",
        endpoint="responses",
        usage={"input_tokens": 10, "output_tokens": 1000, "reasoning_tokens": 600},
    ),
    U(
        "image",
        "2026-11-05T12:00:00Z",
        model="openai/image-test",
        endpoint="images.generations",
        usage={"input_tokens": 50, "images": 3},
    ),
    U(
        "embedding",
        "2026-11-05T12:00:00Z",
        model="openai/embed-test",
        endpoint="embeddings",
        usage={"input_tokens": 2000},
    ),
    U("web", "2026-11-05T13:00:00Z", usage={"input_tokens": 100, "output_tokens": 100, "web_search_calls": 2}),
    U("subscription", "2026-11-05T13:00:00Z", billing_mode="subscription"),
    U("unpriced", "2026-11-05T13:00:00Z", model="openai/not-in-catalog"),
    U("east", "2026-11-06T02:00:00+08:00"),  # 2026-11-05 18:00 UTC
    U("west", "2026-11-05T20:30:00-05:00"),  # 2026-11-06 01:30 UTC: event day after its arrival day
    U("dup", "2026-11-05T14:00:00Z", usage={"input_tokens": 100}),
    "{broken json",
    U("neg", "2026-11-05T14:00:00Z", usage={"input_tokens": -5}),
]
DAY1_B = [  # b.jsonl.gz: a later file of the same day
    U("dup", "2026-11-05T14:00:00Z", usage={"input_tokens": 200}),
    U("gz_only", "2026-11-05T15:00:00Z", endpoint="rerank"),
]
DAY2_C = [  # c.parquet on the next arrival day
    U("dup", "2026-11-05T14:00:00Z", usage={"input_tokens": 300, "output_tokens": 0}),
    U("late", "2026-11-04T23:59:59Z"),  # made the day before it landed
    U("day2", "2026-11-06T09:00:00Z", billing_mode="nope"),
]


@pytest.fixture(scope="module")
def scenario(module_installation: Installation) -> Installation:
    inst = module_installation
    inst.write_catalog(*CATALOG)
    inst.write_jsonl(DAY1, "a.jsonl", DAY1_A)
    inst.write_jsonl(DAY1, "b.jsonl.gz", DAY1_B)
    inst.write_parquet(DAY2, "c.parquet", DAY2_C)
    assert inst.run(DAY1, DAY2) == 0
    return inst


def _fct(inst: Installation) -> dict[str, dict[str, Any]]:
    columns = [
        "request_id",
        "created_at",
        "arrival_date",
        "model_type",
        "purpose",
        "endpoint",
        "billing_mode",
        "input_tokens",
        "input_cost",
        "output_cost",
        "other_cost",
        "total_cost",
        "price_effective_from",
    ]
    rows = inst.warehouse_rows(f"select {', '.join(columns)} from marts.fct_cost")
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}


def _expected_costs(record: dict[str, Any], price: dict[str, Decimal]) -> tuple[Decimal, ...]:
    usage = {
        k: Decimal(record["usage"].get(k, 0))
        for k in (
            "input_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "output_tokens",
            "images",
            "web_search_calls",
        )
    }
    with localcontext() as ctx:
        ctx.prec = 60
        uncached = usage["input_tokens"] - usage["cached_input_tokens"] - usage["cache_write_tokens"]
        input_cost = (
            uncached * price["inp"]
            + usage["cached_input_tokens"] * price["cached"]
            + usage["cache_write_tokens"] * price["write"]
        ) / MILLION
        output_cost = usage["output_tokens"] * price["out"] / MILLION
        other_cost = price["req"] + usage["images"] * price["img"] + usage["web_search_calls"] * price["web"]
        return input_cost, output_cost, other_cost, input_cost + output_cost + other_cost


@pytest.mark.parametrize(
    ("request_id", "effective_from"),
    [
        ("uncached", OLD),
        ("cached", OLD),
        ("after_change", NEW),
        ("reasoning", NEW),
        ("image", OLD),
        ("embedding", OLD),
        ("web", NEW),
        ("subscription", NEW),
    ],
)
def test_costs_follow_pricing_formulas_exactly(scenario: Installation, request_id: str, effective_from: str) -> None:
    record = next(r for r in DAY1_A if isinstance(r, dict) and r["request_id"] == request_id)
    row = _fct(scenario)[request_id]
    expected = _expected_costs(record, PRICES[("openai", record["model"], effective_from)])
    assert (row["input_cost"], row["output_cost"], row["other_cost"], row["total_cost"]) == expected
    assert row["price_effective_from"] == (
        datetime(2020, 1, 1) if effective_from == OLD else datetime(2026, 11, 5, 10, 30)
    )


def test_a_price_change_applies_from_its_instant_inside_the_hour(scenario: Installation) -> None:
    fct = _fct(scenario)
    assert fct["cached"]["input_cost"] != fct["after_change"]["input_cost"]
    hour = scenario.warehouse_rows(
        "select sum(total_cost) from marts.cost_cube_hourly where period_start = '2026-11-05 10:00:00'"
    )[0][0]
    assert hour == sum(fct[r]["total_cost"] for r in ("uncached", "cached", "after_change"))


def test_purpose_and_model_type(scenario: Installation) -> None:
    fct = _fct(scenario)
    assert {
        r: (fct[r]["purpose"], fct[r]["model_type"]) for r in ("uncached", "reasoning", "image", "embedding", "gz_only")
    } == {
        "uncached": ("chat", "LLM"),
        "reasoning": ("reasoning", "LLM"),
        "image": ("image_generation", "Vision"),
        "embedding": ("embedding", "Embedding"),
        "gz_only": ("other", "LLM"),
    }


def test_offsets_become_utc_and_decide_the_event_day(scenario: Installation) -> None:
    fct = _fct(scenario)
    assert fct["east"]["created_at"] == datetime(2026, 11, 5, 18, 0)
    assert fct["west"]["created_at"] == datetime(2026, 11, 6, 1, 30)
    days = dict(scenario.warehouse_rows("select period_start, request_count from marts.cost_overview_daily"))
    # payg requests by UTC event day (subscription excluded; dup counted once)
    assert days == {datetime(2026, 11, 4): 1, datetime(2026, 11, 5): 10, datetime(2026, 11, 6): 1}


def test_unpriced_records_are_quarantined_not_costed(scenario: Installation) -> None:
    assert "unpriced" not in _fct(scenario)
    rows = scenario.warehouse_rows(
        "select arrival_date, source_file, line_number, reason, detail from quarantine.rejected_usage "
        "where request_id = 'unpriced'"
    )
    assert len(rows) == 1
    arrival, source, line, reason, detail = rows[0]
    assert (str(arrival), source, line, reason) == (DAY1, "a.jsonl", 9, "unpriced")
    assert "openai/not-in-catalog" in detail


def test_latest_delivery_wins_across_files_and_days(scenario: Installation) -> None:
    row = _fct(scenario)["dup"]
    assert (row["input_tokens"], str(row["arrival_date"])) == (300, DAY2)
    assert scenario.serving_rows("select count(*) from marts.fct_cost where request_id = 'dup'") == [(1,)]


def test_conservation_per_arrival_day(scenario: Installation) -> None:
    read = dict(scenario.warehouse_rows("select cast(arrival_date as string), records_read from raw.arrival_manifest"))
    costed = dict(
        scenario.warehouse_rows("select cast(arrival_date as string), count(*) from marts.fct_cost group by 1")
    )
    quarantined = dict(
        scenario.warehouse_rows(
            "select cast(arrival_date as string), count(*) from quarantine.rejected_usage group by 1"
        )
    )
    superseded = {DAY1: 2, DAY2: 0}  # dup in a.jsonl and in b.jsonl.gz, superseded by c.parquet
    assert read == {DAY1: len(DAY1_A) + len(DAY1_B), DAY2: len(DAY2_C)}
    for day in (DAY1, DAY2):
        assert read[day] == costed.get(day, 0) + superseded[day] + quarantined.get(day, 0)


def test_records_from_every_file_format_are_costed(scenario: Installation) -> None:
    sources = dict(
        scenario.warehouse_rows(
            "select request_id, source_file from marts.fct_cost join raw.usage_records using (request_id, arrival_date) "
            "where request_id in ('uncached', 'gz_only', 'late')"
        )
    )
    assert sources == {"uncached": "a.jsonl", "gz_only": "b.jsonl.gz", "late": "c.parquet"}


def test_subscription_usage_is_in_fct_cost_but_not_in_aggregates(scenario: Installation) -> None:
    assert _fct(scenario)["subscription"]["billing_mode"] == "subscription"
    payg_total = scenario.warehouse_rows("select sum(total_cost) from marts.fct_cost where billing_mode = 'payg'")
    assert scenario.warehouse_rows("select sum(total_cost) from marts.cost_overview_monthly") == payg_total


def test_the_checks_and_publish_read_exactly_what_the_engine_built(scenario: Installation) -> None:
    """MeterlinePaths.built_warehouse (DuckDB; on Spark, views over its tables' files and its
    exported views) holds the engine's rows and types, partition_date as a DATE."""
    relations = [
        "marts.fct_cost",
        "marts.cost_cube_hourly",
        "marts.cost_by_model_daily",
        "marts.cost_overview_monthly",
        "intermediate.int_batch_event_days",
        "intermediate.int_unpriced_usage",
        "quarantine.rejected_usage",
        "raw.usage_records",
        "raw.arrival_manifest",
    ]
    try:
        with MeterlinePaths().built_warehouse("test-read") as con:
            read = {name: sorted(con.execute(f"select * from {name}").fetchall(), key=repr) for name in relations}
            types = dict(con.execute("select column_name, column_type from (describe marts.fct_cost)").fetchall())
    finally:
        shutil.rmtree(export_folder(scenario.serving, "test-read"), ignore_errors=True)
    for name in relations:
        assert read[name] == sorted(scenario.warehouse_rows(f"select * from {name}"), key=repr), name
    assert len(read["intermediate.int_unpriced_usage"]) == 1 and len(read["quarantine.rejected_usage"]) == 4
    assert (types["created_at"], types["arrival_date"], types["total_cost"], types["partition_date"]) == (
        "TIMESTAMP",
        "DATE",
        "DECIMAL(38,18)",
        "DATE",
    )
