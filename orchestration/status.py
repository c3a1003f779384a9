"""What state each arrival day is in, from the Dagster instance and the landing folder.

A day's state (``meterline status``), from its last asset, ``serving_marts``
(the day's marts checked and published), and its landing folder:

- ``materialized``: published, and the folder is unchanged since the run that ingested it;
- ``stale``: published, but the folder or one of its usage files changed after the ingesting
  run started (a late or replaced file: the late-files sensor requests a rerun);
- ``failed``: the last run that set out to publish it failed (a step or a blocking check);
- ``running``: such a run is in progress;
- ``not published``: its files were ingested by a run that did not publish it (e.g. only
  ``raw_usage`` materialized from the UI);
- ``never run``: it has a landing folder but no run ever ingested it.

"Changed" compares modification times with the start of the run that last
ingested the day (materialized ``raw/usage_records``), so a file written while
that run was reading counts as late. A folder's fingerprint (name, size and mtime of each usage file) tells
one change from the next (the sensor's cursor). Nothing here opens the
warehouse, so ``meterline status`` works while a run holds it.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg

from meterline.ingest import (
    day_folder,
    day_of_folder,
    landing_entries,
    landing_files,
    unreadable_folders,
)
from orchestration.partitions import arrival_days

RAW_RECORDS = dg.AssetKey(["raw", "usage_records"])  # ingested: when the day's files were read
PUBLISHED = dg.AssetKey("serving_marts")  # the day's last step: its marts checked and published


@dataclass(frozen=True)
class Fingerprint:
    """A day folder as seen now: the usage files (name, size, mtime) hashed, their number,
    and the latest mtime of the folder and those files (POSIX seconds; None without a folder)."""

    digest: str
    files: int
    changed_at: float | None


@dataclass(frozen=True)
class Materialization:
    run_id: str
    run_started: float


@dataclass(frozen=True)
class DayState:
    day: date
    state: str
    fingerprint: Fingerprint
    materialized: Materialization | None


def fingerprint(landing: Path, day: date) -> Fingerprint:
    folder = day_folder(landing, day)
    try:
        folder_mtime = folder.stat().st_mtime
    except FileNotFoundError:
        return Fingerprint(hashlib.sha256().hexdigest(), 0, None)
    digest = hashlib.sha256()
    latest = folder_mtime
    files = landing_files(landing, day)
    for path in files:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        latest = max(latest, stat.st_mtime)
    return Fingerprint(digest.hexdigest(), len(files), latest)


def landing_days(landing: Path) -> list[date]:
    """The arrival days with a ``date=YYYY-MM-DD`` folder in the landing folder."""
    if not landing.is_dir():
        return []
    days = []
    for entry in landing.iterdir():
        day = day_of_folder(entry.name)
        if entry.is_dir() and day is not None:
            days.append(day)
    return sorted(days)


def landing_warnings(landing: Path, days: list[date]) -> list[str]:
    """What a run would not read in the landing folder: folders not named as a day, and links of
    ``days`` that leave the landing folder or dangle."""
    skipped = [warning for day in days for warning in landing_entries(landing, day)[1]]
    return [*unreadable_folders(landing), *skipped]


def latest_materializations(instance: dg.DagsterInstance) -> dict[date, Materialization]:
    """Per arrival day, the run that last ingested it (materialized ``raw/usage_records``) and
    when that run started."""
    storage_ids = instance.event_log_storage.get_latest_storage_id_by_partition(
        RAW_RECORDS, dg.DagsterEventType.ASSET_MATERIALIZATION
    )
    if not storage_ids:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RAW_RECORDS, storage_ids=list(storage_ids.values())),
        limit=len(storage_ids),
    ).records
    run_ids = sorted({record.run_id for record in records})
    started = {
        record.dagster_run.run_id: record.start_time or record.create_timestamp.timestamp()
        for record in instance.get_run_records(dg.RunsFilter(run_ids=run_ids))
    }
    return {
        date.fromisoformat(record.partition_key): Materialization(record.run_id, started[record.run_id])
        for record in records
        if record.partition_key is not None
    }


def is_stale(current: Fingerprint, materialization: Materialization) -> bool:
    return current.changed_at is not None and current.changed_at > materialization.run_started


def stale_days(instance: dg.DagsterInstance, landing: Path) -> dict[date, Fingerprint]:
    """The ingested days whose folder changed since the run that ingested them started."""
    stale = {}
    for day, materialization in latest_materializations(instance).items():
        current = fingerprint(landing, day)
        if is_stale(current, materialization):
            stale[day] = current
    return stale


def attempted_days(instance: dg.DagsterInstance) -> set[date]:
    """The arrival days a run ever set out to ingest (successfully or not)."""
    keys = instance.event_log_storage.get_latest_storage_id_by_partition(
        RAW_RECORDS, dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    )
    return {date.fromisoformat(key) for key in keys}


def day_states(instance: dg.DagsterInstance, landing: Path) -> list[DayState]:
    materialized = latest_materializations(instance)
    days = sorted(set(landing_days(landing)) | set(materialized) | attempted_days(instance))
    keys = [day.isoformat() for day in days]
    statuses = instance.get_status_by_partition(PUBLISHED, keys, arrival_days) or {}
    states = []
    for day, key in zip(days, keys, strict=True):
        current, materialization = fingerprint(landing, day), materialized.get(day)
        states.append(DayState(day, _state(statuses.get(key), current, materialization), current, materialization))
    return states


def _state(
    status: dg.AssetPartitionStatus | None, current: Fingerprint, materialization: Materialization | None
) -> str:
    if status == dg.AssetPartitionStatus.IN_PROGRESS:
        return "running"
    if status == dg.AssetPartitionStatus.FAILED:
        return "failed"
    if materialization is None:
        return "never run"
    if status is None:
        return "not published"
    return "stale" if is_stale(current, materialization) else "materialized"


def last_finished_run(instance: dg.DagsterInstance) -> dg.RunRecord | None:
    finished = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
    records = instance.get_run_records(dg.RunsFilter(statuses=finished), limit=1)
    return records[0] if records else None


def run_checks(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    """The asset check evaluations of a run, failed ones first."""
    events = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [record.event_log_entry.dagster_event.asset_check_evaluation_data for record in events]
    return sorted(evaluations, key=lambda e: (e.passed, e.asset_key.to_user_string(), e.check_name))


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _window(run: dg.DagsterRun) -> str:
    tags = run.tags
    start = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    end = tags.get("dagster/asset_partition_range_end") or start
    if start is None:
        return "no partition"
    return start if start == end else f"{start} .. {end}"


def print_status(instance: dg.DagsterInstance, landing: Path) -> None:
    if not landing.is_dir():
        print(
            f"note: the landing folder {landing} does not exist (set METERLINE_LANDING to the folder "
            "holding date=YYYY-MM-DD/ subfolders); listing the days the Dagster instance knows",
            file=sys.stderr,
        )
    states = day_states(instance, landing)
    print(f"{'arrival day':<12} {'state':<13} {'files':>5}  {'ingested by run (started)':<40} changed")
    for state in states:
        run = (
            f"{state.materialized.run_id[:8]} ({_when(state.materialized.run_started)})" if state.materialized else "-"
        )
        print(
            f"{state.day.isoformat():<12} {state.state:<13} {state.fingerprint.files:>5}  {run:<40} "
            f"{_when(state.fingerprint.changed_at)}"
        )
    if not states:
        print("(no arrival days: no landing folders and nothing materialized yet)")
    warnings = landing_warnings(landing, [state.day for state in states])
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    record = last_finished_run(instance)
    if record is None:
        print("\nlast run: none yet")
        return
    run = record.dagster_run
    checks = run_checks(instance, run.run_id)
    failed = [check for check in checks if not check.passed]
    print(
        f"\nlast run: {run.run_id} {run.status.value} (job {run.job_name}, arrival days {_window(run)}, "
        f"ended {_when(record.end_time)}): {len(checks)} check(s) evaluated, {len(failed)} failed"
    )
    for check in checks:
        outcome = "PASS" if check.passed else f"FAIL ({check.severity.value})"
        detail = f": {check.description}" if check.description and not check.passed else ""
        print(f"  {outcome:<14} {check.asset_key.to_user_string()} {check.check_name}{detail}")


def status() -> int:
    """``meterline status``: the table of arrival days and the last run's checks."""
    from meterline.settings import Settings
    from orchestration.instance import prepare_instance
    from orchestration.runs import fail_dead_runs

    settings = Settings.from_env()
    instance = prepare_instance(settings)
    for run_id in fail_dead_runs(instance):
        print(f"note: run {run_id} was unfinished but its process is gone: marked failed", file=sys.stderr)
    print_status(instance, settings.landing)
    return 0
