"""Baseline (a): run bench/baseline.sql on one arrival day's files into a fresh DuckDB file.

python bench/baseline_duckdb.py --day-folder LANDING/date=D --prices CSV --out FILE.duckdb
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import duckdb

SCRIPT = Path(__file__).with_name("baseline.sql")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day-folder", type=Path, required=True)
    parser.add_argument("--prices", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    files = sorted(str(p) for p in args.day_folder.iterdir())
    jsonl = [f for f in files if f.endswith((".jsonl", ".jsonl.gz"))]
    parquet = [f for f in files if f.endswith(".parquet")]
    if not jsonl or not parquet:
        raise SystemExit(f"{args.day_folder}: the baseline expects JSONL and Parquet files (meterline generate)")
    args.out.unlink(missing_ok=True)
    with duckdb.connect(str(args.out)) as con:
        con.execute("set variable jsonl_files = ?", [jsonl])
        con.execute("set variable parquet_files = ?", [parquet])
        con.execute("set variable prices = ?", [str(args.prices)])
        con.execute("set variable arrival_date = ?", [date.fromisoformat(args.day_folder.name.split("=", 1)[1])])
        con.execute(SCRIPT.read_text())


if __name__ == "__main__":
    main()
