"""The data-quality gate's plumbing: how an asset check runs a rule of meterline.quality on what
the engine built, records it in the run's report and returns it to Dagster. The checks live next
to the assets they guard: orchestration/raw/checks.py and orchestration/dbt/checks.py.

Blocking checks (``blocking=True``, severity ERROR) guard the assets upstream
of ``serving_marts``: when one fails, Dagster skips everything downstream of
the asset it guards, so the serving file is left as it was.

- ``raw/price_catalog``: price_catalog_rules (pricing.md) -> the dbt models never run
- ``raw/usage_records``: usage_records_rules (SQL) -> the dbt models never run
- ``fct_cost``: conservation, request_id_unique, no_negative_cost, unpriced_share, fct_cost_suite
  (GX)
- every aggregate mart: reconciles_with_fct_cost; every mart: one_row_per_group
- ``provider_alternatives_daily``/``_monthly``: alternatives_within_marts

The checks after dbt, with the warnings below, are one op (``fct_cost_and_marts_rules``).

Warnings (severity WARN, the run still publishes): unpriced_records and
quarantine_share on ``rejected_usage``, spend_jump_per_account on
``cost_overview_daily``, spend_jump_per_api_key on ``cost_by_api_key_daily`` and
regional_price_missing on ``fct_cost``.

Every result is also written to the run's report folder under
$METERLINE_REPORTS (meterline.quality.report), together with the dbt tests' results
(:func:`recording_dbt_tests`).
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from meterline.quality import report, rules
from meterline.quality.results import BLOCKING, WARNING, CheckResult, Scope, jsonable
from meterline.settings import Settings
from orchestration.partitions import days_in_window
from orchestration.resources import MeterlinePaths

FCT_COST = dg.AssetKey("fct_cost")
QUARANTINE = dg.AssetKey("rejected_usage")
RAW_USAGE = dg.AssetKey(["raw", "usage_records"])
PRICE_CATALOG = dg.AssetKey(["raw", "price_catalog"])
# A dbt test's result carried over from the run named here, not produced by dbt in this run: its
# model was not rebuilt, as nothing arrived (orchestration/dbt/unchanged.py).
CARRIED_OVER = "meterline/unchanged_since_run"


@dataclass(frozen=True)
class CheckRun:
    """What a check op works with: what the engine built (read-only), the run's scope, its report folder."""

    con: duckdb.DuckDBPyConnection
    scope: Scope
    settings: Settings
    folder: Path


Context = dg.AssetCheckExecutionContext | dg.AssetExecutionContext


def _run_start(context: Context) -> datetime:
    record = context.instance.get_run_record_by_id(context.run.run_id)
    return record.create_timestamp if record else datetime.now(UTC)


def run_report_folder(context: Context, settings: Settings) -> Path:
    """The report folder of the current run: $METERLINE_REPORTS/<run start>_<run id>."""
    return report.run_folder(settings.reports, context.run.run_id, _run_start(context))


def _partition_days(context: Context) -> tuple:
    """The run's arrival-day partitions; empty when the run has none."""
    if context.has_partition_key_range or context.has_partition_key:
        return tuple(days_in_window(context.partition_time_window))
    return ()


def _arrival_days(context: dg.AssetCheckExecutionContext, con: duckdb.DuckDBPyConnection) -> tuple:
    """The run's arrival days; every ingested day when the run has no partition."""
    ingested = "select arrival_date from raw.arrival_manifest order by 1"
    return _partition_days(context) or tuple(day for (day,) in con.execute(ingested).fetchall())


def _partition(context: Context) -> str | None:
    return Scope(_partition_days(context)).partition or None


def _error_result(context: dg.AssetCheckExecutionContext, spec: dg.AssetCheckSpec, exc: Exception) -> CheckResult:
    message = (str(exc).strip().splitlines() or [""])[0]
    return CheckResult(
        name=spec.name,
        asset=spec.asset_key.to_user_string(),
        severity=BLOCKING if spec.blocking else WARNING,
        passed=False,
        observed=None,
        summary=f"the check could not run: {type(exc).__name__}: {message}",
        partition=_partition(context) if spec.asset_key != PRICE_CATALOG else None,
    )


def _record(context: Context, folder: Path, results: list[CheckResult], source: str) -> None:
    report.record(folder, results, run_id=context.run.run_id, run_time=_run_start(context), source=source)


def _markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (str(jsonable(row.get(column, ""))).replace("|", "\\|") for column in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_dagster(result: CheckResult, folder: Path) -> dg.AssetCheckResult:
    observed = jsonable(result.observed)
    metadata: dict[str, Any] = {
        "observed": observed if isinstance(observed, (int, float)) else str(observed),
        "severity": result.severity,
        "partition": result.partition or "-",
        "summary": result.summary,
        "report": dg.MetadataValue.path(str(folder / report.SUMMARY_FILE)),
    }
    if result.offending_rows:
        metadata["offending_rows"] = dg.MetadataValue.md(_markdown(result.offending_rows))
    if result.details:
        metadata["details"] = dg.MetadataValue.json(jsonable(result.details))
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(result.asset.split("/")),
        check_name=result.name,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR if result.severity == BLOCKING else dg.AssetCheckSeverity.WARN,
        description=result.summary,
        metadata=metadata,
    )


