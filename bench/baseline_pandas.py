"""Baseline (b): the same day in plain pandas, the path many teams start with.

    python bench/baseline_pandas.py --day-folder LANDING/date=D --prices CSV --out FOLDER

Reads every line (json.loads per line, as a JSONL reader that must keep bad
lines has to), validates with the reason codes of raw_usage.md, keeps the latest
delivery, prices with ``merge_asof`` (the row in force at created_at), costs in
exact ``decimal.Decimal`` (floats would break pricing.md) and aggregates the 21
marts with ``groupby``. Writes fct_cost, the marts and the rejects as Parquet.
Same rules as bench/baseline.sql; bench/equivalence.py checks the outputs agree.
"""

from __future__ import annotations

import argparse
import decimal
import gzip
import json
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

decimal.getcontext().prec = 60  # exact: 12-decimal prices times token counts never need more
TEXT = ("request_id", "created_at", "account_id", "api_key_id", "api_key_name", "model", "provider", "endpoint",
        "billing_mode")  # fmt: skip
REQUIRED = ("request_id", "created_at", "account_id", "api_key_id", "model", "provider", "billing_mode")
COUNTERS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
            "images", "web_search_calls")  # fmt: skip
COSTS = ("input_cost", "output_cost", "other_cost", "total_cost")
ENDPOINTS = {"chat.completions", "responses", "messages", "embeddings", "images.generations", "images.edits",
             "audio.speech", "audio.transcriptions", "rerank"}  # fmt: skip
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
INT64 = (-(2**63), 2**63 - 1)
MICRO = Decimal("0.000001")
ATTO = Decimal("0.000000000000000001")
MART_DIMENSIONS = {
    "cost_cube": ["account_id", "api_key_id", "api_key_name", "model", "provider", "model_type", "purpose"],
    "cost_overview": ["account_id"],
    "cost_by_model": ["account_id", "model"],
    "cost_by_type": ["account_id", "model_type", "purpose"],
    "cost_by_api_key": ["account_id", "api_key_id", "api_key_name"],
    "cost_by_provider": ["account_id", "provider"],
    "provider_model_details": ["account_id", "provider", "model"],
}
MEASURES = ["request_count", *COUNTERS, *COSTS]
GRAIN_UNITS = {"hourly": "h", "daily": "D", "monthly": "M"}


def read_lines(path: Path) -> pd.DataFrame:
    """One row per non-blank line (JSONL) or row (Parquet) of one file: line number, parsed object or None
    (not a JSON object), text."""
    if path.name.endswith(".parquet"):
        objects = pq.read_table(path).to_pylist()
        numbers = list(range(1, len(objects) + 1))
        texts = [json.dumps(obj, default=str) for obj in objects]
    else:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
        numbers = [n for n, _ in numbered]
        texts = [line for _, line in numbered]
        objects = [_parse(line) for line in texts]
    return pd.DataFrame({"source_file": path.name, "line_number": numbers, "obj": objects, "raw_record": texts})


