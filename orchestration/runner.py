"""Running the Dagster job in this process, for the ``meterline`` commands."""

from __future__ import annotations

import os
import re
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from meterline.errors import UsageError
from meterline.settings import FIRST_ARRIVAL_DAY, Settings
from orchestration.instance import prepare_instance
from orchestration.progress import captured

# Progress per day and step on the console; Dagster's DEBUG events stay in the event log.
PROGRESS_LOGGING = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
LOG_FILE = "run.log"
DEMO_START = date(2026, 11, 1)
DEMO_DAYS = 3
DEMO_ROWS_PER_DAY = 2_000


def check_window(start: date, end: date) -> None:
    """Refuse a window that is not a range of valid arrival-day partitions."""
    first = date.fromisoformat(FIRST_ARRIVAL_DAY)
    today = datetime.now(UTC).date()
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    if start < first:
        raise UsageError(f"--from {start} is before the first arrival day {first}")
    if end > today:
        raise UsageError(f"--to {end} is in the future (today is {today} UTC)")


def check_catalog(path: Path) -> None:
    """Fail fast, before any Dagster start-up, on a catalog that cannot be a catalog CSV."""
    if not path.is_file():
        raise UsageError(f"price catalog {path} does not exist (set METERLINE_PRICES to the catalog CSV)")
    if path.suffix.lower() != ".csv":
        raise UsageError(f"price catalog {path} is not a .csv file (set METERLINE_PRICES to the catalog CSV)")


DBT_ERRORS = "Errors parsed from dbt logs:"


def user_line(error) -> str:
    """One line for a user from a Dagster error (SerializableErrorInfo): the message of the error at
    the bottom of its causes (a retried step's ``RetryRequestedFromPolicy`` wraps the real one)
    without the exception's class; for dbt, the first error dbt logged without the SQL excerpt and
    its ``^^^`` marker."""
    while error.cause is not None:
        error = error.cause
    message = re.sub(rf"^([\w.]+\.)?{re.escape(error.cls_name or '')}: ", "", error.message.strip())
    lines = [line.strip() for line in message.splitlines()]
    if DBT_ERRORS in message:
        logged = [line for line in lines[lines.index(DBT_ERRORS) + 1 :] if line]
        useful = [line for line in logged if not re.fullmatch(r"\^+|LINE \d+:.*", line)]
        return "dbt: " + ": ".join(useful[:2]) + " (the dbt log in the run's compute logs has the rest)"
    return next((line for line in reversed(lines) if line), error.cls_name or "unknown error")


def failure_messages(events: list) -> dict[str, str]:
    """step key -> one line saying why it failed (:func:`user_line`; the first attempt's error
    when the step was retried, not "Exceeded max_retries")."""
    from dagster import DagsterEventType

    messages: dict[str, str] = {}
    for event in events:
        if event.event_type == DagsterEventType.STEP_UP_FOR_RETRY:
            error = event.event_specific_data.error
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
        else:
            continue
        if error is not None and event.step_key not in messages:
            messages[event.step_key] = user_line(error)
    return messages


def failed_blocking_checks(events: list) -> list[str]:
    """One line per blocking check that failed: the check and its summary (what is wrong, the fix)."""
    from dagster import AssetCheckSeverity, DagsterEventType

    checks = [event.asset_check_evaluation_data for event in events
              if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION]  # fmt: skip
    return [check_line(check) for check in checks if not check.passed and check.severity == AssetCheckSeverity.ERROR]


def check_line(check) -> str:
    """A failed check (an AssetCheckEvaluation) in one line: meterline's checks say what is wrong and the
    fix in their description; a dbt test has none, so its failing rows are counted instead."""
    from orchestration.quality import dbt_test_summary

    if check.description:
        summary = check.description
    else:
        failures = check.metadata.get("dagster_dbt/failed_row_count")
        summary = dbt_test_summary(check.passed, failures.value if failures is not None else None)
    return f"blocking check {check.asset_key.to_user_string()} {check.check_name} failed: {summary}"


def partition_tags(start: date, end: date) -> dict[str, str]:
    """The run's partitions: one day is the day's partition, as the schedule and the sensor launch it
    (each check's result is then recorded on that day in Dagster); several days, one range run."""
    from orchestration.internals import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
        PARTITION_NAME_TAG,
    )

    if start == end:
        return {PARTITION_NAME_TAG: start.isoformat()}
    return {ASSET_PARTITION_RANGE_START_TAG: start.isoformat(), ASSET_PARTITION_RANGE_END_TAG: end.isoformat()}


