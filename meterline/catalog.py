"""Load a price catalog CSV into DuckDB and list the rows that break ../shared/contracts/pricing.md.

`read_catalog` (re)creates two tables in schema ``raw``:

- ``raw.price_catalog_text``: the file as written, every column VARCHAR, plus ``line_number`` (the row's line in
  the file: data row number + 1 for the header).
- ``raw.price_catalog``: the same rows typed. ``effective_from`` is a TIMESTAMP holding UTC (a bare date means
  00:00 UTC; a time must carry ``Z`` or an offset), prices are DECIMAL(38,12) with the contract's defaults applied
  (empty cached_input/cache_write -> input_per_mtok, empty per_* -> 0). A value that does not parse is NULL there.
  ``region`` (the optional last column of pricing.md) is NULL for every region: an empty or blank cell, or a file
  without the column; otherwise the region as written, matched exactly against the usage record's.

`catalog_problems` reports every offending row; the price-catalog asset check blocks a run on any of them. Besides
the rules of the contract it reports an empty provider, model or required price, an unparseable effective_from, and a
price with more than 12 decimal places (DECIMAL(38,12) would round it).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import duckdb

from meterline.contract import MODEL_TYPES
from meterline.errors import UsageError

CATALOG_COLUMNS = (
    "provider",
    "model",
    "model_type",
    "effective_from",
    "input_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "output_per_mtok",
    "per_request",
    "per_image",
    "per_web_search",
)
# pricing.md's optional last column: the region a row prices; empty, or the column absent, means every region.
REGION = "region"
MONEY = "DECIMAL(38, 12)"
# Wider than MONEY: a price that reads differently here would be rounded in MONEY.
_FINER = "DECIMAL(38, 24)"

# Price column -> what an empty cell means: another column, a constant, or None when the price is required.
PRICE_DEFAULTS: dict[str, str | None] = {
    "input_per_mtok": None,
    "cached_input_per_mtok": "input_per_mtok",
    "cache_write_per_mtok": "input_per_mtok",
    "output_per_mtok": None,
    "per_request": "0",
    "per_image": "0",
    "per_web_search": "0",
}

_DATE = r"\d{4}-\d{2}-\d{2}"
_ZONED_TIME = _DATE + r"[Tt ]\d{2}:\d{2}.*([Zz]|[+-]\d{2}(:?\d{2})?)"
# Parsed without the session's TimeZone: a bare date is 00:00 UTC, a time must name its zone; anything else is NULL.
_EFFECTIVE_FROM_UTC = f"""CASE
    WHEN regexp_full_match(effective_from, '{_DATE}') THEN try_cast(effective_from AS DATE)::TIMESTAMP
    WHEN regexp_full_match(effective_from, '{_ZONED_TIME}')
        THEN try_cast(effective_from AS TIMESTAMPTZ) AT TIME ZONE 'UTC'
END"""


def read_catalog(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Load the catalog CSV at `path` into ``raw.price_catalog_text`` and ``raw.price_catalog``."""
    header = _header(path)
    _require_columns(path, header)
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    try:
        con.execute(
            """
            CREATE OR REPLACE TABLE raw.price_catalog_text AS
            SELECT ordinality + 1 AS line_number, * EXCLUDE (ordinality)
            FROM read_csv(?, header = true, auto_detect = false, columns = ?,
                          delim = ',', quote = '"', escape = '"') WITH ORDINALITY
            """,
            [str(path), {name: "VARCHAR" for name in header}],
        )
    except duckdb.Error as exc:
        first_line = str(exc).splitlines()[0]
        raise UsageError(f"price catalog {path} is not a readable CSV: {first_line}") from None
    if REGION not in header:
        con.execute(f"ALTER TABLE raw.price_catalog_text ADD COLUMN {REGION} VARCHAR")
    con.execute(
        f"""
        CREATE OR REPLACE TABLE raw.price_catalog AS
        SELECT line_number, provider, model, model_type,
               {_EFFECTIVE_FROM_UTC} AS effective_from,
               {", ".join(f"{_typed_price(column)} AS {column}" for column in PRICE_DEFAULTS)},
               CASE WHEN trim({REGION}) <> '' THEN {REGION} END AS {REGION}
        FROM raw.price_catalog_text
        """
    )