def _parse(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _text(value: object) -> str | None:
    """A text field as DuckDB's json_extract_string gives it: strings as they are, other scalars as JSON."""
    if value is None or isinstance(value, str):
        return value or None
    return json.dumps(value, separators=(",", ":"))


def _counter(value: object) -> int | None:
    """A usage counter: an integer (not a bool) within BIGINT, 0 when missing or null, else None (invalid)."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and INT64[0] <= value <= INT64[1]:
        return value
    return None


def classify(lines: pd.DataFrame) -> pd.DataFrame:
    is_object = lines["obj"].notna()
    df = lines[["source_file", "line_number", "raw_record"]].copy()
    objs = lines["obj"].where(is_object, None)
    for field in TEXT:
        df[field] = objs.map(lambda o, f=field: _text(o.get(f)) if o else None)
    usage = objs.map(lambda o: o.get("usage") if o else None)
    usage_is_object = usage.map(lambda u: isinstance(u, dict))
    for counter in COUNTERS:
        df[counter] = usage.map(lambda u, c=counter: _counter(u.get(c)) if isinstance(u, dict) else 0)
    missing = df[list(REQUIRED)].isna().any(axis=1) | ~usage_is_object
    stamp_ok = df["created_at"].map(lambda s: isinstance(s, str) and RFC3339.match(s) is not None)
    stamps = pd.to_datetime(df["created_at"].where(stamp_ok).str.upper(), format="ISO8601", utc=True, errors="coerce")
    df["created_at"] = stamps.dt.tz_localize(None)
    counters = df[list(COUNTERS)]
    bad_counter = counters.isna().any(axis=1) | (counters.fillna(0) < 0).any(axis=1)
    filled = counters.fillna(0)
    inconsistent = (filled["cached_input_tokens"] + filled["cache_write_tokens"] > filled["input_tokens"]) | (
        filled["reasoning_tokens"] > filled["output_tokens"]
    )
    reason = pd.Series(None, index=df.index, dtype=object)
    rules = [
        (~is_object, "malformed_record"),
        (missing, "missing_field"),
        (df["created_at"].isna(), "bad_timestamp"),
        (~df["billing_mode"].isin(["payg", "subscription"]), "bad_billing_mode"),
        (bad_counter, "negative_usage"),
        (inconsistent, "inconsistent_usage"),
    ]
    for failed, code in rules:
        reason = reason.where(reason.notna() | ~failed, code)
    df["reason"] = reason
    return df


def read_prices(path: Path) -> pd.DataFrame:
    prices = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "region" in prices:  # the generated records report no region: the region-less rows price them
        prices = prices[prices["region"].str.strip() == ""].drop(columns="region")
    prices["effective_from"] = pd.to_datetime(prices["effective_from"], format="ISO8601", utc=True).dt.tz_localize(None)
    for column in ("input_per_mtok", "output_per_mtok"):
        prices[column] = prices[column].map(Decimal)
    for column in ("cached_input_per_mtok", "cache_write_per_mtok"):
        prices[column] = [Decimal(v) if v else d for v, d in zip(prices[column], prices["input_per_mtok"], strict=True)]
    for column in ("per_request", "per_image", "per_web_search"):
        prices[column] = prices[column].map(lambda v: Decimal(v) if v else Decimal(0))
    return prices.sort_values("effective_from")


def rate(valid: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    names = valid.sort_values(["created_at", "source_file", "line_number"]).drop_duplicates("api_key_id", keep="last")
    latest = valid.sort_values(["source_file", "line_number"]).drop_duplicates("request_id", keep="last")
    rated = pd.merge_asof(
        latest.sort_values("created_at"),
        prices.rename(columns={"effective_from": "price_effective_from"}),
        left_on="created_at",
        right_on="price_effective_from",
        by=["provider", "model"],
        direction="backward",
    )
    rated["api_key_name"] = rated["api_key_id"].map(names.set_index("api_key_id")["api_key_name"])
    return rated


def cost(priced: pd.DataFrame) -> pd.DataFrame:
    fct = priced.copy()
    uncached = fct["input_tokens"] - fct["cached_input_tokens"] - fct["cache_write_tokens"]
    fct["input_cost"] = (
        uncached.astype(object) * fct["input_per_mtok"] * MICRO
        + fct["cached_input_tokens"].astype(object) * fct["cached_input_per_mtok"] * MICRO
        + fct["cache_write_tokens"].astype(object) * fct["cache_write_per_mtok"] * MICRO
    )
    fct["output_cost"] = fct["output_tokens"].astype(object) * fct["output_per_mtok"] * MICRO
    fct["other_cost"] = (
        fct["per_request"]
        + fct["images"].astype(object) * fct["per_image"]
        + fct["web_search_calls"].astype(object) * fct["per_web_search"]
    )
    fct["total_cost"] = fct["input_cost"] + fct["output_cost"] + fct["other_cost"]
    endpoint = fct["endpoint"].where(fct["endpoint"].isin(ENDPOINTS), "other")
    fct["endpoint"] = endpoint
    fct["purpose"] = "other"
    fct.loc[endpoint.isin(["chat.completions", "responses", "messages"]), "purpose"] = "chat"
    fct.loc[fct["reasoning_tokens"] > 0, "purpose"] = "reasoning"
    fct.loc[endpoint.isin(["images.generations", "images.edits"]), "purpose"] = "image_generation"
    fct.loc[endpoint == "embeddings", "purpose"] = "embedding"
    fct["request_count"] = 1
    return fct


def exact_divide(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator rounded half up at 18 decimals; None when the denominator is 0."""
    return pd.Series(
        [
            (n / Decimal(d)).quantize(ATTO, rounding=ROUND_HALF_UP) if d else None
            for n, d in zip(numerator, denominator, strict=True)
        ],
        index=numerator.index,
        dtype=object,
    )


def marts(fct: pd.DataFrame) -> dict[str, pd.DataFrame]:
    payg = fct[fct["billing_mode"] == "payg"]
    cube_dims = MART_DIMENSIONS["cost_cube"]
    tables: dict[str, pd.DataFrame] = {}
    source, source_time = payg, "created_at"
    for grain, unit in GRAIN_UNITS.items():
        periods = source[source_time].dt.to_period(unit).dt.start_time
        cube = source.assign(period_start=periods).groupby(["period_start", *cube_dims], dropna=False)[MEASURES].sum()
        tables[f"cost_cube_{grain}"] = cube.reset_index()
        source, source_time = tables[f"cost_cube_{grain}"], "period_start"
        for table, dims in MART_DIMENSIONS.items():
            if table == "cost_cube":
                continue
            rolled = source.groupby(["period_start", *dims], dropna=False)[MEASURES].sum().reset_index()
            if table in ("cost_overview", "provider_model_details"):
                rolled["avg_cost_per_request"] = exact_divide(rolled["total_cost"], rolled["request_count"])
            if table == "cost_overview":
                rolled["avg_cost_per_1k_tokens"] = exact_divide(
                    rolled["total_cost"] * 1000, rolled["input_tokens"] + rolled["output_tokens"]
                )
            tables[f"{table}_{grain}"] = rolled
    return tables


def write(frame: pd.DataFrame, path: Path) -> None:
    """Parquet with the money columns as DECIMAL(38,18), like the marts."""
    money = [c for c in frame.columns if c.endswith("_cost") or c.startswith("avg_cost")]
    table = pa.Table.from_pandas(frame.drop(columns=money), preserve_index=False)
    for column in money:
        table = table.append_column(column, pa.array(frame[column], type=pa.decimal128(38, 18)))
    pq.write_table(table, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day-folder", type=Path, required=True)
    parser.add_argument("--prices", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    arrival = date.fromisoformat(args.day_folder.name.split("=", 1)[1])
    args.out.mkdir(parents=True, exist_ok=True)

    # File by file, keeping the raw text of rejected lines only.
    parts = []
    for path in sorted(args.day_folder.iterdir()):
        part = classify(read_lines(path))
        part["raw_record"] = part["raw_record"].where(part["reason"].notna(), None)
        parts.append(part)
    records = pd.concat(parts, ignore_index=True)
    rejects = records[records["reason"].notna()][["source_file", "line_number", "request_id", "reason", "raw_record"]]
    valid = records[records["reason"].isna()].drop(columns=["reason", "raw_record"])
    for counter in COUNTERS:
        valid[counter] = valid[counter].astype("int64")
    rated = rate(valid, read_prices(args.prices))
    priced = rated["price_effective_from"].notna()
    unpriced = rated[~priced].assign(reason="unpriced")
    unpriced["raw_record"] = [
        json.dumps(record, default=str) for record in unpriced[[*TEXT, *COUNTERS]].to_dict("records")
    ]
    rejects = pd.concat([rejects, unpriced[rejects.columns]], ignore_index=True).assign(arrival_date=arrival)
    fct = cost(rated[priced]).assign(arrival_date=arrival)
    fct_columns = ["request_id", "created_at", "arrival_date", "account_id", "api_key_id", "api_key_name", "model",
                   "provider", "model_type", "purpose", "endpoint", "billing_mode", "request_count", *COUNTERS,
                   *COSTS, "price_effective_from"]  # fmt: skip
    write(fct[fct_columns], args.out / "fct_cost.parquet")
    for name, frame in marts(fct).items():
        write(frame, args.out / f"{name}.parquet")
    rejects.to_parquet(args.out / "rejects.parquet", index=False)


if __name__ == "__main__":
    main()