def evaluate(
    context: dg.AssetCheckExecutionContext,
    paths: MeterlinePaths,
    compute: Callable[[CheckRun], list[CheckResult]],
    *,
    scope: str = "rebuilt",
    source: str = "sql",
    sources: Mapping[str, str] | None = None,
    raw_only: bool = False,
) -> list[dg.AssetCheckResult]:
    """Run ``compute`` on what the engine built (read-only), record its results in the run's
    report folder and return them as Dagster check results. ``scope``: "none" (an unpartitioned
    asset), "arrival" (the run's arrival days) or "rebuilt" (those plus the event days dbt
    rebuilt). ``source`` (sql, gx) is what the report says produced the results; ``sources``, by
    check name, where some differ. ``raw_only``: the check reads only raw.* and runs before dbt, so it reads the
    DuckDB warehouse, where ingestion writes raw.* on both engines."""
    settings = paths.settings()
    folder = run_report_folder(context, settings)
    try:
        reader = paths.connect_warehouse(read_only=True) if raw_only else paths.built_warehouse(context.run.run_id)
        with reader as con:
            arrival_days = _arrival_days(context, con) if scope != "none" else ()
            event_days = rules.rebuilt_event_days(con) if scope == "rebuilt" else ()
            run_scope = Scope(arrival_days=arrival_days, event_days=event_days)
            results = [
                result.with_partition(run_scope.partition or None)
                for result in compute(CheckRun(con, run_scope, settings, folder))
            ]
    except Exception as exc:
        # The step fails (so a blocking check still stops the run); the report says why.
        _record(context, folder, [_error_result(context, spec, exc) for spec in context.check_specs], source)
        raise
    by_source: dict[str, list[CheckResult]] = {}
    for result in results:
        by_source.setdefault((sources or {}).get(result.name, source), []).append(result)
    for produced_by, produced in by_source.items():
        _record(context, folder, produced, produced_by)
    # A line per result that failed or warned; the passes in a line per rule checked on several marts
    # and one for the other rules (each log line is an event in Dagster's storage; every result is in
    # the report and the check results).
    for result in results:
        if not result.passed:
            verdict = "FAILED" if result.blocks else "WARNING"
            context.log.info(f"{verdict} [{result.severity}] {result.asset} {result.name}: {result.summary}")
    for passed in _passes(results):
        if len(passed) == 1:
            [result] = passed
            context.log.info(f"passed [{result.severity}] {result.asset} {result.name}: {result.summary}")
        else:
            names, severities = sorted({r.name for r in passed}), sorted({r.severity for r in passed})
            context.log.info(
                f"passed [{'/'.join(severities)}] {len(passed)} x {'/'.join(names)}: "
                f"{', '.join(r.asset for r in passed)}"
            )
    return [to_dagster(result, folder) for result in results]


def _passes(results: list[CheckResult]) -> list[list[CheckResult]]:
    """The passed results in groups, a line each: those of a rule with several results (one per mart),
    then those of the rules with one."""
    by_name: dict[str, list[CheckResult]] = {}
    for result in results:
        if result.passed:
            by_name.setdefault(result.name, []).append(result)
    single = [result for group in by_name.values() if len(group) == 1 for result in group]
    return [*(group for group in by_name.values() if len(group) > 1), *([single] if single else [])]


def dbt_test_summary(passed: bool, failing_rows: int | None) -> str:
    if passed:
        return "dbt test passed"
    return "dbt test failed" + ("" if failing_rows is None else f": {failing_rows} failing rows")


def _dbt_result(event: dg.AssetCheckResult | dg.AssetCheckEvaluation, partition: str | None) -> CheckResult:
    metadata = event.metadata
    failures = metadata.get("dagster_dbt/failed_row_count")
    observed = failures.value if failures is not None else None
    blocking = event.severity == dg.AssetCheckSeverity.ERROR
    carried_over = metadata.get(CARRIED_OVER)
    summary = dbt_test_summary(event.passed, observed)
    if carried_over is not None:
        summary += f" in run {carried_over.value}; not run again: nothing arrived, its model is unchanged"
    return CheckResult(
        name=event.check_name,
        asset=event.asset_key.to_user_string(),
        severity=BLOCKING if blocking else WARNING,
        passed=event.passed,
        observed=observed,
        summary=summary,
        partition=partition,
    )


def recording_dbt_tests(context: dg.AssetExecutionContext, settings: Settings, events: Iterable[Any]) -> Iterator[Any]:
    """Pass the dbt build's events through, recording its test results in the run's report
    (also when the build fails)."""
    tests: list[dg.AssetCheckResult | dg.AssetCheckEvaluation] = []
    try:
        for event in events:
            if isinstance(event, (dg.AssetCheckResult, dg.AssetCheckEvaluation)):
                tests.append(event)
            yield event
    finally:
        if tests:
            folder = run_report_folder(context, settings)
            _record(context, folder, [_dbt_result(event, _partition(context)) for event in tests], "dbt")
