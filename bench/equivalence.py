"""Do meterline and the baselines compute the same thing? Compare exact fingerprints.

A fingerprint is, for fct_cost and each of the 21 marts, the row count and the
exact sum of every measure (and of the averages), plus the quarantine count
per reason code. Decimals are compared as text, so a float anywhere shows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

MEASURES = ("request_count", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
            "reasoning_tokens", "images", "web_search_calls", "input_cost", "output_cost", "other_cost",
            "total_cost")  # fmt: skip
GRAINS = ("hourly", "daily", "monthly")
MART_AVERAGES = {
    "cost_cube": (),
    "cost_overview": ("avg_cost_per_request", "avg_cost_per_1k_tokens"),
    "cost_by_model": (),
    "cost_by_type": (),
    "cost_by_api_key": (),
    "cost_by_provider": (),
    "provider_model_details": ("avg_cost_per_request",),
}
TABLES = {"fct_cost": (), **{f"{m}_{g}": averages for m, averages in MART_AVERAGES.items() for g in GRAINS}}

Fingerprint = dict[str, dict[str, str]]


def fingerprint(con: duckdb.DuckDBPyConnection, relation: Callable[[str], str]) -> Fingerprint:
    """``relation(name)``: the SQL relation holding table ``name`` ('rejects': the quarantine)."""
    result: Fingerprint = {}
    for table, averages in TABLES.items():
        columns = (*MEASURES, *averages)
        row = con.execute(
            f"select count(*), {', '.join(f'sum({c})::varchar' for c in columns)} from {relation(table)}"
        ).fetchall()[0]
        result[table] = {"rows": str(row[0]), **dict(zip(columns, row[1:], strict=True))}
    reasons = con.execute(f"select reason, count(*) from {relation('rejects')} group by 1 order by 1").fetchall()
    result["quarantine"] = {reason: str(n) for reason, n in reasons}
    return result


def of_meterline(serving: Path, warehouse: Path) -> Fingerprint:
    with duckdb.connect(str(serving), read_only=True) as con:
        con.execute(f"attach '{warehouse}' as warehouse (read_only)")
        return fingerprint(con, lambda t: "warehouse.quarantine.rejected_usage" if t == "rejects" else f"marts.{t}")


def of_duckdb_baseline(database: Path) -> Fingerprint:
    with duckdb.connect(str(database), read_only=True) as con:
        return fingerprint(con, lambda t: t)


def of_parquet_baseline(folder: Path) -> Fingerprint:
    with duckdb.connect() as con:
        return fingerprint(con, lambda t: f"read_parquet('{folder / t}.parquet')")


def differences(expected: Fingerprint, actual: Fingerprint) -> list[str]:
    """Human-readable differences, empty when the fingerprints agree."""
    lines = []
    for table in sorted(expected.keys() | actual.keys()):
        mine, theirs = expected.get(table, {}), actual.get(table, {})
        for key in sorted(mine.keys() | theirs.keys()):
            if mine.get(key) != theirs.get(key):
                lines.append(f"{table}.{key}: {mine.get(key)} <> {theirs.get(key)}")
    return lines
