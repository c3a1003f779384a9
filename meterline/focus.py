"""The pay-as-you-go usage of the serving file as a FOCUS 1.0 dataset (marts.md, "Exports").

One row per UTC day, account, API key, provider, model, region, catalog price row and charge
dimension (the seven of :data:`DIMENSIONS`), zero quantities left out. The export reads only the
serving file, read-only (a publication swapping it in the meantime does not disturb it), and does
the work in one DuckDB query written straight to the file with ``COPY``: CSV (RFC 4180, UTF-8,
CRLF) or Parquet when the path ends in ``.parquet``. Money is DECIMAL throughout; before the file
replaces ``out``, the sum of its BilledCost is read back and compared with the sum of
``total_cost`` of the same payg requests (:class:`ExportMismatch` when they differ in any decimal).

The column mapping and the choices behind it are in docs/focus.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from meterline.contract import UNIT_PRICES
from meterline.errors import UsageError

MONEY = "DECIMAL(38, 18)"
# The unit prices fct_cost carries from the catalog row that priced each request (pricing.md).
UNIT_PRICE_COLUMNS = UNIT_PRICES
CSV_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


class ExportMismatch(Exception):
    """The written file's BilledCost does not add up to the requests' total_cost (the CLI exits 1)."""


@dataclass(frozen=True)
class Dimension:
    """A charge dimension: its name (x_ChargeDimension), its words in ChargeDescription, its unit,
    the quantity of a fct_cost row, and the price of one unit (SQL on fct_cost's columns)."""

    name: str
    label: str
    unit: str
    quantity: str
    unit_price: str


def _per_token(price_per_mtok: str) -> str:
    # A catalog price has at most 12 decimals (DECIMAL(38,12)), so a millionth of it is exact at 18.
    return f"cast({price_per_mtok} * 0.000001 as {MONEY})"


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("uncached_input_tokens", "Uncached input tokens", "Tokens",
              "input_tokens - cached_input_tokens - cache_write_tokens", _per_token("input_per_mtok")),
    Dimension("cached_input_tokens", "Cached input tokens", "Tokens",
              "cached_input_tokens", _per_token("cached_input_per_mtok")),
    Dimension("cache_write_tokens", "Cache-write tokens", "Tokens",
              "cache_write_tokens", _per_token("cache_write_per_mtok")),
    Dimension("output_tokens", "Output tokens", "Tokens", "output_tokens", _per_token("output_per_mtok")),
    Dimension("requests", "Requests", "Requests", "request_count", f"cast(per_request as {MONEY})"),
    Dimension("images", "Images", "Images", "images", f"cast(per_image as {MONEY})"),
    Dimension("web_searches", "Web searches", "Searches", "web_search_calls", f"cast(per_web_search as {MONEY})"),
)  # fmt: skip


@dataclass(frozen=True)
class ExportResult:
    path: Path
    file_format: str  # csv or parquet
    rows: int
    billed_cost: Decimal  # sum of BilledCost read back from the file
    total_cost: Decimal  # sum of total_cost of the payg requests in the range


def file_format(out: Path) -> str:
    """parquet when the path ends in .parquet (any case), else csv."""
    return "parquet" if out.name.lower().endswith(".parquet") else "csv"


def check_request(serving: Path, start: date, end: date, out: Path) -> None:
    """Raise UsageError, naming the bad input and the fix, for a bad range, output path or serving file."""
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}; give --from on or before --to")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file path such as {out / 'focus.csv'}")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist; create it or choose another path")
    if not os.access(out.parent, os.W_OK):
        raise UsageError(f"--out {out}: folder {out.parent} is not writable; choose another path")
    if not serving.is_file():
        raise UsageError(f"serving file {serving} does not exist; run meterline demo or materialize first")


def _fct_cost_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = 'exports' and table_name = 'fct_cost'"
    ).fetchall()
    return {name for (name,) in rows}


