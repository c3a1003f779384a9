"""The cost-by-API-key table as a CSV file a spreadsheet opens as it is.

Encoding: UTF-8 with a byte-order mark (so Excel reads non-ASCII key names right; Python reads it with
``encoding="utf-8-sig"``). Quoting: RFC 4180 (a field holding a comma, a quote or a line break is
quoted, quotes doubled), CRLF line ends. Costs are the exact decimal values (no rounding, no exponent);
a key without a name has an empty name field.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pandas as pd

COLUMNS = ("account_id", "api_key_id", "api_key_name", "request_count", "total_cost")
BOM = "\ufeff"


def _field(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return "" if pd.isna(value) else str(value)


def api_key_csv(frame: pd.DataFrame) -> bytes:
    """`frame` (rows of ServingReader.costs by account and API key, in display order) as CSV bytes."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in frame.loc[:, list(COLUMNS)].itertuples(index=False):
        writer.writerow([_field(value) for value in row])
    return (BOM + text.getvalue()).encode("utf-8")
