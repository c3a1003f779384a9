"""The cost-by-API-key table as a CSV file a spreadsheet opens as it is.

Encoding: UTF-8 with a byte-order mark (so Excel reads non-ASCII key names right; Python reads it with
``encoding="utf-8-sig"``). Quoting: RFC 4180 (a field holding a comma, a quote or a line break is
quoted, quotes doubled), CRLF line ends. Costs are the exact decimal values (no rounding, no exponent);
a key without a name has an empty name field. Every row carries the period it sums, half-open and UTC:
``period_start <= created_at < period_end`` (ISO 8601, e.g. ``2026-11-01T00:00:00Z``).

Formula injection (OWASP, "CSV Injection"): a text field (a key name, a key id, an account id) that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would run as a formula in Excel, LibreOffice or
Google Sheets (``=HYPERLINK(...)`` leaking other cells, ``=cmd|...`` running a program). Such a field is
written with a leading ``'``, so the spreadsheet shows it as text and the value stays readable
(``'=SUM(A1)``); a reader of the file removes that one ``'`` to get the name back. Numbers are never
prefixed: counts and costs are written from numbers, and a negative number is not a formula.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pandas as pd

from dashboard.periods import Window

PERIOD_COLUMNS = ("period_start", "period_end")
COLUMNS = (
    "account_id",
    "api_key_id",
    "api_key_name",
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
)
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list: a cell starting so is read as a formula
TEXT_PREFIX = "'"


def neutralised(text: str) -> str:
    """`text` as a spreadsheet shows it as text: a leading ``'`` when it starts like a formula."""
    return TEXT_PREFIX + text if text.startswith(FORMULA_STARTS) else text


def _field(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return neutralised(value)
    return "" if pd.isna(value) else str(value)


def _instant(moment: object) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def api_key_csv(frame: pd.DataFrame, window: Window) -> bytes:
    """`frame` (rows of ServingReader.costs by account and API key over `window`, in display order) as
    CSV bytes."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow((*PERIOD_COLUMNS, *COLUMNS))
    period = (_instant(window.first), _instant(window.end))
    for row in frame.loc[:, list(COLUMNS)].itertuples(index=False):
        writer.writerow([*period, *(_field(value) for value in row)])
    return (BOM + text.getvalue()).encode("utf-8")