def focus_sql(has_region: bool, csv: bool) -> str:
    """The FOCUS rows of the payg requests with $start <= created_at < $end, from exports.fct_cost
    (marts.fct_cost with the unit prices of the catalog row that priced each request).

    ``has_region``: fct_cost has the ``region`` column (a serving file published before it: NULL).
    ``csv``: quantities get one decimal place ("1200.0"), so that a reader inferring types (the FOCUS
    validator's pandas among them) takes them as decimals, not integers."""
    region = "region" if has_region else "cast(null as varchar)"
    prices = ", ".join(UNIT_PRICE_COLUMNS)
    sums = ",\n            ".join(f"sum({d.quantity}) as {d.name}" for d in DIMENSIONS)
    charges = "\n        union all\n".join(
        f"""        select grouped.*, {i} as dimension_order, '{d.name}' as dimension, '{d.label}' as label,
               '{d.unit}' as unit, cast({d.name} as decimal(38, 0)) as quantity, {d.unit_price} as unit_price
        from grouped where {d.name} <> 0"""
        for i, d in enumerate(DIMENSIONS)
    )
    quantity = "cast(quantity as decimal(38, 1))" if csv else "quantity"
    null = "cast(null as varchar)"
    return f"""
    with payg as (
        select cast(created_at as date) as usage_date, account_id, api_key_id, provider, model,
               {region} as region, model_type, price_effective_from, {prices},
               input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, request_count, images,
               web_search_calls
        from exports.fct_cost
        where billing_mode = 'payg' and created_at >= $start and created_at < $end
    ),
    grouped as (
        select usage_date, account_id, api_key_id, provider, model, region, model_type, price_effective_from,
            {prices},
            {sums}
        from payg
        group by all
    ),
    charges as (
{charges}
    ),
    key_names as (  -- the name on the key's most recent costed record (marts.md), whatever the range
        select api_key_id, arg_max_null(api_key_name, created_at) as api_key_name
        from exports.fct_cost
        where api_key_id in (select api_key_id from payg)
        group by api_key_id
    ),
    priced as (
        select charges.*, key_names.api_key_name, cast(quantity * unit_price as {MONEY}) as cost,
               provider || ':' || model || ':' || dimension as sku_id,
               cast(usage_date as timestamptz) as day_start
        from charges join key_names using (api_key_id)
    )
    select
        cost as BilledCost,
        account_id as BillingAccountId,
        {null} as BillingAccountName,
        'USD' as BillingCurrency,
        cast(date_trunc('month', usage_date) + interval 1 month as timestamptz) as BillingPeriodEnd,
        cast(date_trunc('month', usage_date) as timestamptz) as BillingPeriodStart,
        'Usage' as ChargeCategory,
        {null} as ChargeClass,
        label || ', ' || model || ' served by ' || provider as ChargeDescription,
        'Usage-Based' as ChargeFrequency,
        day_start + interval 1 day as ChargePeriodEnd,
        day_start as ChargePeriodStart,
        {null} as CommitmentDiscountCategory,
        {null} as CommitmentDiscountId,
        {null} as CommitmentDiscountName,
        {null} as CommitmentDiscountStatus,
        {null} as CommitmentDiscountType,
        {quantity} as ConsumedQuantity,
        unit as ConsumedUnit,
        cost as ContractedCost,
        unit_price as ContractedUnitPrice,
        cost as EffectiveCost,
        provider as InvoiceIssuerName,
        cost as ListCost,
        unit_price as ListUnitPrice,
        'Standard' as PricingCategory,
        {quantity} as PricingQuantity,
        unit as PricingUnit,
        provider as ProviderName,
        split_part(model, '/', 1) as PublisherName,
        region as RegionId,
        region as RegionName,
        {null} as ResourceId,
        {null} as ResourceName,
        {null} as ResourceType,
        'AI and Machine Learning' as ServiceCategory,
        model as ServiceName,
        sku_id as SkuId,
        sku_id || ':' || strftime(price_effective_from, '{CSV_TIMESTAMP}') as SkuPriceId,
        api_key_id as SubAccountId,
        api_key_name as SubAccountName,
        {null} as Tags,
        dimension as x_ChargeDimension,
        model_type as x_ModelType,
        cast(price_effective_from as timestamptz) as x_PriceEffectiveFrom
    from priced
    order by usage_date, account_id, api_key_id, provider, model, region nulls first, price_effective_from,
             dimension_order
    """


def _read_back(con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> tuple[int, Decimal]:
    """(rows, sum of BilledCost) of the written file."""
    if fmt == "parquet":
        source = "read_parquet($path)"
    else:  # every field as text, BilledCost parsed as the exact decimal it was written as
        source = "read_csv($path, header = true, all_varchar = true)"
    rows, total = con.execute(
        f"select count(*), sum(cast(BilledCost as {MONEY})) from {source}", {"path": str(path)}
    ).fetchone()
    return rows, Decimal(total or 0)


def export_focus(serving: Path, start: date, end: date, out: Path, memory_limit: str | None = None) -> ExportResult:
    """Write the payg usage of the UTC event days start..end (inclusive) to ``out`` as FOCUS 1.0.

    Raises UsageError for a bad range, path or serving file, ExportMismatch when the written
    BilledCost does not add up to total_cost exactly (``out`` is then left as it was)."""
    check_request(serving, start, end, out)
    fmt = file_format(out)
    params = {"start": start, "end": end + timedelta(days=1)}  # half-open: [from 00:00, to + 1 day 00:00)
    staging = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with duckdb.connect(str(serving), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")
            if memory_limit:
                con.execute(f"set memory_limit = '{memory_limit}'")
            columns = _fct_cost_columns(con)
            if missing := [c for c in UNIT_PRICE_COLUMNS if c not in columns]:
                raise UsageError(
                    f"serving file {serving} was published before it carried unit prices (exports.fct_cost) "
                    f"(no {missing[0]}); republish every arrival day with meterline materialize, then export again"
                )
            sql = focus_sql(has_region="region" in columns, csv=fmt == "csv")
            options = "format parquet" if fmt == "parquet" else (
                f"format csv, header true, delimiter ',', quote '\"', escape '\"', new_line '\\r\\n', "
                f"timestampformat '{CSV_TIMESTAMP}'"
            )  # fmt: skip
            try:
                con.execute(f"copy ({sql}) to '{_quoted(staging)}' ({options})", params)
            except duckdb.IOException as exc:
                raise UsageError(f"--out {out}: cannot write there ({exc}); choose another path") from None
            (expected,) = con.execute(
                "select sum(total_cost) from marts.fct_cost "
                "where billing_mode = 'payg' and created_at >= $start and created_at < $end",
                params,
            ).fetchone()
            rows, billed = _read_back(con, staging, fmt)
        total = Decimal(expected or 0)
        if billed != total:
            raise ExportMismatch(
                f"FOCUS export {start}..{end} not written: sum of BilledCost {billed:f} differs from sum of "
                f"total_cost {total:f} of the payg requests by {billed - total:f}; {out} left as it was"
            )
        os.replace(staging, out)
    finally:
        staging.unlink(missing_ok=True)
    return ExportResult(out, fmt, rows, billed, total)


def _quoted(path: Path) -> str:
    """``path`` inside a single-quoted SQL string literal."""
    return str(path).replace("'", "''")
