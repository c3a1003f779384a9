"""The checks on what dbt built: fct_cost's blocking rules with the warnings on the quarantine, on
spend jumps and on missing regional prices (one step), every aggregate mart's reconciliation with
fct_cost (one step), the alternatives' bounds (one step) and every mart's grain (one step)."""

from collections.abc import Callable, Iterable, Iterator

import dagster as dg

from meterline.quality import rules, suites
from meterline.quality.results import CheckResult
from orchestration.partitions import arrival_days
from orchestration.quality import FCT_COST, QUARANTINE, RAW_USAGE, CheckRun, evaluate
from orchestration.resources import MeterlinePaths


def _spec(
    asset: dg.AssetKey, name: str, description: str, *, blocking: bool = True, deps: Iterable[dg.AssetKey] = ()
) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name,
        asset=asset,
        blocking=blocking,
        description=description,
        additional_deps=list(deps),
        partitions_def=arrival_days,
    )


def _spend_jump(by: str) -> tuple[dg.AssetCheckSpec, Callable[[CheckRun], CheckResult]]:
    table, _ = rules.SPEND_SCOPES[by]
    spec = _spec(
        dg.AssetKey(table),
        f"spend_jump_per_{by}",
        f"Warning: a rebuilt day whose payg spend per {by.replace('_', ' ')} exceeds "
        "$METERLINE_SPEND_JUMP_FACTOR (default 3) times its trailing 7-day mean.",
        blocking=False,
    )
    return spec, lambda run: rules.spend_jump(run.con, run.scope, run.settings.spend_jump_factor, by)


# The rules of fct_cost, of the quarantine and the spend warnings: SQL, in the order they run.
SQL_RULES: list[tuple[dg.AssetCheckSpec, Callable[[CheckRun], CheckResult]]] = [
    (
        _spec(
            FCT_COST,
            "conservation",
            "raw_usage.md, per arrival day of the run: records read = fct_cost rows from that day + "
            "superseded duplicates + quarantined records. Blocking.",
            deps=[dg.AssetKey(["raw", "arrival_manifest"]), RAW_USAGE, QUARANTINE],
        ),
        lambda run: rules.conservation(run.con, run.scope),
    ),
    (
        _spec(
            FCT_COST,
            "request_id_unique",
            "Each request_id of the rebuilt event days is in fct_cost once (across all days). Blocking.",
        ),
        lambda run: rules.request_id_unique(run.con, run.scope),
    ),
    (
        _spec(
            FCT_COST,
            "no_negative_cost",
            "No input, output, other or total cost below zero on the rebuilt event days. Blocking.",
        ),
        lambda run: rules.no_negative_cost(run.con, run.scope),
    ),
    (
        _spec(
            FCT_COST,
            "unpriced_share",
            "At most $METERLINE_UNPRICED_SHARE_MAX (default 0.5) of the counted requests of the rebuilt event "
            "days may be unpriced: a catalog that lost rows must not replace published figures. Blocking.",
            deps=[dg.AssetKey("int_unpriced_usage")],
        ),
        lambda run: rules.unpriced_share(run.con, run.scope, run.settings.unpriced_share_max),
    ),
    (
        _spec(
            FCT_COST,
            "regional_price_missing",
            "Warning: (provider, model, region) triples of the rebuilt event days whose requests were priced "
            "by a region-less row although the catalog has rows for other regions of that model (a hint that "
            "a regional price is missing).",
            blocking=False,
        ),
        lambda run: rules.regional_price_missing(run.con, run.scope),
    ),
    (
        _spec(
            QUARANTINE,
            "unpriced_records",
            "Warning: counted records of the rebuilt event days with no price in force, with the "
            "provider/model pairs that need a catalog row.",
            blocking=False,
        ),
        lambda run: rules.unpriced_records(run.con, run.scope),
    ),
    (
        _spec(
            QUARANTINE,
            "quarantine_share",
            "Warning: an arrival day quarantining more than $METERLINE_QUARANTINE_SHARE_MAX (default "
            "0.05) of the records it read.",
            blocking=False,
        ),
        lambda run: rules.quarantine_share(run.con, run.scope, run.settings.quarantine_share_max),
    ),
    _spend_jump("account"),
    _spend_jump("api_key"),
]
FCT_COST_SUITE = _spec(
    FCT_COST,
    suites.FCT_COST.name,
    "Great Expectations suite on fct_cost's rebuilt event days: required fields and costs present, known "
    "enums, counters >= 0, total = input + output + other, price_effective_from <= created_at (a negative "
    "cost: no_negative_cost). Blocking.",
)


