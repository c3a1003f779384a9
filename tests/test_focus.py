"""`meterline export-focus` against marts.md ("Exports") and FOCUS 1.0.

Two kinds of serving file: small ones written here with the published shape of marts.fct_cost (fast:
exit codes, the reconciliation, a serving file with or without `region`), and the real one of a
pipeline run over hand-made records and a hand-made catalog, whose export is compared row by row with
costs computed here from the records and the catalog (pricing.md), and validated by the FinOps
Foundation's focus-validator in its own virtual environment (scripts/focus-validator-venv).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from meterline.focus import DIMENSIONS, UNIT_PRICE_COLUMNS
from meterline.settings import REPO_ROOT
from orchestration.cli import main
from tests.helpers import Installation, usage_record

MILLION = Decimal(1_000_000)
# The FOCUS 1.0 columns of the export (mandatory ones, ChargeFrequency, and the x_ columns), in file order.
FOCUS_COLUMNS = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType", "ConsumedQuantity",
    "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName",
    "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
    "x_ChargeDimension", "x_ModelType", "x_PriceEffectiveFrom",
]  # fmt: skip
VALIDATOR_OVERRIDES = REPO_ROOT / "scripts" / "focus-validator-overrides.yaml"
VALIDATOR_VENV = REPO_ROOT / ".venv-focus"


def export(out: Path, start: str, end: str) -> int:
    return main(["export-focus", "--from", start, "--to", end, "--out", str(out)])


def read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # UTF-8 without a byte-order mark
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == FOCUS_COLUMNS
        return list(reader)


# --- small serving files with the published shape of marts.fct_cost -------------------------------------------

PRICE = {"input_per_mtok": Decimal("2.5"), "cached_input_per_mtok": Decimal("1.25"),
         "cache_write_per_mtok": Decimal("3.125"), "output_per_mtok": Decimal(10),
         "per_request": Decimal("0.000123456789"), "per_image": Decimal(0), "per_web_search": Decimal("0.01")}  # fmt: skip


def fct_row(request_id: str, created_at: str, **fields: Any) -> dict[str, Any]:
    """A marts.fct_cost row costed with the formulas of pricing.md at PRICE."""
    row: dict[str, Any] = {
        "request_id": request_id, "created_at": datetime.fromisoformat(created_at), "arrival_date": date(2026, 11, 1),
        "account_id": "acct_1", "api_key_id": "key_1", "api_key_name": "Prod", "model": "openai/gpt-test",
        "provider": "openai", "region": None, "model_type": "LLM", "purpose": "chat", "endpoint": "chat.completions",
        "billing_mode": "payg", "request_count": 1, "input_tokens": 1000, "cached_input_tokens": 200,
        "cache_write_tokens": 0, "output_tokens": 30, "reasoning_tokens": 0, "images": 0, "web_search_calls": 1,
        "price_effective_from": datetime(2020, 1, 1), **PRICE,
    }  # fmt: skip
    row.update(fields)
    uncached = row["input_tokens"] - row["cached_input_tokens"] - row["cache_write_tokens"]
    row["input_cost"] = (uncached * row["input_per_mtok"] + row["cached_input_tokens"] * row["cached_input_per_mtok"]
                         + row["cache_write_tokens"] * row["cache_write_per_mtok"]) / MILLION  # fmt: skip
    row["output_cost"] = row["output_tokens"] * row["output_per_mtok"] / MILLION
    row["other_cost"] = (row["per_request"] + row["images"] * row["per_image"]
                         + row["web_search_calls"] * row["per_web_search"])  # fmt: skip
    row["total_cost"] = row["input_cost"] + row["output_cost"] + row["other_cost"]
    row.update({k: v for k, v in fields.items() if k.endswith("_cost")})  # a planted defect wins
    return row


FCT_TYPES = {"created_at": "timestamp", "arrival_date": "date", "price_effective_from": "timestamp",
             **{c: "decimal(38, 18)" for c in ("input_cost", "output_cost", "other_cost", "total_cost")},
             **{c: "decimal(38, 12)" for c in UNIT_PRICE_COLUMNS}}  # fmt: skip


def write_serving(path: Path, rows: list[dict[str, Any]], without: tuple[str, ...] = ()) -> Path:
    """A serving file in the published shape (meterline/publish.py) holding ``rows``, minus the columns
    ``without``: exports.fct_cost with every column, marts.fct_cost without the unit prices."""
    columns = [c for c in rows[0] if c not in without]
    ddl = ", ".join(f"{c} {FCT_TYPES.get(c, 'bigint' if isinstance(rows[0][c], int) else 'varchar')}" for c in columns)
    published = ", ".join(c for c in columns if c not in UNIT_PRICE_COLUMNS)
    with duckdb.connect(str(path)) as con:
        con.execute(f"create schema exports; create table exports.fct_cost ({ddl})")
        con.executemany(f"insert into exports.fct_cost values ({', '.join('?' for _ in columns)})",
                        [[row[c] for c in columns] for row in rows])  # fmt: skip
        con.execute(f"create schema marts; create view marts.fct_cost as select {published} from exports.fct_cost")
    return path


@pytest.fixture
def serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "serving.duckdb"
    monkeypatch.setenv("METERLINE_SERVING", str(path))
    return path


def test_bad_range_path_or_serving_file_exits_2_with_one_line_naming_it(
    serving: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (
            ["--from", "2026-11-02", "--to", "2026-11-01", "--out", str(tmp_path / "f.csv")],
            "--from 2026-11-02 is after",
        ),
        (["--from", "2026-11-31", "--to", "2026-12-01", "--out", str(tmp_path / "f.csv")], "not a date"),
        (["--from", "2026-11-01", "--to", "2026-11-01", "--out", str(tmp_path / "no" / "f.csv")], "does not exist"),
        (["--from", "2026-11-01", "--to", "2026-11-01", "--out", str(tmp_path)], "is a folder"),
        (["--from", "2026-11-01", "--to", "2026-11-01", "--out", str(tmp_path / "f.csv")], "serving file"),
    ]
    for argv, words in cases:
        assert main(["export-focus", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
    assert not list(tmp_path.glob("f.csv*")) and not list(tmp_path.glob(".f.csv*"))


def test_a_serving_file_without_unit_prices_exits_2_and_says_to_republish(
    serving: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_serving(serving, [fct_row("a", "2026-11-01 10:00:00")], without=UNIT_PRICE_COLUMNS)
    assert export(tmp_path / "f.csv", "2026-11-01", "2026-11-01") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "republish" in err and "input_per_mtok" in err


def test_billed_cost_off_by_the_last_decimal_exits_1_and_writes_nothing(
    serving: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = fct_row("a", "2026-11-01 10:00:00")
    # A defect only the reconciliation can see: total_cost one unit of the 18th decimal above its parts.
    bad = fct_row("b", "2026-11-01 11:00:00", total_cost=good["total_cost"] + Decimal("1e-18"))
    write_serving(serving, [good, bad])
    out = tmp_path / "f.csv"
    out.write_text("the previous export\n", encoding="utf-8")
    assert export(out, "2026-11-01", "2026-11-01") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "differs from sum of total_cost" in err and "-0.000000000000000001" in err
    assert out.read_text(encoding="utf-8") == "the previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv", "serving.duckdb"]  # no staging file left


@pytest.mark.parametrize("published", [True, False], ids=["with_region", "before_region"])
def test_region_comes_from_fct_cost_and_is_null_in_a_serving_file_that_predates_it(
    serving: Path, tmp_path: Path, published: bool
) -> None:
    rows = [fct_row("a", "2026-11-01 10:00:00", region="us"), fct_row("b", "2026-11-01 11:00:00", region=None),
            fct_row("c", "2026-11-01 12:00:00", region="eu")]  # fmt: skip
    write_serving(serving, rows, without=() if published else ("region",))
    assert export(tmp_path / "f.csv", "2026-11-01", "2026-11-01") == 0
    rows = read_csv(tmp_path / "f.csv")
    regions = {(r["RegionId"], r["RegionName"]) for r in rows}
    assert regions == ({("us", "us"), ("", ""), ("eu", "eu")} if published else {("", "")})
    # One row per region and dimension: uncached input, cached input, output, requests, web searches.
    assert len(rows) == (3 if published else 1) * 5


def test_a_price_row_with_twelve_decimals_reconciles_to_the_last_decimal(serving: Path, tmp_path: Path) -> None:
    odd = {"input_per_mtok": Decimal("0.123456789012"), "cached_input_per_mtok": Decimal("0.000000000001"),
           "output_per_mtok": Decimal("987654.321098765432")}  # fmt: skip
    rows = [fct_row(f"r{i}", f"2026-11-01 0{i}:00:00", input_tokens=999_999_937 + i, cached_input_tokens=7 * i,
                    output_tokens=13 * i + 1, **odd) for i in range(1, 8)]  # fmt: skip
    write_serving(serving, rows)
    assert export(tmp_path / "f.csv", "2026-11-01", "2026-11-01") == 0
    billed = sum(Decimal(r["BilledCost"]) for r in read_csv(tmp_path / "f.csv"))
    assert billed == sum(r["total_cost"] for r in rows)
    for row in read_csv(tmp_path / "f.csv"):  # every row: cost = quantity x unit price, exactly
        assert Decimal(row["BilledCost"]) == Decimal(row["PricingQuantity"]) * Decimal(row["ListUnitPrice"])


# --- the real pipeline: records, catalog, run, export ------------------------------------------------------------

CATALOG = [
    "openai,openai/gpt-test,LLM,2020-01-01,2.5,1.25,3.125,10,,,0.01",
    # A price change in the middle of 2026-11-01, prices with 12 decimals.
    "openai,openai/gpt-test,LLM,2026-11-01T12:00:00Z,0.123456789012,0.012345678901,0.2,0.987654321098,,,0.01",
    "openai,openai/image-test,Vision,2020-01-01,5,,,40,,0.04,",
    "anthropic,anthropic/claude-test,LLM,2020-01-01,3,0.3,3.75,15,,,",
    "amazon-bedrock,anthropic/claude-test,LLM,2020-01-01,3.3,0.33,4.125,16.5,0.000123456789,,",
]
ODD_NAME = 'Prod, "main" 本番 🚀\r\nsecond line'
FIRST, LAST = "2026-11-01", "2026-11-02"


def _usage(**counters: int) -> dict[str, int]:
    return {"input_tokens": 0, "output_tokens": 0, **counters}


RECORDS = {
    "2026-11-01": [
        usage_record("before", "2026-10-31T23:59:59Z"),  # the day before --from
        usage_record(
            "first",
            "2026-11-01T00:00:00Z",
            api_key_name="Prod",
            usage=_usage(
                input_tokens=1000,
                cached_input_tokens=200,
                cache_write_tokens=100,
                output_tokens=500,
                web_search_calls=2,
            ),
        ),
        usage_record(
            "old_price", "2026-11-01T11:59:59Z", api_key_name="Prod", usage=_usage(input_tokens=3000, output_tokens=10)
        ),
        usage_record(
            "offset",
            "2026-11-01T13:00:00+02:00",
            api_key_name="Prod",  # 11:00 UTC: the old price
            usage=_usage(input_tokens=5, output_tokens=7, web_search_calls=1),
        ),
        usage_record(
            "new_price",
            "2026-11-01T12:00:00Z",
            api_key_name="Prod",
            usage=_usage(input_tokens=1234567, cached_input_tokens=7, output_tokens=89),
        ),
        usage_record(
            "claude",
            "2026-11-01T15:00:00Z",
            model="anthropic/claude-test",
            provider="anthropic",
            api_key_id="key_2",
            api_key_name="Batch",
            usage=_usage(input_tokens=50, output_tokens=5),
        ),
        usage_record(
            "bedrock",
            "2026-11-01T16:00:00Z",
            model="anthropic/claude-test",
            provider="amazon-bedrock",
            region="us",
            api_key_id="key_2",
            api_key_name="Batch",
            usage=_usage(input_tokens=70),
        ),
        usage_record(
            "image",
            "2026-11-01T17:00:00Z",
            model="openai/image-test",
            endpoint="images.generations",
            api_key_name="Prod",
            usage=_usage(input_tokens=10, images=3),
        ),
        usage_record("subscription", "2026-11-01T18:00:00Z", billing_mode="subscription", api_key_name="Prod"),
    ],
    "2026-11-02": [
        usage_record(
            "renamed", "2026-11-02T08:00:00Z", api_key_name=ODD_NAME, usage=_usage(input_tokens=40, output_tokens=4)
        ),
        usage_record(
            "unnamed",
            "2026-11-02T23:59:59.999Z",
            api_key_id="key_3",
            api_key_name=None,
            account_id="acct_2",
            usage=_usage(input_tokens=10, output_tokens=10),
        ),
    ],
    "2026-11-03": [
        usage_record("after", "2026-11-03T00:00:00Z", api_key_id="key_3", api_key_name=None, account_id="acct_2"),
    ],
}


def _catalog() -> dict[tuple[str, str], list[tuple[datetime, dict[str, Decimal]]]]:
    """(provider, model) -> [(effective_from, unit prices with pricing.md's defaults)], oldest first."""
    rows: dict[tuple[str, str], list[tuple[datetime, dict[str, Decimal]]]] = defaultdict(list)
    for line in CATALOG:
        provider, model, _, effective, *prices = line.split(",")
        values = dict(zip(UNIT_PRICE_COLUMNS, prices, strict=True))
        price = {name: Decimal(value) if value else None for name, value in values.items()}
        for name in ("cached_input_per_mtok", "cache_write_per_mtok"):
            price[name] = price[name] if price[name] is not None else price["input_per_mtok"]
        for name in ("per_request", "per_image", "per_web_search"):
            price[name] = price[name] or Decimal(0)
        start = datetime.fromisoformat(effective)
        rows[(provider, model)].append((start if start.tzinfo else start.replace(tzinfo=UTC), price))
    return rows


def expected_rows() -> dict[tuple[str, ...], tuple[Decimal, Decimal, Decimal]]:
    """(day, account, key, provider, model, price effective_from, dimension) -> (quantity, unit price, cost),
    computed from RECORDS and CATALOG alone (pricing.md), zero quantities left out."""
    catalog, result = _catalog(), {}
    quantities: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    unit_prices: dict[tuple[str, ...], Decimal] = {}
    for record in (r for day in RECORDS.values() for r in day):
        created = datetime.fromisoformat(record["created_at"]).astimezone(UTC)
        if record["billing_mode"] != "payg" or not FIRST <= created.date().isoformat() <= LAST:
            continue
        effective, price = max(p for p in catalog[(record["provider"], record["model"])] if p[0] <= created)
        usage = {"input_tokens": 0, "cached_input_tokens": 0, "cache_write_tokens": 0, "output_tokens": 0,
                 "images": 0, "web_search_calls": 0, **record["usage"]}  # fmt: skip
        per_dimension = {
            "uncached_input_tokens": (usage["input_tokens"] - usage["cached_input_tokens"]
                                      - usage["cache_write_tokens"], price["input_per_mtok"] / MILLION),
            "cached_input_tokens": (usage["cached_input_tokens"], price["cached_input_per_mtok"] / MILLION),
            "cache_write_tokens": (usage["cache_write_tokens"], price["cache_write_per_mtok"] / MILLION),
            "output_tokens": (usage["output_tokens"], price["output_per_mtok"] / MILLION),
            "requests": (1, price["per_request"]),
            "images": (usage["images"], price["per_image"]),
            "web_searches": (usage["web_search_calls"], price["per_web_search"]),
        }  # fmt: skip
        for dimension, (quantity, unit_price) in per_dimension.items():
            key = (created.date().isoformat(), record["account_id"], record["api_key_id"], record["provider"],
                   record["model"], effective.strftime("%Y-%m-%dT%H:%M:%SZ"), dimension)  # fmt: skip
            quantities[key] += quantity
            unit_prices[key] = unit_price
    for key, quantity in quantities.items():
        if quantity:
            result[key] = (quantity, unit_prices[key], quantity * unit_prices[key])
    return result


def row_key(row: dict[str, str]) -> tuple[str, ...]:
    return (row["ChargePeriodStart"][:10], row["BillingAccountId"], row["SubAccountId"], row["ProviderName"],
            row["ServiceName"], row["x_PriceEffectiveFrom"], row["x_ChargeDimension"])  # fmt: skip


@pytest.fixture(scope="module")
def published(module_installation: Installation) -> Installation:
    inst = module_installation
    inst.write_catalog(*CATALOG)
    for day, records in RECORDS.items():
        inst.write_jsonl(day, "usage.jsonl", records)
    assert inst.run(FIRST, "2026-11-03") == 0
    return inst


@pytest.fixture(scope="module")
def exported(published: Installation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("focus") / "focus.csv"
    assert export(out, FIRST, LAST) == 0
    return out


@pytest.mark.pipeline
def test_one_row_per_day_key_model_price_row_and_dimension_with_exact_costs(exported: Path) -> None:
    rows = read_csv(exported)
    actual = {row_key(r): (Decimal(r["PricingQuantity"]), Decimal(r["ListUnitPrice"]), Decimal(r["BilledCost"]))
              for r in rows}  # fmt: skip
    assert len(actual) == len(rows)  # one row per key
    assert actual == expected_rows()
    for r in rows:
        cost = r["BilledCost"]
        assert r["EffectiveCost"] == r["ListCost"] == r["ContractedCost"] == cost
        assert r["ConsumedQuantity"] == r["PricingQuantity"] and Decimal(r["ConsumedQuantity"]) > 0
        assert r["ContractedUnitPrice"] == r["ListUnitPrice"]
        assert r["ConsumedUnit"] == r["PricingUnit"] == {d.name: d.unit for d in DIMENSIONS}[r["x_ChargeDimension"]]


@pytest.mark.pipeline
def test_billed_cost_sums_to_total_cost_of_the_payg_requests_exactly(published: Installation, exported: Path) -> None:
    ((total,),) = published.serving_rows(
        "select sum(total_cost) from marts.fct_cost where billing_mode = 'payg' "
        f"and created_at >= '{FIRST}' and created_at < date '{LAST}' + 1")  # fmt: skip
    billed = sum(Decimal(r["BilledCost"]) for r in read_csv(exported))
    assert billed == total == sum(cost for _, _, cost in expected_rows().values())


@pytest.mark.pipeline
def test_fixed_values_and_dimensions_follow_the_contract(exported: Path) -> None:
    for r in read_csv(exported):
        assert (
            r["ChargeCategory"],
            r["BillingCurrency"],
            r["ServiceCategory"],
            r["PricingCategory"],
            r["ChargeFrequency"],
        ) == ("Usage", "USD", "AI and Machine Learning", "Standard", "Usage-Based")
        assert r["ProviderName"] == r["InvoiceIssuerName"] and r["PublisherName"] == r["ServiceName"].split("/")[0]
        day = date.fromisoformat(r["ChargePeriodStart"][:10])
        assert (
            r["ChargePeriodStart"] == f"{day}T00:00:00Z" and r["ChargePeriodEnd"] == f"{day + timedelta(1)}T00:00:00Z"
        )
        assert (r["BillingPeriodStart"], r["BillingPeriodEnd"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
        assert r["SkuId"] == f"{r['ProviderName']}:{r['ServiceName']}:{r['x_ChargeDimension']}"
        assert r["SkuPriceId"] == f"{r['SkuId']}:{r['x_PriceEffectiveFrom']}"
        assert r["ChargeClass"] == r["ResourceId"] == r["Tags"] == r["CommitmentDiscountId"] == ""
    # The mid-day price change: two price rows of the same model, key and day, each its own SkuPriceId.
    gpt = {r["SkuPriceId"] for r in read_csv(exported)
           if r["ServiceName"] == "openai/gpt-test" and r["x_ChargeDimension"] == "output_tokens"}  # fmt: skip
    assert gpt == {"openai:openai/gpt-test:output_tokens:2020-01-01T00:00:00Z",
                   "openai:openai/gpt-test:output_tokens:2026-11-01T12:00:00Z"}  # fmt: skip


@pytest.mark.pipeline
def test_key_names_are_current_and_survive_csv_quoting(published: Installation, exported: Path) -> None:
    names = {(r["SubAccountId"], r["SubAccountName"]) for r in read_csv(exported)}
    # key_1 was renamed on 2026-11-02: every row carries the new name, 2026-11-01's included.
    assert names == {("key_1", ODD_NAME), ("key_2", "Batch"), ("key_3", "")}
    assert b'"Prod, ""main"" \xe6\x9c\xac\xe7\x95\xaa \xf0\x9f\x9a\x80\r\nsecond line"' in exported.read_bytes()


@pytest.mark.pipeline
def test_region_is_the_records_region_once_fct_cost_has_it(published: Installation, exported: Path) -> None:
    has_region = published.serving_rows(
        "select count(*) from information_schema.columns "
        "where table_schema = 'marts' and table_name = 'fct_cost' and column_name = 'region'"
    ) == [(1,)]
    regions = {r["ProviderName"]: r["RegionId"] for r in read_csv(exported)}
    assert regions["amazon-bedrock"] == ("us" if has_region else "")
    assert regions["openai"] == regions["anthropic"] == ""


@pytest.mark.pipeline
def test_parquet_holds_the_same_rows_with_exact_decimal_and_utc_types(exported: Path, tmp_path: Path) -> None:
    out = tmp_path / "focus.parquet"
    assert export(out, FIRST, LAST) == 0
    table = pq.read_table(out)
    assert table.column_names == FOCUS_COLUMNS
    schema = {field.name: str(field.type) for field in table.schema}
    assert schema["BilledCost"] == schema["ListUnitPrice"] == "decimal128(38, 18)"
    assert schema["PricingQuantity"] == "decimal128(38, 0)"
    assert schema["ChargePeriodStart"] == schema["BillingPeriodEnd"] == "timestamp[us, tz=UTC]"
    from_parquet = {(str(r["ChargePeriodStart"].date()), r["BillingAccountId"], r["SubAccountId"], r["ProviderName"],
                     r["ServiceName"], r["x_PriceEffectiveFrom"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                     r["x_ChargeDimension"]): (r["PricingQuantity"], r["ListUnitPrice"], r["BilledCost"])
                    for r in table.to_pylist()}  # fmt: skip
    assert from_parquet == expected_rows()


@pytest.mark.pipeline
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_range_without_usage_writes_the_header_only(published: Installation, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"empty{suffix}"
    assert export(out, "2026-12-01", "2026-12-31") == 0
    if suffix == ".csv":
        assert out.read_bytes() == (",".join(FOCUS_COLUMNS) + "\r\n").encode()
    else:
        assert pq.read_table(out).num_rows == 0 and pq.read_schema(out).names == FOCUS_COLUMNS


@pytest.mark.pipeline
def test_the_export_reads_a_serving_file_it_cannot_write(published: Installation, tmp_path: Path) -> None:
    """Read-only: the file's permissions allow reading only, and the dashboard holds it open meanwhile."""
    mode = published.serving.stat().st_mode
    published.serving.chmod(0o444)
    try:
        with duckdb.connect(str(published.serving), read_only=True):
            assert export(tmp_path / "f.csv", FIRST, LAST) == 0
    finally:
        published.serving.chmod(mode)


# --- the FinOps Foundation's validator ---------------------------------------------------------------------------


def focus_validator() -> Path:
    """The validator's executable in .venv-focus/, created by scripts/focus-validator-venv when missing."""
    executable = VALIDATOR_VENV / "bin" / "focus-validator"
    if not executable.exists():
        subprocess.run([str(REPO_ROOT / "scripts" / "focus-validator-venv")], check=True, timeout=900)
    return executable


def validate(data: Path, report: Path) -> dict[str, Any]:
    """Run focus-validator 1.0.0 (FOCUS 1.0 rules) on ``data``; its JUnit report as counts and check names.

    Run from the folder holding its package: 1.0.0 opens its currency-code list at a relative path
    (focus_validator PR #112), so BillingCurrency fails from anywhere else."""
    executable = focus_validator()
    site = next((VALIDATOR_VENV / "lib").glob("python3*/site-packages"))
    completed = subprocess.run(
        [str(executable), "--data-file", str(data), "--validate-version", "1.0",
         "--override-file", str(VALIDATOR_OVERRIDES), "--output-type", "unittest",
         "--output-destination", str(report)],
        cwd=site, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    root = ET.parse(report).getroot()
    cases = {case.get("name", "").split(" :: ")[0]: case for case in root.iter("testcase")}
    return {
        "tests": int(root.get("tests", "0")),
        "failed": sorted(name for name, case in cases.items() if case.find("failure") is not None),
        "errored": sorted(name for name, case in cases.items() if case.find("error") is not None),
        "skipped": sorted(name for name, case in cases.items() if case.find("skipped") is not None),
        "failures": int(root.get("failures", "-1")),
        "errors": int(root.get("errors", "-1")),
    }


SKIPPED = sorted(["Provider_Required", "Publisher_Required", "InvoiceIssuer_Required", "ResourceID_Required",
                  "SkuPriceId_Nullable"])  # fmt: skip


@pytest.mark.pipeline
@pytest.mark.subprocess
def test_focus_validator_reports_no_failed_check(published: Installation, tmp_path: Path) -> None:
    """The console script writes the file (a new process), the validator checks it: every check of its
    FOCUS 1.0 rule set passes but the five that test 1.0-preview column names (overrides file)."""
    out = tmp_path / "focus.csv"
    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "export-focus", "--from", FIRST, "--to", LAST, "--out", str(out)],
        cwd=REPO_ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert len(read_csv(out)) == len(expected_rows())
    result = validate(out, tmp_path / "report.xml")
    assert result["tests"] > 100  # the whole 1.0 rule set ran (133 checks in 1.0.0)
    assert (result["failed"], result["errored"], result["failures"], result["errors"]) == ([], [], 0, 0), result
    assert result["skipped"] == SKIPPED
    # What those five skipped checks cannot see, checked here against FOCUS 1.0's own column names.
    rows = read_csv(out)
    assert all(r["ProviderName"] and r["PublisherName"] and r["InvoiceIssuerName"] and r["SkuPriceId"] for r in rows)
    assert "ResourceId" in rows[0]


@pytest.mark.subprocess
def test_focus_validator_fails_a_file_that_breaks_focus(tmp_path: Path) -> None:
    """The check above can fail: a FOCUS row with a ChargeFrequency and a BillingCurrency FOCUS does not allow."""
    header = ",".join(FOCUS_COLUMNS)
    good = ("0.002500000000000000,acct_1,,USD,2026-12-01T00:00:00Z,2026-11-01T00:00:00Z,Usage,,"
            "\"Output tokens, openai/gpt-test served by openai\",Usage-Based,2026-11-02T00:00:00Z,"
            "2026-11-01T00:00:00Z,,,,,,1000.0,Tokens,0.002500000000000000,0.000002500000000000,"
            "0.002500000000000000,openai,0.002500000000000000,0.000002500000000000,Standard,1000.0,Tokens,openai,"
            "openai,,,,,,AI and Machine Learning,openai/gpt-test,openai:openai/gpt-test:output_tokens,"
            "openai:openai/gpt-test:output_tokens:2020-01-01T00:00:00Z,key_1,Prod,,output_tokens,LLM,"
            "2020-01-01T00:00:00Z")  # fmt: skip
    valid = tmp_path / "valid.csv"
    valid.write_text(f"{header}\r\n{good}\r\n", encoding="utf-8")
    assert validate(valid, tmp_path / "valid.xml")["failed"] == []
    broken = tmp_path / "broken.csv"
    broken.write_text(f"{header}\r\n{good.replace('Usage-Based', 'Sometimes').replace(',USD,', ',XYZ,')}\r\n",
                      encoding="utf-8")  # fmt: skip
    assert validate(broken, tmp_path / "broken.xml")["failed"] == ["BillingCurrency_IsCurrencyCode",
                                                                   "ChargeFrequency_Enum"]  # fmt: skip


def test_the_expected_rows_of_the_records_cover_every_dimension_and_the_range() -> None:
    """The scenario itself: each charge dimension appears, and the records outside the range do not."""
    rows = expected_rows()
    assert {key[-1] for key in rows} == {d.name for d in DIMENSIONS}
    assert {key[0] for key in rows} == {FIRST, LAST}
