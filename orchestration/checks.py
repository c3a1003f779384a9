"""The data-quality gate as Dagster asset checks, next to the assets they guard.

Blocking checks (``blocking=True``, severity ERROR) guard the assets upstream
of ``serving_marts``: when one fails, Dagster skips everything downstream of
the asset it guards, so the serving file is left as it was.

- ``raw/price_catalog``: price_catalog_rules (pricing.md) -> the dbt models never run
- ``raw/usage_records``: usage_records_suite (Great Expectations) -> the dbt models never run
- ``fct_cost``: conservation, request_id_unique, no_negative_cost, fct_cost_suite (GX)
- every aggregate mart: reconciles_with_fct_cost (one op for all of them)
- ``provider_alternatives_daily``/``_monthly``: alternatives_within_marts (one op for both)

Warnings (severity WARN, the run still publishes): unpriced_records and
quarantine_share on ``rejected_usage``, spend_jump_per_account on
``cost_overview_daily``, spend_jump_per_api_key on ``cost_by_api_key_daily`` and
regional_price_missing on ``fct_cost``.

Every result is also written to the run's report folder under
$METERLINE_REPORTS (data_quality.report), together with the dbt tests' results
(:func:`recording_dbt_tests`).
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from data_quality import checks, report, suites
from data_quality.results import BLOCKING, WARNING, CheckResult, Scope, jsonable
from orchestration.assets.serving import published_model_keys
from orchestration.partitions import days_in_window
from orchestration.resources import MeterlinePaths
from orchestration.settings import Settings

FCT_COST = dg.AssetKey("fct_cost")
QUARANTINE = dg.AssetKey("rejected_usage")
RAW_USAGE = dg.AssetKey(["raw", "usage_records"])
PRICE_CATALOG = dg.AssetKey(["raw", "price_catalog"])


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
    return record.create_timestamp if record else datetime.now(timezone.utc)


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


def _evaluate(
    context: dg.AssetCheckExecutionContext,
    paths: MeterlinePaths,
    compute: Callable[[CheckRun], list[CheckResult]],
    *,
    scope: str = "rebuilt",
    source: str = "sql",
    raw_only: bool = False,
) -> list[dg.AssetCheckResult]:
    """Run ``compute`` on what the engine built (read-only), record its results in the run's
    report folder and return them as Dagster check results. ``scope``: "none" (an unpartitioned
    asset), "arrival" (the run's arrival days) or "rebuilt" (those plus the event days dbt
    rebuilt). ``raw_only``: the check reads only raw.* and runs before dbt, so it reads the
    DuckDB warehouse, where ingestion writes raw.* on both engines."""
    settings = paths.settings()
    folder = run_report_folder(context, settings)
    try:
        reader = (
            paths.connect_warehouse(read_only=True) if raw_only else paths.built_warehouse(context.run.run_id)
        )
        with reader as con:
            arrival_days = _arrival_days(context, con) if scope != "none" else ()
            event_days = checks.rebuilt_event_days(con) if scope == "rebuilt" else ()
            run_scope = Scope(arrival_days=arrival_days, event_days=event_days)
            results = [
                result.with_partition(run_scope.partition or None)
                for result in compute(CheckRun(con, run_scope, settings, folder))
            ]
    except Exception as exc:
        # The step fails (so a blocking check still stops the run); the report says why.
        _record(context, folder, [_error_result(context, spec, exc) for spec in context.check_specs], source)
        raise
    _record(context, folder, results, source)
    for result in results:
        verdict = "passed" if result.passed else ("FAILED" if result.blocks else "WARNING")
        context.log.info(f"{verdict} [{result.severity}] {result.asset} {result.name}: {result.summary}")
    return [to_dagster(result, folder) for result in results]


@dg.asset_check(
    asset=PRICE_CATALOG,
    name="price_catalog_rules",
    blocking=True,
    description="pricing.md: no negative or non-numeric price, no unknown model_type, no repeated "
    "(provider, model, region, effective_from). Blocking: the dbt models and the publication wait for it.",
)
def price_catalog_rules(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> dg.AssetCheckResult:
    [result] = _evaluate(
        context, paths, lambda run: [checks.price_catalog_rules(run.con)], scope="none", raw_only=True
    )
    return result


@dg.asset_check(
    asset=RAW_USAGE,
    name=suites.RAW_USAGE.name,
    blocking=True,
    description="Great Expectations suite on the run's raw records: required fields present and "
    "typed, billing_mode payg/subscription, counters >= 0 and consistent. Blocking.",
)
def usage_records_suite(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> dg.AssetCheckResult:
    [result] = _evaluate(
        context,
        paths,
        lambda run: [suites.validate(run.con, suites.RAW_USAGE, run.scope, run.folder)],
        scope="arrival",
        source="gx",
        raw_only=True,
    )
    return result


def _fct_cost_check(name: str, description: str, compute: Callable[[CheckRun], CheckResult], *,
                    deps: Iterable[dg.AssetKey] = (), source: str = "sql") -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=FCT_COST, name=name, blocking=True, description=description, additional_deps=list(deps))
    def _check(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> dg.AssetCheckResult:
        [result] = _evaluate(context, paths, lambda run: [compute(run)], source=source)
        return result

    return _check


FCT_COST_CHECKS = [
    _fct_cost_check(
        "conservation",
        "raw_usage.md, per arrival day of the run: records read = fct_cost rows from that day + "
        "superseded duplicates + quarantined records. Blocking.",
        lambda run: checks.conservation(run.con, run.scope),
        deps=[dg.AssetKey(["raw", "arrival_manifest"]), RAW_USAGE, QUARANTINE],
    ),
    _fct_cost_check(
        "request_id_unique",
        "Each request_id of the rebuilt event days is in fct_cost once (across all days). Blocking.",
        lambda run: checks.request_id_unique(run.con, run.scope),
    ),
    _fct_cost_check(
        "no_negative_cost",
        "No input, output, other or total cost below zero on the rebuilt event days. Blocking.",
        lambda run: checks.no_negative_cost(run.con, run.scope),
    ),
    _fct_cost_check(
        suites.FCT_COST.name,
        "Great Expectations suite on fct_cost's rebuilt event days: unique request_id, known "
        "enums, counters and costs >= 0, total = input + output + other, price_effective_from <= "
        "created_at. Blocking.",
        lambda run: suites.validate(run.con, suites.FCT_COST, run.scope, run.folder),
        source="gx",
    ),
]


def build_reconciliation_check(mart_keys: Iterable[dg.AssetKey]) -> dg.AssetChecksDefinition:
    """One op checking every aggregate mart against fct_cost (payg), exactly, for the periods
    the run rebuilt; a blocking check result per mart."""
    keys = sorted(mart_keys, key=lambda key: key.to_user_string())

    @dg.multi_asset_check(
        name="marts_reconcile_with_fct_cost",
        specs=[
            dg.AssetCheckSpec(
                "reconciles_with_fct_cost",
                asset=key,
                blocking=True,
                # No additional_deps on fct_cost: it comes from the same dbt step as the marts, and a
                # dependency would make this op wait for (and be skipped by) fct_cost's own checks.
                description="marts.md: per period, every measure sums exactly to fct_cost (payg) and "
                "total_cost = input_cost + output_cost + other_cost on every row. Blocking.",
            )
            for key in keys
        ],
    )
    def marts_reconcile_with_fct_cost(
        context: dg.AssetCheckExecutionContext, paths: MeterlinePaths
    ) -> Iterator[dg.AssetCheckResult]:
        yield from _evaluate(
            context,
            paths,
            lambda run: checks.reconciliation(run.con, run.scope, [key.to_user_string() for key in keys]),
        )

    return marts_reconcile_with_fct_cost


def build_alternatives_check(alternative_keys: Iterable[dg.AssetKey]) -> dg.AssetChecksDefinition:
    """One op checking provider_alternatives_<grain> against the marts of the same grain, for the
    periods the run rebuilt; a blocking check result per table."""
    keys = sorted(alternative_keys, key=lambda key: key.to_user_string())

    @dg.multi_asset_check(
        name="alternatives_within_marts",
        specs=[
            dg.AssetCheckSpec(
                "alternatives_within_marts",
                asset=key,
                blocking=True,
                # No additional_deps, as for the reconciliation: the marts come from the same dbt step.
                description="marts.md, Cheaper providers: request_count and actual_cost never exceed the same "
                "(period, account, model, provider) in provider_model_details; savings = actual_cost - "
                "alternative_cost exactly; never a provider compared with itself. Blocking.",
            )
            for key in keys
        ],
    )
    def alternatives_within_marts(
        context: dg.AssetCheckExecutionContext, paths: MeterlinePaths
    ) -> Iterator[dg.AssetCheckResult]:
        yield from _evaluate(
            context,
            paths,
            lambda run: [checks.alternatives_within_marts(run.con, run.scope, key.to_user_string()) for key in keys],
        )

    return alternatives_within_marts


@dg.asset_check(
    asset=FCT_COST,
    name="regional_price_missing",
    description="Warning: (provider, model, region) triples of the rebuilt event days whose requests were "
    "priced by a region-less row although the catalog has rows for other regions of that model (a hint "
    "that a regional price is missing).",
)
def regional_price_missing(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> dg.AssetCheckResult:
    [result] = _evaluate(context, paths, lambda run: [checks.regional_price_missing(run.con, run.scope)])
    return result


@dg.asset_check(
    asset=QUARANTINE,
    name="unpriced_records",
    description="Warning: counted records of the rebuilt event days with no price in force, with "
    "the provider/model pairs that need a catalog row.",
)
def unpriced_records(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> dg.AssetCheckResult:
    [result] = _evaluate(context, paths, lambda run: [checks.unpriced_records(run.con, run.scope)])
    return result


@dg.asset_check(
    asset=QUARANTINE,
    name="quarantine_share",
    description="Warning: an arrival day quarantining more than $METERLINE_QUARANTINE_SHARE_MAX "
    "(default 0.05) of the records it read.",
)
def quarantine_share(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> dg.AssetCheckResult:
    [result] = _evaluate(
        context,
        paths,
        lambda run: [checks.quarantine_share(run.con, run.scope, run.settings.quarantine_share_max)],
        scope="arrival",
    )
    return result


def _spend_jump_check(by: str) -> dg.AssetChecksDefinition:
    table, _ = checks.SPEND_SCOPES[by]

    @dg.asset_check(
        asset=dg.AssetKey(table),
        name=f"spend_jump_per_{by}",
        description=f"Warning: a rebuilt day whose payg spend per {by.replace('_', ' ')} exceeds "
        "$METERLINE_SPEND_JUMP_FACTOR (default 3) times its trailing 7-day mean.",
    )
    def _check(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> dg.AssetCheckResult:
        [result] = _evaluate(
            context, paths, lambda run: [checks.spend_jump(run.con, run.scope, run.settings.spend_jump_factor, by)]
        )
        return result

    return _check


def build_asset_checks(dbt_assets: dg.AssetsDefinition) -> list[dg.AssetChecksDefinition]:
    """Every check of the gate, for the dbt models of ``dbt_assets``."""
    marts = [key for key in published_model_keys(dbt_assets) if key != FCT_COST]
    alternatives = [key for key in marts if key.to_user_string() in checks.ALTERNATIVES_MARTS]
    aggregate_marts = [key for key in marts if key not in alternatives]
    return [
        price_catalog_rules,
        usage_records_suite,
        *FCT_COST_CHECKS,
        build_reconciliation_check(aggregate_marts),
        build_alternatives_check(alternatives),
        regional_price_missing,
        unpriced_records,
        quarantine_share,
        _spend_jump_check("account"),
        _spend_jump_check("api_key"),
    ]


def _dbt_result(event: dg.AssetCheckResult | dg.AssetCheckEvaluation, partition: str | None) -> CheckResult:
    metadata = event.metadata
    failures = metadata.get("dagster_dbt/failed_row_count")
    observed = failures.value if failures is not None else None
    blocking = event.severity == dg.AssetCheckSeverity.ERROR
    return CheckResult(
        name=event.check_name,
        asset=event.asset_key.to_user_string(),
        severity=BLOCKING if blocking else WARNING,
        passed=event.passed,
        observed=observed,
        summary=f"dbt test {'passed' if event.passed else f'failed: {observed} failing rows'}",
        partition=partition,
    )


def recording_dbt_tests(
    context: dg.AssetExecutionContext, settings: Settings, events: Iterable[Any]
) -> Iterator[Any]:
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
