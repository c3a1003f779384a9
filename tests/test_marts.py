"""The published marts against marts.md: tables, columns, types, reconciliation, names."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from meterline.sample import generate_landing
from meterline.settings import DEFAULT_PRICES
from tests.helpers import Installation

pytestmark = pytest.mark.pipeline

GRAINS = {"hourly": "hour", "daily": "day", "monthly": "month"}
MEASURES = [
    "request_count",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "images",
    "web_search_calls",
    "input_cost",
    "output_cost",
    "other_cost",
    "total_cost",
]
# marts.md: table -> its grain columns (besides period_start) and extra columns
AGGREGATES = {
    "cost_cube": (["account_id", "api_key_id", "api_key_name", "model", "provider", "model_type", "purpose"], []),
    "cost_overview": (["account_id"], ["avg_cost_per_request", "avg_cost_per_1k_tokens"]),
    "cost_by_model": (["account_id", "model"], []),
    "cost_by_type": (["account_id", "model_type", "purpose"], []),
    "cost_by_api_key": (["account_id", "api_key_id", "api_key_name"], []),
    "cost_by_provider": (["account_id", "provider"], []),
    "provider_model_details": (["account_id", "provider", "model"], ["avg_cost_per_request"]),
}
# The unit prices of the catalog row that priced a request (pricing.md): published beside fct_cost, in
# exports.fct_cost, for the FOCUS export; not in marts.fct_cost, whose columns marts.md fixes.
UNIT_PRICES = [
    "input_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "output_per_mtok",
    "per_request",
    "per_image",
    "per_web_search",
]
FCT_COLUMNS = [
    "request_id",
    "created_at",
    "arrival_date",
    "account_id",
    "api_key_id",
    "api_key_name",
    "model",
    "provider",
    "region",
    "model_type",
    "purpose",
    "endpoint",
    "billing_mode",
    *MEASURES,
    "price_effective_from",
]
# marts.md, "Cheaper providers": daily and monthly only
ALTERNATIVES_COLUMNS = [
    "period_start",
    "account_id",
    "model",
    "provider",
    "alternative_provider",
    "request_count",
    "actual_cost",
    "alternative_cost",
    "savings",
]
ALTERNATIVES_GRAINS = {"daily": "day", "monthly": "month"}
RENAMED_KEY = "key_7f3a9c01"  # the generator renames it in the middle of the period


def _type_family(column: str, duckdb_type: str) -> str:
    if column in ("period_start", "created_at", "price_effective_from"):
        assert duckdb_type == "TIMESTAMP", column
    elif column == "arrival_date":
        assert duckdb_type == "DATE", column
    elif column.endswith("_cost") or column.startswith("avg_") or column == "savings" or column in UNIT_PRICES:
        assert duckdb_type.startswith("DECIMAL("), column
        assert int(duckdb_type.split(",")[1].rstrip(")")) >= 12, column  # exact to 12 places or better
    elif column in MEASURES:
        # request_count a BIGINT; summed usage counters DECIMAL(38,0) in the aggregates (docs/reliability.md)
        assert duckdb_type in ("BIGINT", "INTEGER", "HUGEINT", "DECIMAL(38,0)"), column
    else:
        assert duckdb_type == "VARCHAR", column
    return duckdb_type


@pytest.fixture(scope="module")
def marts(module_installation: Installation) -> Installation:
    inst = module_installation
    inst.prices.write_bytes(DEFAULT_PRICES.read_bytes())
    generate_landing(inst.landing, days=3, rows_per_day=1500, seed=7, start=date(2026, 10, 31))
    assert inst.run("2026-10-31") == 0
    assert inst.run("2026-11-01", "2026-11-02") == 0  # the rename arrives in this second run
    return inst


def test_every_table_and_column_of_the_contract_exists_with_its_type(marts: Installation) -> None:
    expected = {"fct_cost": FCT_COLUMNS}
    for table, (dims, extras) in AGGREGATES.items():
        for grain in GRAINS:
            expected[f"{table}_{grain}"] = ["period_start", *dims, *MEASURES, *extras]
    for grain in ALTERNATIVES_GRAINS:
        expected[f"provider_alternatives_{grain}"] = ALTERNATIVES_COLUMNS
    rows = marts.serving_rows(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' order by table_name, ordinal_position"
    )
    actual: dict[str, list[str]] = {}
    for table, column, data_type in rows:
        _type_family(column, data_type)
        actual.setdefault(table, []).append(column)
    assert {t: sorted(c) for t, c in actual.items()} == {t: sorted(c) for t, c in expected.items()}
    # The exports read fct_cost with the unit prices of the row that priced each request.
    exported = marts.serving_rows(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'exports' and table_name = 'fct_cost' order by ordinal_position"
    )
    assert [column for column, _ in exported] == [*FCT_COLUMNS, *UNIT_PRICES]
    for column, data_type in exported:
        _type_family(column, data_type)


@pytest.mark.parametrize("grain", GRAINS)
@pytest.mark.parametrize("table", AGGREGATES)
def test_every_aggregate_reconciles_exactly_with_payg_fct_cost(marts: Installation, table: str, grain: str) -> None:
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    aggregate = marts.serving_rows(f"select period_start, {sums} from marts.{table}_{grain} group by 1 order by 1")
    facts = marts.serving_rows(
        f"select date_trunc('{GRAINS[grain]}', created_at), {sums} from marts.fct_cost "
        "where billing_mode = 'payg' group by 1 order by 1"
    )
    assert aggregate == facts
    assert len(aggregate) > 1


@pytest.mark.parametrize("grain", GRAINS)
@pytest.mark.parametrize("table", AGGREGATES)
def test_rows_are_consistent_and_never_invented(marts: Installation, table: str, grain: str) -> None:
    bad = marts.serving_rows(
        f"select count(*) from marts.{table}_{grain} "
        "where total_cost <> input_cost + output_cost + other_cost or request_count <= 0"
    )
    assert bad == [(0,)]


def test_averages_are_exact_decimal_ratios(marts: Installation) -> None:
    rows = marts.serving_rows(
        "select total_cost, request_count, input_tokens + output_tokens, avg_cost_per_request, avg_cost_per_1k_tokens "
        "from marts.cost_overview_daily"
    )
    quantum = Decimal("1e-18")
    for total, requests, tokens, per_request, per_1k in rows:
        assert per_request == (total / requests).quantize(quantum, ROUND_HALF_UP)
        assert per_1k == (None if tokens == 0 else (total * 1000 / tokens).quantize(quantum, ROUND_HALF_UP))


def test_a_key_renamed_mid_period_shows_its_new_name_everywhere(marts: Installation) -> None:
    latest = marts.serving_rows(
        "select arg_max(api_key_name, created_at) from marts.fct_cost where api_key_id = $key", {"key": RENAMED_KEY}
    )
    assert latest == [('Prod, "EU" – Zürich',)]
    tables = ["fct_cost"] + [f"{t}_{g}" for t in ("cost_cube", "cost_by_api_key") for g in GRAINS]
    for table in tables:
        names = marts.serving_rows(
            f"select distinct api_key_name from marts.{table} where api_key_id = $key", {"key": RENAMED_KEY}
        )
        assert names == latest, table
    old_periods = marts.serving_rows(
        "select count(*) from marts.cost_by_api_key_daily where api_key_id = $key and period_start = '2026-10-31'",
        {"key": RENAMED_KEY},
    )
    assert old_periods[0][0] == 1  # the first run's period was rewritten by the second run


def test_only_payg_requests_enter_the_aggregates(marts: Installation) -> None:
    modes = dict(marts.serving_rows("select billing_mode, count(*) from marts.fct_cost group by 1"))
    assert set(modes) == {"payg", "subscription"}
    assert marts.serving_rows("select sum(request_count) from marts.cost_overview_monthly") == [(modes["payg"],)]


@pytest.mark.parametrize("grain", ALTERNATIVES_GRAINS)
def test_alternatives_stay_within_the_marts_and_save_exactly(marts: Installation, grain: str) -> None:
    rows = marts.serving_records(
        f"select a.*, d.request_count as group_requests, d.total_cost as group_cost "
        f"from marts.provider_alternatives_{grain} a "
        f"left join marts.provider_model_details_{grain} d using (period_start, account_id, model, provider)"
    )
    assert len({(row["model"], row["provider"], row["alternative_provider"]) for row in rows}) > 1
    for row in rows:
        assert row["provider"] != row["alternative_provider"]
        assert 0 < row["request_count"] <= row["group_requests"]
        assert row["actual_cost"] <= row["group_cost"]
        assert row["savings"] == row["actual_cost"] - row["alternative_cost"]


def test_monthly_alternatives_are_the_sum_of_the_daily_ones(marts: Installation) -> None:
    keys = "account_id, model, provider, alternative_provider"
    daily = marts.serving_rows(
        f"select date_trunc('month', period_start), {keys}, sum(request_count), sum(actual_cost), "
        f"sum(alternative_cost), sum(savings) from marts.provider_alternatives_daily group by all order by all"
    )
    monthly = marts.serving_rows(
        f"select period_start, {keys}, request_count, actual_cost, alternative_cost, savings "
        f"from marts.provider_alternatives_monthly order by all"
    )
    assert daily == monthly and monthly


# Tables rebuilt by partition (replace_partitions), one of each kind and grain (docs/running.md, "Incremental").
ORDERED_TABLES = ["fct_cost", "cost_cube_hourly", "cost_by_model_daily", "cost_overview_monthly"]


def _partitions_in_storage_order(inst: Installation, table: str) -> list[date]:
    """The partition of each row of the partitions the last run rebuilt, in the table's storage order."""
    rebuilt = "select event_date from intermediate.int_batch_event_days"
    if table.endswith("monthly"):
        rebuilt = f"select distinct date_trunc('month', event_date)::date from ({rebuilt})"
    sql = f"select partition_date from marts.{table} where partition_date in ({rebuilt}) order by rowid"
    return [day for (day,) in inst.warehouse_rows(sql)]


@pytest.mark.parametrize("table", ORDERED_TABLES)
def test_a_run_of_several_days_writes_the_rows_it_rebuilds_in_partition_order(marts: Installation, table: str) -> None:
    # The second run of the fixture covered two arrival days (dbt's incremental insert): each row
    # group then holds a few days, so a later rerun of one day deletes from those row groups only.
    partitions = _partitions_in_storage_order(marts, table)
    assert len(set(partitions)) > 1, "the run rebuilt one partition only: nothing to order"
    assert partitions == sorted(partitions)


def test_a_first_run_of_several_days_writes_its_tables_in_partition_order(installation: Installation) -> None:
    # An installation's first run (dbt creates each table) over several arrival days: a backfill.
    installation.prices.write_bytes(DEFAULT_PRICES.read_bytes())
    generate_landing(installation.landing, days=2, rows_per_day=600, seed=3, start=date(2026, 11, 1))
    assert installation.run("2026-11-01", "2026-11-02") == 0
    for table in ORDERED_TABLES:
        partitions = _partitions_in_storage_order(installation, table)
        assert len(set(partitions)) > 1, table
        assert partitions == sorted(partitions), table
