"""Benchmark: one arrival day of N records through ingest, validation and fct_cost.

    python bench/foundation.py [--rows 1000000] [--work /tmp/meterline-bench]

Generates the day with `meterline generate` (not timed), then times, in one run
on the same files: ingest + validation (ingest_day, in process), the dbt models
up to fct_cost (`dbt build --select +fct_cost`, a subprocess, start-up included),
and the whole `meterline materialize` (ingest, dbt, checks, publish) on a fresh
warehouse. Prints one JSON line; record it in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb

from meterline.catalog import read_catalog
from meterline.ingest import ingest_day
from meterline.sample import generate_landing
from meterline.settings import DBT_PROJECT_DIR, DEFAULT_PRICES
from orchestration.dbt.resource import DBT_EXECUTABLE

DAY = date(2026, 11, 5)


def _timed(step: str, timings: dict[str, float], fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    timings[step] = round(time.perf_counter() - started, 2)
    print(f"{step}: {timings[step]} s", file=sys.stderr)
    return result


def _env(work: Path, warehouse: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TZ": "UTC",
        "METERLINE_LANDING": str(work / "landing"),
        "METERLINE_WAREHOUSE": str(warehouse),
        "METERLINE_SERVING": str(work / "serving" / "m.duckdb"),
        "METERLINE_REPORTS": str(work / "reports"),
        "METERLINE_PRICES": str(DEFAULT_PRICES),
        "DAGSTER_HOME": str(work / "dagster_home"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/meterline-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    generate_landing(args.work / "landing", days=1, rows_per_day=args.rows, seed=1, start=DAY)

    timings: dict[str, float] = {}
    warehouse = args.work / "foundation.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        read_catalog(con, DEFAULT_PRICES)
        result = _timed("ingest_and_validate", timings, ingest_day, con, args.work / "landing", args.work / "raw", DAY)
    window = json.dumps({"arrival_start": DAY.isoformat(), "arrival_end": "2026-11-06"})
    _timed(
        "dbt_to_fct_cost",
        timings,
        subprocess.run,
        [
            DBT_EXECUTABLE,
            "build",
            "--select",
            "+fct_cost",
            "--exclude-resource-type",
            "unit_test",
            "--vars",
            window,
            "--quiet",
        ],
        cwd=DBT_PROJECT_DIR,
        env={**_env(args.work, warehouse), "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)},
        check=True,
    )
    timings["foundation_total"] = round(timings["ingest_and_validate"] + timings["dbt_to_fct_cost"], 2)
    _timed(
        "materialize_end_to_end",
        timings,
        subprocess.run,
        [
            str(Path(sys.executable).with_name("meterline")),
            "materialize",
            "--from",
            DAY.isoformat(),
            "--to",
            DAY.isoformat(),
        ],
        env=_env(args.work, args.work / "warehouse.duckdb"),
        check=True,
        capture_output=True,
    )
    print(
        json.dumps(
            {
                "rows": args.rows,
                "records_read": result.records_read,
                "accepted": result.valid,
                "rejected": result.rejected,
                **timings,
                "records_per_second_foundation": round(result.records_read / timings["foundation_total"]),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "python": platform.python_version(),
                "duckdb": duckdb.__version__,
                "date": time.strftime("%Y-%m-%d"),
            }
        )
    )


if __name__ == "__main__":
    main()