def catalog_problems(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """One dict per row of the loaded catalog that breaks a rule (line_number, provider, model, region,
    effective_from, problem; several problems of a row joined by "; "). An empty list means the catalog is valid."""
    checks = [
        "CASE WHEN trim(coalesce(t.provider, '')) = '' THEN 'provider is empty' END",
        "CASE WHEN trim(coalesce(t.model, '')) = '' THEN 'model is empty' END",
        f"""CASE WHEN t.model_type IS NULL OR t.model_type NOT IN ({_sql_list(MODEL_TYPES)})
            THEN 'unknown model_type ''' || coalesce(t.model_type, '') || ''' (expected one of '
                 || '{", ".join(MODEL_TYPES)})' END""",
        """CASE WHEN t.effective_from IS NULL THEN 'effective_from is empty'
            WHEN p.effective_from IS NULL THEN 'effective_from ''' || t.effective_from
                 || ''' is neither a date (YYYY-MM-DD) nor a time with a zone (2026-11-03T12:00:00Z)' END""",
        *(_price_check(column) for column in PRICE_DEFAULTS),
        """CASE WHEN p.effective_from IS NOT NULL AND count(*) OVER same_key > 1
            THEN 'duplicate (provider, model, region, effective_from) on lines '
                 || string_agg(t.line_number::VARCHAR, ', ') OVER same_key END""",
    ]
    rows = con.execute(
        f"""
        SELECT line_number, provider, model, region, effective_from, problem
        FROM (
            SELECT t.line_number, t.provider, t.model, t.region, t.effective_from,
                   concat_ws('; ', {", ".join(checks)}) AS problem
            FROM raw.price_catalog_text AS t
            JOIN raw.price_catalog AS p USING (line_number)
            WINDOW same_key AS (PARTITION BY p.provider, p.model, p.region, p.effective_from ORDER BY t.line_number
                                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
        )
        WHERE problem <> ''
        ORDER BY line_number
        """
    ).fetchall()
    names = ("line_number", "provider", "model", "region", "effective_from", "problem")
    return [dict(zip(names, row, strict=True)) for row in rows]


def _header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            return next(csv.reader(file), [])
    except FileNotFoundError:
        raise UsageError(f"price catalog not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"price catalog {path} is not a readable CSV: {exc}") from None


def _require_columns(path: Path, header: list[str]) -> None:
    missing = [column for column in CATALOG_COLUMNS if column not in header]
    if missing:
        raise UsageError(f"price catalog {path} lacks required columns: {', '.join(missing)}")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise UsageError(f"price catalog {path} repeats columns: {', '.join(repeated)}")


def _money(expression: str) -> str:
    return f"try_cast({expression} AS {MONEY})"


def _typed_price(column: str) -> str:
    default = PRICE_DEFAULTS[column]
    when_empty = "NULL" if default is None else _money(default)
    return f"CASE WHEN {column} IS NULL THEN {when_empty} ELSE {_money(column)} END::{MONEY}"


def _price_check(column: str) -> str:
    """SQL naming what is wrong with one price cell of row t (typed as p), NULL when it is fine."""
    when_empty = f"'{column} is empty'" if PRICE_DEFAULTS[column] is None else "NULL"
    return f"""CASE WHEN t.{column} IS NULL THEN {when_empty}
        WHEN p.{column} IS NULL THEN '{column} is not a number: ''' || t.{column} || ''''
        WHEN p.{column} < 0 THEN '{column} is negative: ' || t.{column}
        WHEN try_cast(t.{column} AS {_FINER}) <> p.{column}
            THEN '{column} has more than 12 decimal places: ' || t.{column} END"""


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)
