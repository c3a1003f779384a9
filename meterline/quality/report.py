"""Data-quality reports: one folder per run under $METERLINE_REPORTS, a ``latest`` pointer, the table.

Layout::

    $METERLINE_REPORTS/
      latest -> 2026-11-05T02-00-13.250Z_1a2b3c4d  symlink to the newest run's folder
      2026-11-05T02-00-13.250Z_1a2b3c4d/           <run start, UTC, ms>_<run id prefix>; never deleted
        dq_summary.json                            every check of the run (rebuilt as checks finish)
        checks/<asset>__<check>.json               one file per check (the summary is made of these)
        data_docs/index.html                       Great Expectations Data Docs of fct_cost_suite
        gx/                                        the Great Expectations project of the run

Checks of one run may finish in different processes, so writes to a run folder
hold an exclusive ``flock`` on ``<folder>/.lock`` and files are replaced atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meterline.errors import UsageError
from meterline.quality.results import BLOCKING, CheckResult

SUMMARY_FILE = "dq_summary.json"
LATEST = "latest"
CHECKS_DIR = "checks"
DATA_DOCS_DIR = "data_docs"
GX_DIR = "gx"
# How many offending rows `meterline dq-report` prints per failed check (the JSON keeps more).
PRINTED_ROWS = 5


def folder_name(run_id: str, run_time: datetime) -> str:
    """``<run start, UTC, to the millisecond>_<first 8 characters of the run id>``: sorts by time, safe on
    every filesystem. Milliseconds: a run that a blocking check stops before dbt can end within the second
    it started, and the next run would then sort by run id instead (and ``latest`` stay on the first)."""
    start = run_time.astimezone(UTC)
    return f"{start:%Y-%m-%dT%H-%M-%S}.{start.microsecond // 1000:03d}Z_{run_id[:8]}"


def run_folder(reports: Path, run_id: str, run_time: datetime) -> Path:
    folder = reports / folder_name(run_id, run_time)
    (folder / CHECKS_DIR).mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the run folder's lock (one writer of its files at a time, across processes)."""
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def record(folder: Path, results: Iterable[CheckResult], *, run_id: str, run_time: datetime, source: str) -> None:
    """Save ``results`` (produced by ``source``: sql, gx or dbt) in the run folder, rebuild its
    dq_summary.json and point ``latest`` at it."""
    with locked(folder):
        for result in results:
            entry = {**result.to_json(), "source": source}
            file_name = f"{result.asset.replace('/', '__')}__{result.name}.json"
            _write_json(folder / CHECKS_DIR / file_name, entry)
        _write_json(folder / SUMMARY_FILE, _summary(folder, run_id, run_time))
    _point_latest(folder)


def _order(check: dict[str, Any]) -> tuple:
    """dbt tests last; blocking before warnings; raw assets, then fct_cost, then the marts."""
    stage = 0 if check["asset"].startswith("raw/") else (1 if check["asset"] == "fct_cost" else 2)
    return (check["source"] == "dbt", check["severity"] != BLOCKING, stage, check["asset"], check["name"])


def _summary(folder: Path, run_id: str, run_time: datetime) -> dict[str, Any]:
    checks = [json.loads(path.read_text(encoding="utf-8")) for path in sorted((folder / CHECKS_DIR).glob("*.json"))]
    checks.sort(key=_order)
    blocking = sum(1 for c in checks if not c["passed"] and c["severity"] == BLOCKING)
    warnings = sum(1 for c in checks if not c["passed"] and c["severity"] != BLOCKING)
    docs = folder / DATA_DOCS_DIR / "index.html"
    return {
        "run_id": run_id,
        "run_time": run_time.astimezone(UTC).isoformat(),
        "partition": next((c["partition"] for c in checks if c["partition"]), None),
        "status": "blocked" if blocking else ("warnings" if warnings else "passed"),
        "blocking_failed": blocking,
        "warnings": warnings,
        "checks_run": len(checks),
        "data_docs": f"{DATA_DOCS_DIR}/index.html" if docs.exists() else None,
        "checks": checks,
    }


