"""Benchmark a night of meterline: scale, growth, and the obvious alternatives (issue 7).

    .venv/bin/python bench/benchmark.py                      # everything (~35 min on 2 cores)
    .venv/bin/python bench/benchmark.py --rows 1000000 --repeats 1 --skip growth
    .venv/bin/python bench/benchmark.py --skip scale --growth-rows 200000

Scale: one arrival day of N records (``meterline generate``, not timed) through
``meterline materialize`` (ingest, dbt, checks, publish) in a subprocess with its
own METERLINE_* folders and DAGSTER_HOME in a temp folder, as the installation's
second run (its first, of an empty day, is measured apart), next to, on the same
files and in the same repeat, baseline (a) bench/baseline.sql (one DuckDB script,
no orchestration) and baseline (b) bench/baseline_pandas.py. Each is measured
with /usr/bin/time -v (wall, CPU, peak RSS) and a /proc sampler (the whole process
tree's RSS and CPU); meterline's time is split into phases from its Dagster event
log and dbt's run_results (bench/steps.py). The first repeat checks that the three
agree exactly (bench/equivalence.py).

Growth: arrival day D re-run on a warehouse holding only D, and on one holding
D and the 29 days before it; the re-run should cost the same.

Prints the medians as Markdown (BENCHMARKS.md) and writes every measurement as
JSON (--json). Temp data is deleted at the end (--keep to keep it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import duckdb  # noqa: E402
import equivalence  # noqa: E402
import measure  # noqa: E402
import steps  # noqa: E402

from meterline.settings import DEFAULT_PRICES, Settings  # noqa: E402

DAY = date(2026, 11, 5)
PYTHON = sys.executable
METERLINE = str(Path(PYTHON).with_name("meterline"))


def installation(folder: Path, landing: Path) -> dict[str, str]:
    """The environment of a meterline installation living in ``folder``."""
    return {**os.environ, "METERLINE_ENGINE": "duckdb", "METERLINE_LANDING": str(landing),
            "METERLINE_WAREHOUSE": str(folder / "warehouse.duckdb"), "METERLINE_RAW": str(folder / "raw"),
            "METERLINE_SERVING": str(folder / "serving" / "meterline.duckdb"),
            "METERLINE_REPORTS": str(folder / "reports"), "METERLINE_PRICES": str(DEFAULT_PRICES),
            "METERLINE_SPARK_WAREHOUSE": str(folder / "spark_warehouse"),
            "DAGSTER_HOME": str(folder / "dagster_home")}  # fmt: skip


def generate(landing: Path, days: int, rows_per_day: int, start: date) -> None:
    if landing.exists():
        shutil.rmtree(landing)
    subprocess.run([METERLINE, "generate", "--days", str(days), "--rows-per-day", str(rows_per_day), "--out",
                    str(landing), "--start", start.isoformat(), "--seed", "1"], check=True)  # fmt: skip


def materialize(folder: Path, landing: Path, start: date, end: date, log: Path) -> dict:
    """One measured ``meterline materialize --from start --to end`` with its phases."""
    env = installation(folder, landing)
    measured = measure.run([METERLINE, "materialize", "--from", start.isoformat(), "--to", end.isoformat()],
                           env=env, log=log)  # fmt: skip
    anatomy = steps.breakdown(Path(env["DAGSTER_HOME"]), measured.started_at, measured.wall_s, measured.samples)
    return {**_summary(measured), **anatomy}


def _summary(measured: measure.Measured) -> dict:
    """The measurement without its RSS and CPU timeline (kept out of the JSON)."""
    return {key: value for key, value in asdict(measured).items() if key != "samples"}


def startup_anatomy(work: Path) -> dict[str, float]:
    """What a materialize pays before its run starts: importing the Definitions, and the dbt parse of
    prepare_manifest on a warehouse path dbt has not seen (a full parse: the profile changed)."""
    folder = work / "startup"
    env = installation(folder, folder / "landing")
    log = work / "startup.log"
    imports = measure.run([PYTHON, "-c", "import orchestration.definitions"], env=env, log=log, cwd=BENCH.parent)
    parse = measure.run([PYTHON, "-c", "from orchestration.dbt.resource import prepare_manifest; prepare_manifest()"],
                        env=env, log=log, cwd=BENCH.parent)  # fmt: skip
    return {"import_definitions_s": imports.wall_s, "dbt_parse_s": parse.wall_s}


def scale(rows: int, repeats: int, work: Path, pandas: bool) -> dict:
    base = work / f"scale-{rows}"
    landing = base / "landing"
    generate(landing, 1, rows, DAY)
    day_folder = landing / f"date={DAY.isoformat()}"
    runs: list[dict] = []
    for repeat in range(repeats):
        run_dir = base / f"run-{repeat}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        # A night runs on an installation that has run before. The installation's first run, of the
        # empty arrival day before DAY, pays what only a new one pays (dbt's full parse under a new
        # warehouse path, the Dagster instance, the warehouse's tables); it is measured and kept apart.
        installed = run_dir / "meterline"
        before = DAY - timedelta(days=1)
        first = materialize(installed, landing, before, before, run_dir / "first.log")
        result: dict = {
            "first_run": first,
            "meterline": materialize(installed, landing, DAY, DAY, run_dir / "meterline.log"),
        }
        baseline_args = ["--day-folder", str(day_folder), "--prices", str(DEFAULT_PRICES), "--out"]
        result["duckdb_sql"] = _summary(measure.run(
            [PYTHON, str(BENCH / "baseline_duckdb.py"), *baseline_args, str(run_dir / "baseline.duckdb")],
            env=dict(os.environ), log=run_dir / "duckdb.log"))  # fmt: skip
        if pandas:
            result["pandas"] = _summary(measure.run(
                [PYTHON, str(BENCH / "baseline_pandas.py"), *baseline_args, str(run_dir / "pandas")],
                env=dict(os.environ), log=run_dir / "pandas.log"))  # fmt: skip
        if repeat == 0:
            result["equivalence"] = check_equivalence(run_dir, pandas)
        runs.append(result)
        print(f"scale {rows} repeat {repeat + 1}/{repeats}: " + ", ".join(
            f"{name} {runs[-1][name]['wall_s']} s" for name in ("meterline", "duckdb_sql", "pandas") if name in result),
            file=sys.stderr)  # fmt: skip
        shutil.rmtree(run_dir)
    with duckdb.connect() as con:
        records = (
            con.execute(
                f"select count(*) from read_csv('{day_folder}/*.jsonl*', columns={{'l': 'VARCHAR'}}, header=false, "
                "delim=chr(1), quote='', escape='', auto_detect=false, strict_mode=false) where trim(l) <> ''"
            ).fetchall()[0][0]
            + con.execute(f"select count(*) from read_parquet('{day_folder}/*.parquet')").fetchall()[0][0]
        )
    shutil.rmtree(base)
    return {"rows": rows, "records_read": records, "runs": runs}


def check_equivalence(run_dir: Path, pandas: bool) -> dict[str, list[str]]:
    meterline = run_dir / "meterline"
    expected = equivalence.of_meterline(meterline / "serving" / "meterline.duckdb", meterline / "warehouse.duckdb")
    found = {"duckdb_sql": equivalence.of_duckdb_baseline(run_dir / "baseline.duckdb")}
    if pandas:
        found["pandas"] = equivalence.of_parquet_baseline(run_dir / "pandas")
    problems = {name: equivalence.differences(expected, fingerprint) for name, fingerprint in found.items()}
    for name, lines in problems.items():
        print(f"equivalence meterline vs {name}: " + ("exact" if not lines else "DIFFERENT\n  " + "\n  ".join(lines)),
              file=sys.stderr)  # fmt: skip
    return problems


def growth(rows_per_day: int, history_days: tuple[int, ...], repeats: int, work: Path) -> dict:
    """Re-run arrival day DAY on warehouses holding ``history`` days up to DAY."""
    base = work / "growth"
    landing = base / "landing"
    longest = max(history_days)
    generate(landing, longest, rows_per_day, DAY - timedelta(days=longest - 1))
    result: dict = {"rows_per_day": rows_per_day, "history": {}}
    for history in history_days:
        folder = base / f"history-{history}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        first = DAY - timedelta(days=history - 1)
        prime = materialize(folder / "meterline", landing, first, DAY, folder / "prime.log")
        reruns = []
        for repeat in range(repeats):
            reruns.append(materialize(folder / "meterline", landing, DAY, DAY, folder / f"rerun-{repeat}.log"))
            print(f"growth history {history} rerun {repeat + 1}/{repeats}: {reruns[-1]['wall_s']} s", file=sys.stderr)
        with duckdb.connect(str(folder / "meterline" / "warehouse.duckdb"), read_only=True) as con:
            held = con.execute("select count(*) from raw.usage_records").fetchall()[0][0]
        result["history"][history] = {"prime": prime, "reruns": reruns, "raw_records_held": held}
        shutil.rmtree(folder)
    shutil.rmtree(base)
    return result


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def _bytecode_installed() -> bool:
    """Whether the installed dbt has compiled bytecode beside its sources (pip writes it, uv not)."""
    import importlib.util

    spec = importlib.util.find_spec("dbt.cli.main")
    return spec is not None and spec.origin is not None and Path(importlib.util.cache_from_source(spec.origin)).exists()


def environment() -> dict[str, str]:
    def version(package: str) -> str:
        from importlib.metadata import version as v

        return v(package)

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{cpu}, {os.cpu_count()} cores, {memory_gb} GB RAM, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        # meterline's and baseline (a)'s DuckDB memory_limit: they are compared at equal memory.
        "duckdb_memory_limit": Settings.from_env().duckdb_memory_limit,
        # Without installed bytecode (uv's default; these machines set PYTHONDONTWRITEBYTECODE=1) every
        # process compiles what it imports: seconds more start-up for meterline, none for (a).
        "bytecode_installed": str(_bytecode_installed()),
        **{
            name: version(name)
            for name in (
                "duckdb",
                "dagster",
                "dagster-dbt",
                "dbt-core",
                "dbt-duckdb",
                "great_expectations",
                "pandas",
                "pyarrow",
            )
        },  # fmt: skip
    }


def _phase_table(scale: list[dict], key: str, title: str, cell: Callable[[float], str]) -> list[str]:
    """Markdown lines of one per-phase figure of meterline (``key`` of its runs), a row per size."""
    header = list(scale[0]["runs"][0]["meterline"][key])
    lines = ["", title, "", "| records | " + " | ".join(header) + " |", "|---|" + "---|" * len(header)]
    for entry in scale:
        values = [run["meterline"][key] for run in entry["runs"]]
        lines.append(f"| {entry['records_read']:,} | " + " | ".join(
            cell(median([v.get(name, 0) for v in values])) for name in header) + " |")  # fmt: skip
    return lines


def markdown(results: dict) -> str:
    out = [f"Environment: {json.dumps(results['environment'])}", ""]
    if "startup" in results:
        out += [f"Start-up anatomy: {json.dumps(results['startup'])}", ""]
    if results.get("scale"):
        out += ["| records | tool | wall s (median) | records/s | CPU s | cores busy | peak RSS MB (time -v) | "
                "tree peak RSS MB | load avg | vs DuckDB SQL | CPU vs DuckDB SQL |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for entry in results["scale"]:
            floor = median([run["duckdb_sql"]["wall_s"] for run in entry["runs"]])
            cpu_floor = median([run["duckdb_sql"]["cpu_s"] for run in entry["runs"]])
            for tool in ("meterline", "duckdb_sql", "pandas"):
                runs = [run[tool] for run in entry["runs"] if tool in run]
                if not runs:
                    continue
                wall = median([r["wall_s"] for r in runs])
                cpu = median([r["cpu_s"] for r in runs])
                out.append(
                    f"| {entry['records_read']:,} | {tool} | {wall} | {round(entry['records_read'] / wall):,} | "
                    f"{cpu} | {cpu / wall:.2f} | "
                    f"{median([r['max_rss_mb'] for r in runs]):.0f} | {median([r['tree_peak_rss_mb'] for r in runs]):.0f} "
                    f"| {median([r['load_before'] for r in runs])} | {wall / floor:.2f}x | {cpu / cpu_floor:.2f}x |"
                )
        out += _phase_table(results["scale"], "phases", "meterline phases (median seconds):", str)
        out += _phase_table(
            results["scale"],
            "peak_rss_mb",
            "meterline peak RSS per phase (MB, whole process tree, median):",
            lambda mb: f"{mb:.0f}",
        )
        out += _phase_table(
            results["scale"],
            "phase_cpu_s",
            "meterline CPU seconds per phase (whole process tree, both cores, median):",
            str,
        )
        out.append("")
        for entry in results["scale"]:
            firsts = [run["first_run"] for run in entry["runs"]]
            out.append(f"First run of the new installation (an empty day) before the {entry['records_read']:,}-record "
                       f"night: {median([f['wall_s'] for f in firsts])} s, of which start-up "
                       f"{median([f['phases']['startup_before_run'] for f in firsts])} s (medians).")  # fmt: skip
        for entry in results["scale"]:
            verdicts = entry["runs"][0].get("equivalence", {})
            out.append("")
            out.append(
                f"Equivalence at {entry['records_read']:,} records: "
                + ", ".join(
                    f"meterline vs {name} {'exact' if not lines else 'DIFFERENT'}" for name, lines in verdicts.items()
                )
            )
    if results.get("growth"):
        growth_result = results["growth"]
        out += ["", f"Growth: re-run of one arrival day of {growth_result['rows_per_day']:,} records", "",
                "| history (days) | raw records held | rerun wall s (median) | ingest | dbt graph | checks | publish |",
                "|---|---|---|---|---|---|---|"]  # fmt: skip
        walls = {}
        for history, entry in growth_result["history"].items():
            reruns = entry["reruns"]
            walls[history] = median([r["wall_s"] for r in reruns])
            phase = {name: median([r["phases"][name] for r in reruns]) for name in ("ingest", "dbt_graph", "checks",
                                                                                    "publish")}  # fmt: skip
            out.append(f"| {history} | {entry['raw_records_held']:,} | {walls[history]} | {phase['ingest']} | "
                       f"{phase['dbt_graph']} | {phase['checks']} | {phase['publish']} |")  # fmt: skip
        keys = sorted(walls, key=int)
        out += ["", f"ratio {keys[-1]} days / {keys[0]} day: {walls[keys[-1]] / walls[keys[0]]:.2f}"]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--growth-rows", type=int, default=200_000, help="records per arrival day for growth")
    parser.add_argument("--growth-days", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--skip", choices=["scale", "growth", "pandas", "startup"], action="append", default=[])
    parser.add_argument("--work", type=Path, default=Path("/tmp/meterline-bench"))
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    measure.gnu_time_available()
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict = {"environment": environment()}
    try:
        if "startup" not in args.skip:
            results["startup"] = startup_anatomy(args.work)
        if "scale" not in args.skip:
            results["scale"] = [scale(rows, args.repeats, args.work, "pandas" not in args.skip) for rows in args.rows]
        if "growth" not in args.skip:
            results["growth"] = growth(args.growth_rows, tuple(args.growth_days), args.repeats, args.work)
    finally:
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, default=str))
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    print(markdown(results))


if __name__ == "__main__":
    main()
