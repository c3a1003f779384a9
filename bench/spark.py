"""Benchmark: the same 1M-record arrival day as bench/foundation.py, on Spark local mode.

    python bench/spark.py [--rows 1000000] [--work /tmp/meterline-bench-spark]

Needs the spark extra (pip install -e '.[spark]') and Java 17+. Generates the
day with `meterline generate` (not timed), then times, on the same files:
ingest + validation + the Parquet raw layer (DuckDB, as on either engine);
starting the local Spark (a JVM, in this process, served to dbt through Spark
Connect); the dbt models up to fct_cost on Spark (`dbt build --select
+fct_cost`, a subprocess); and the whole `meterline materialize` with
METERLINE_ENGINE=spark (ingest, Spark start-up, all models, publish) on a
fresh warehouse, in its own process. Prints one JSON line; record it in
BENCHMARKS.md.
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
from meterline.raw_layer import write_catalog
from meterline.sample import generate_landing
from meterline.settings import DBT_PROJECT_DIR, DEFAULT_PRICES, Settings
from orchestration.dbt.resource import DBT_EXECUTABLE

DAY = date(2026, 11, 5)


def _timed(step: str, timings: dict[str, float], fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    timings[step] = round(time.perf_counter() - started, 2)
    print(f"{step}: {timings[step]} s", file=sys.stderr)
    return result


def _env(work: Path, name: str) -> dict[str, str]:
    """An installation under work/name, on Spark."""
    root = work / name
    return {
        "TZ": "UTC",
        "METERLINE_ENGINE": "spark",
        "METERLINE_LANDING": str(work / "landing"),
        "METERLINE_WAREHOUSE": str(root / "warehouse.duckdb"),
        "METERLINE_RAW": str(root / "raw"),
        "METERLINE_SPARK_WAREHOUSE": str(root / "spark_warehouse"),
        "METERLINE_SERVING": str(root / "serving" / "m.duckdb"),
        "METERLINE_REPORTS": str(root / "reports"),
        "METERLINE_PRICES": str(DEFAULT_PRICES),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }


def _ingest(settings: Settings) -> object:
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        read_catalog(con, settings.prices)
        write_catalog(con, settings.raw)
        result = ingest_day(con, settings.landing, settings.raw, DAY)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/meterline-bench-spark"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    generate_landing(args.work / "landing", days=1, rows_per_day=args.rows, seed=1, start=DAY)

    timings: dict[str, float] = {}
    os.environ.update(_env(args.work, "steps"))
    settings = Settings.from_env()
    result = _timed("ingest_validate_raw_layer", timings, _ingest, settings)

    from meterline.spark import spark_session

    spark = _timed("spark_start", timings, spark_session, settings)
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
        env={**os.environ, "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)},
        check=True,
    )
    costed = spark.sql("select count(*) from marts.fct_cost").collect()[0][0]
    timings["foundation_total"] = round(
        timings["ingest_validate_raw_layer"] + timings["spark_start"] + timings["dbt_to_fct_cost"], 2
    )

    child_env = {k: v for k, v in os.environ.items() if k != "SPARK_REMOTE"}
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
        env={**child_env, **_env(args.work, "end_to_end")},
        check=True,
        capture_output=True,
    )
    import pyspark

    print(
        json.dumps(
            {
                "engine": "spark local mode",
                "rows": args.rows,
                "records_read": result.records_read,
                "accepted": result.valid,
                "rejected": result.rejected,
                "fct_cost_rows": costed,
                **timings,
                "records_per_second_foundation": round(result.records_read / timings["foundation_total"]),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "python": platform.python_version(),
                "spark": pyspark.__version__,
                "spark_master": os.environ.get("METERLINE_SPARK_MASTER", "local[*]"),
                "driver_memory": os.environ.get("METERLINE_SPARK_DRIVER_MEMORY", "4g"),
                "date": time.strftime("%Y-%m-%d"),
            }
        )
    )


if __name__ == "__main__":
    main()