def _point_latest(folder: Path) -> None:
    """Point ``<reports>/latest`` at ``folder`` unless it already points at a newer run."""
    latest = folder.parent / LATEST
    current = os.readlink(latest) if latest.is_symlink() else ""
    if current > folder.name:
        return
    temporary = folder.parent / f".{LATEST}.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(folder.name)
    os.replace(temporary, latest)


def find_run(reports: Path, run: str | None) -> Path:
    """The report folder of ``run`` (a folder name, its prefix, or a Dagster run id or its
    prefix); the newest when ``run`` is None."""
    folders = sorted(p for p in reports.glob("*_*") if (p / SUMMARY_FILE).is_file()) if reports.is_dir() else []
    if not folders:
        raise UsageError(f"no data-quality report in {reports}: run `meterline materialize` first")
    if run is None:
        latest = reports / LATEST
        return latest.resolve() if (latest / SUMMARY_FILE).is_file() else folders[-1]
    matches = [
        folder for folder in folders if folder.name.startswith(run) or load_summary(folder)["run_id"].startswith(run)
    ]
    if not matches:
        raise UsageError(f"no report for run {run!r} in {reports} (newest: {folders[-1].name})")
    if len(matches) > 1:
        names = ", ".join(folder.name for folder in matches[:5])
        raise UsageError(f"run {run!r} matches {len(matches)} reports ({names}); give more characters")
    return matches[0]


def load_summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))


def _result(check: dict[str, Any]) -> str:
    if check["passed"]:
        return "PASS"
    return "FAIL" if check["severity"] == BLOCKING else "WARN"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def format_summary(summary: dict[str, Any], folder: Path) -> str:
    """The summary as text: a header, one line per check, the failures with their first rows."""
    checks = summary["checks"]
    shown = [c for c in checks if c["source"] != "dbt" or not c["passed"]]
    dbt_passed = sum(1 for c in checks if c["source"] == "dbt" and c["passed"])
    lines = [
        f"meterline data-quality report: run {summary['run_id']} ({summary['run_time']}), "
        f"arrival days {summary['partition'] or '-'}",
        f"folder: {folder}",
        "",
    ]
    header = ["RESULT", "SEVERITY", "ASSET", "CHECK", "PARTITION", "OBSERVED"]
    body = [
        [_result(c), c["severity"], c["asset"], c["name"], c["partition"] or "-", str(c["observed"])] for c in shown
    ]
    lines += _table([header, *body])
    if dbt_passed:
        lines.append(f"(and {dbt_passed} dbt tests passed)")
    failures = [c for c in shown if not c["passed"]]
    if failures:
        lines += ["", "Failures:"]
    for check in failures:
        lines.append(f"  {_result(check)} {check['asset']} / {check['name']}: {check['summary']}")
        for row in check["offending_rows"][:PRINTED_ROWS]:
            lines.append("      " + ", ".join(f"{key}={value}" for key, value in row.items()))
        if len(check["offending_rows"]) > PRINTED_ROWS:
            lines.append(f"      ... more rows in {folder / SUMMARY_FILE}")
    lines.append("")
    if summary["blocking_failed"]:
        lines.append(f"{summary['blocking_failed']} blocking checks failed: nothing from this run was published.")
    else:
        warnings = summary["warnings"]
        lines.append(f"All blocking checks passed ({warnings} warning{'' if warnings == 1 else 's'}).")
    if summary["data_docs"]:
        lines.append(f"Data Docs: {folder / summary['data_docs']}")
    return "\n".join(lines)


def print_report(reports: Path, run: str | None) -> int:
    """Print a run's summary (the newest by default); 1 when a blocking check failed, else 0."""
    folder = find_run(reports, run)
    summary = load_summary(folder)
    print(format_summary(summary, folder))
    return 1 if summary["blocking_failed"] else 0