def _fct_cost_rules(run: CheckRun) -> list[CheckResult]:
    """The SQL rules, then the GX suite, one after the other. (The suite validating in a thread beside
    the SQL rules saved ~1 s at 5M but put a GX chunk and DuckDB's 2GB in memory at once: 4.4 GB of
    peak RSS at 20M, over issue 18's 4 GB; BENCHMARKS.md.)"""
    results = [compute(run) for _, compute in SQL_RULES]
    return [*results, suites.validate(run.con, suites.FCT_COST, run.scope, run.folder)]


@dg.multi_asset_check(name="fct_cost_rules", specs=[*(spec for spec, _ in SQL_RULES), FCT_COST_SUITE])
def fct_cost_rules(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> Iterator[dg.AssetCheckResult]:
    """fct_cost's blocking rules and its GX suite, the quarantine's and the spend warnings: one step
    (each was a step of its own, and Dagster spends ~0.07 s on a step even when it reads nothing)."""
    yield from evaluate(context, paths, _fct_cost_rules, sources={suites.FCT_COST.name: "gx"})


def _marts_check(
    op_name: str,
    check_name: str,
    description: str,
    mart_keys: Iterable[dg.AssetKey],
    compute: Callable[[CheckRun, list[str]], list[CheckResult]],
) -> dg.AssetChecksDefinition:
    """One op checking several marts for the periods the run rebuilt: a blocking check result per mart.
    No additional_deps on fct_cost: it comes from the same dbt step as the marts, and a dependency
    would make the op wait for (and be skipped by) fct_cost's own rules."""
    keys = sorted(mart_keys, key=lambda key: key.to_user_string())

    @dg.multi_asset_check(
        name=op_name,
        specs=[
            dg.AssetCheckSpec(
                check_name, asset=key, blocking=True, description=description, partitions_def=arrival_days
            )
            for key in keys
        ],
    )
    def _check(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> Iterator[dg.AssetCheckResult]:
        yield from evaluate(context, paths, lambda run: compute(run, [key.to_user_string() for key in keys]))

    return _check


def _each_table(rule: Callable[..., CheckResult]) -> Callable[[CheckRun, list[str]], list[CheckResult]]:
    """A per-table rule as the compute of a multi-mart check: one result per mart."""
    return lambda run, tables: [rule(run.con, run.scope, table) for table in tables]


def build_reconciliation_check(mart_keys: Iterable[dg.AssetKey]) -> dg.AssetChecksDefinition:
    """Every aggregate mart against fct_cost (payg), exactly, in one op."""
    return _marts_check(
        "marts_reconcile_with_fct_cost",
        "reconciles_with_fct_cost",
        "marts.md: per period, every measure sums exactly to fct_cost (payg) and "
        "total_cost = input_cost + output_cost + other_cost on every row. Blocking.",
        mart_keys,
        lambda run, tables: rules.reconciliation(run.con, run.scope, tables),
    )


def build_alternatives_check(alternative_keys: Iterable[dg.AssetKey]) -> dg.AssetChecksDefinition:
    """provider_alternatives_<grain> against the marts of the same grain, in one op."""
    return _marts_check(
        "alternatives_within_marts",
        "alternatives_within_marts",
        "marts.md, Cheaper providers: request_count and actual_cost never exceed the same "
        "(period, account, model, provider) in provider_model_details; savings = actual_cost - "
        "alternative_cost exactly; never a provider compared with itself. Blocking.",
        alternative_keys,
        _each_table(rules.alternatives_within_marts),
    )


def build_grain_check(mart_keys: Iterable[dg.AssetKey]) -> dg.AssetChecksDefinition:
    """Every aggregate mart's grain, in one op (it replaced 69 dbt tests that read whole marts)."""
    return _marts_check(
        "marts_one_row_per_group",
        "one_row_per_group",
        "marts.md: one row per period and group in the periods the run republishes; no row without "
        "its period_start or account_id. Blocking.",
        mart_keys,
        _each_table(rules.one_row_per_group),
    )


def build_dbt_checks(published_marts: Iterable[dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    """The checks on what dbt built, for the published marts ``published_marts`` (fct_cost aside)."""
    marts = [key for key in published_marts if key != FCT_COST]
    alternatives = [key for key in marts if key.to_user_string() in rules.ALTERNATIVES_MARTS]
    aggregate_marts = [key for key in marts if key not in alternatives]
    return [
        fct_cost_rules,
        build_reconciliation_check(aggregate_marts),
        build_alternatives_check(alternatives),
        build_grain_check(marts),
    ]
