"""Baseline (a): run bench/baseline.sql on one arrival day's files into a fresh DuckDB file.

python bench/baseline_duckdb.py --day-folder LANDING/date=D --prices CSV --out FILE.duckdb [--memory-limit 2GB]

DuckDB's memory_limit is meterline's own (METERLINE_DUCKDB_MEMORY_LIMIT, default 2GB) unless
--memory-limit says otherwise, so the two are compared at equal memory (issue 18).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import duckdb

from meterline.settings import Settings

SCRIPT = Path(__file__).with_name("baseline.sql")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day-folder", type=Path, required=True)
    parser.add_argument("--prices", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--memory-limit", help="DuckDB's memory_limit (default: meterline's, Settings.duckdb_memory_limit)"
    )
    args = parser.parse_args()
    files = sorted(str(p) for p in args.day_folder.iterdir())
    jsonl = [f for f in files if f.endswith((".jsonl", ".jsonl.gz"))]
    parquet = [f for f in files if f.endswith(".parquet")]
    if not jsonl or not parquet:
        raise SystemExit(f"{args.day_folder}: the baseline expects JSONL and Parquet files (meterline generate)")
    args.out.unlink(missing_ok=True)
    limit = args.memory_limit or Settings.from_env().duckdb_memory_limit
    with duckdb.connect(str(args.out), config={"memory_limit": limit}) as con:
        con.execute("set variable jsonl_files = ?", [jsonl])
        con.execute("set variable parquet_files = ?", [parquet])
        con.execute("set variable prices = ?", [str(args.prices)])
        con.execute("set variable arrival_date = ?", [date.fromisoformat(args.day_folder.name.split("=", 1)[1])])
        con.execute(SCRIPT.read_text())


if __name__ == "__main__":
    main()
