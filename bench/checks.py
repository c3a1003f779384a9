"""Benchmark: time and peak memory of every data-quality check on a materialized arrival day.

    meterline generate --days 1 --rows-per-day 5000000 --out /tmp/bench/landing     # not timed
    METERLINE_LANDING=/tmp/bench/landing METERLINE_WAREHOUSE=/tmp/bench/warehouse.duckdb ... \\
        meterline materialize --from 2026-11-01 --to 2026-11-01
    python bench/checks.py --warehouse /tmp/bench/warehouse.duckdb --day 2026-11-01

Each check runs alone in a fresh child process (this script with ``--only``), on the warehouse
opened read-only, with the scope a run of that day has (the day, and the event days its last
dbt build rebuilt). Wall time covers the check only (imports excluded); peak memory is the
child's peak resident set size during the check (``VmHWM``, reset just before it starts), next
to its resident size before. Prints one table and one JSON line; record them in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb

from meterline.quality import rules as checks
from meterline.quality import suites
from meterline.quality.results import CheckResult, Scope
from meterline.settings import Settings


def _marts(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables "
        "where table_schema = 'marts' and table_name <> 'fct_cost' order by 1"
    ).fetchall()
    return [name for (name,) in rows]


def _aggregate_marts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The marts reconciled with fct_cost: every one but the cheaper-provider comparisons."""
    return [name for name in _marts(con) if name not in checks.ALTERNATIVES_MARTS]


Check = Callable[[duckdb.DuckDBPyConnection, Scope, Path], list[CheckResult]]
CHECKS: dict[str, Check] = {
    "price_catalog_rules": lambda con, scope, folder: [checks.price_catalog_rules(con)],
    "usage_records_rules": lambda con, scope, folder: [checks.usage_records_rules(con, scope)],
    "conservation": lambda con, scope, folder: [checks.conservation(con, scope)],
    "request_id_unique": lambda con, scope, folder: [checks.request_id_unique(con, scope)],
    "no_negative_cost": lambda con, scope, folder: [checks.no_negative_cost(con, scope)],
    "fct_cost_suite (GX)": lambda con, scope, folder: [suites.validate(con, suites.FCT_COST, scope, folder)],
    "reconciles_with_fct_cost (21 marts)": lambda con, scope, folder: checks.reconciliation(
        con, scope, _aggregate_marts(con)
    ),
    "unpriced_share": lambda con, scope, folder: [
        checks.unpriced_share(con, scope, Settings.from_env().unpriced_share_max)
    ],
    "regional_price_missing": lambda con, scope, folder: [checks.regional_price_missing(con, scope)],
    "one_row_per_group (23 marts)": lambda con, scope, folder: [
        checks.one_row_per_group(con, scope, table) for table in _marts(con)
    ],
    "alternatives_within_marts (2 marts)": lambda con, scope, folder: [
        checks.alternatives_within_marts(con, scope, table) for table in checks.ALTERNATIVES_MARTS
    ],
    "unpriced_records": lambda con, scope, folder: [checks.unpriced_records(con, scope)],
    "quarantine_share": lambda con, scope, folder: [
        checks.quarantine_share(con, scope, Settings.from_env().quarantine_share_max)
    ],
    "spend_jump_per_account": lambda con, scope, folder: [
        checks.spend_jump(con, scope, Settings.from_env().spend_jump_factor, "account")
    ],
    "spend_jump_per_api_key": lambda con, scope, folder: [
        checks.spend_jump(con, scope, Settings.from_env().spend_jump_factor, "api_key")
    ],
}


def _rss_kb(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1))


def run_one(name: str, warehouse: Path, day: date) -> dict:
    """Run check ``name`` in this process; its time, memory and result."""
    import great_expectations  # noqa: F401  (imported before the clock starts, like a warm process)

    with duckdb.connect(str(warehouse), read_only=True) as con, tempfile.TemporaryDirectory() as folder:
        scope = Scope(arrival_days=(day,), event_days=checks.rebuilt_event_days(con))
        rss_before = _rss_kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
        started = time.perf_counter()
        results = CHECKS[name](con, scope, Path(folder))
        wall = time.perf_counter() - started
        peak = _rss_kb("VmHWM")
    return {
        "check": name,
        "wall_s": round(wall, 2),
        "rss_before_mb": round(rss_before / 1024),
        "peak_rss_mb": round(peak / 1024),
        "passed": all(result.passed for result in results),
        "summary": results[0].summary if len(results) == 1 else f"{len(results)} results",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=None, help="default: $METERLINE_WAREHOUSE")
    parser.add_argument("--day", type=date.fromisoformat, required=True, help="the materialized arrival day")
    parser.add_argument("--only", choices=list(CHECKS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    warehouse = (args.warehouse or Settings.from_env().warehouse).resolve()
    if args.only:
        print(json.dumps(run_one(args.only, warehouse, args.day)))
        return
    with duckdb.connect(str(warehouse), read_only=True) as con:
        records = con.execute(
            "select records_read from raw.arrival_manifest where arrival_date = ?", [args.day]
        ).fetchall()
        fct_rows = con.execute("select count(*) from marts.fct_cost").fetchall()[0][0]
    measured = []
    for name in CHECKS:
        child = subprocess.run(
            [sys.executable, __file__, "--warehouse", str(warehouse), "--day", args.day.isoformat(), "--only", name],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        )  # fmt: skip
        measured.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(f"{name}: {measured[-1]['wall_s']} s, peak {measured[-1]['peak_rss_mb']} MB", file=sys.stderr)
    width = max(len(m["check"]) for m in measured)
    print(f"{'check':{width}}  {'wall s':>7}  {'peak MB':>7}  {'RSS before':>10}  passed")
    for m in measured:
        print(f"{m['check']:{width}}  {m['wall_s']:>7}  {m['peak_rss_mb']:>7}  {m['rss_before_mb']:>10}  {m['passed']}")
    print(f"{'total':{width}}  {round(sum(m['wall_s'] for m in measured), 1):>7}")
    print(json.dumps({
        "day": args.day.isoformat(),
        "records_read": records[0][0] if records else 0,
        "fct_cost_rows": fct_rows,
        "chunk_rows": suites.CHUNK_ROWS,
        "environment": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__,
                        "load_average": os.getloadavg()[0]},
        "checks": measured,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