def materialize(start: date, end: date, *, verbose: bool = False) -> int:
    """Run the main job for arrival days [start, end] in this process; 0 on success. The terminal
    shows a line per step (orchestration/progress.py); the whole log, dbt's included, goes to
    ``run.log`` in the run's report folder, ``$METERLINE_REPORTS/<run start>_<run id>/`` (``verbose``: to
    the terminal too)."""
    settings = Settings.from_env()
    check_window(start, end)
    check_catalog(settings.prices)
    os.environ.update(settings.as_env())

    from meterline.dbt_child import warm_dbt
    from meterline.locking import warehouse_lock
    from meterline.warehouse import WarehouseLockedError

    warm_dbt()  # imports dbt in a server of its own while this process starts Dagster and ingests
    from orchestration.dbt.resource import prepare_manifest

    prepare_manifest()
    from orchestration.definitions import MAIN_JOB, defs
    from orchestration.internals import event_log_held_open

    instance = prepare_instance(settings)
    from orchestration.runs import fail_dead_runs, process_tags

    for run_id in fail_dead_runs(instance):
        print(f"meterline: run {run_id} was unfinished but its process is gone: marked failed", file=sys.stderr)
    try:
        # Held for the whole run (the run's own resource re-enters it): one writer at a time.
        with warehouse_lock(settings.warehouse, on_wait=lambda line: print(f"meterline: {line}", file=sys.stderr)):
            where = settings.spark_warehouse if settings.engine == "spark" else settings.warehouse
            print(f"meterline: materializing arrival days {start} .. {end} on {settings.engine} (warehouse {where})")
            job = defs.resolve_job_def(MAIN_JOB)
            run_id = str(uuid.uuid4())
            print(f"meterline: run {run_id}", flush=True)
            # The whole log goes to the run's report folder, named by the run's start once it has one.
            log_path = settings.reports / f".run-{run_id}.log"
            try:
                # The event log held from the run's creation on: its ~120 planned events too.
                with captured(log_path, verbose=verbose) as progress, event_log_held_open(instance, run_id):
                    result = job.execute_in_process(
                        instance=instance,
                        run_config=PROGRESS_LOGGING,
                        run_id=run_id,
                        tags={**partition_tags(start, end), **process_tags()},
                        raise_on_error=False,
                    )
            finally:
                log = _keep_log(instance, settings, run_id, log_path)
            print(f"meterline: {progress.summary()} (meterline dq-report); the run's whole log: {log}")
    except WarehouseLockedError as exc:
        print(f"meterline: error: {exc}", file=sys.stderr)
        return 1
    if result.success:
        print(f"meterline: run {result.run_id} succeeded; serving file {settings.serving}")
        return 0
    # The cause comes last: the last line a user sees names the bad input and the fix.
    print(f"meterline: run {result.run_id} failed; the serving file was not changed", file=sys.stderr)
    for step, message in failure_messages(result.all_events).items():
        print(f"meterline: step {step} failed: {message}", file=sys.stderr)
    for line in failed_blocking_checks(result.all_events):
        print(f"meterline: {line}", file=sys.stderr)
    return 1


def _keep_log(instance, settings: Settings, run_id: str, log_path: Path) -> Path:
    """Move the run's log into its report folder ($METERLINE_REPORTS/<run start>_<run id>/run.log)."""
    from meterline.quality import report

    record = instance.get_run_record_by_id(run_id)
    started = record.create_timestamp if record else datetime.now(UTC)
    kept = report.run_folder(settings.reports, run_id, started) / LOG_FILE
    os.replace(log_path, kept)
    return kept


def demo(*, verbose: bool = False) -> int:
    """Generate a small sample into the landing folder, materialize it, say where to look."""
    from meterline.sample import generate_landing

    settings = Settings.from_env()
    print(generate_landing(settings.landing, DEMO_DAYS, DEMO_ROWS_PER_DAY, seed=42, start=DEMO_START))
    end = date.fromordinal(DEMO_START.toordinal() + DEMO_DAYS - 1)
    code = materialize(DEMO_START, end, verbose=verbose)
    if code == 0:
        print(f"marts:   {settings.serving}  (schema marts; open it read-only)")
        print(f"reports: {settings.reports}")
        print(
            "query:   python -c \"import duckdb; print(duckdb.connect('"
            f"{settings.serving}', read_only=True).sql('select * from marts.cost_overview_daily'))\""
        )
    return code
