"""The checks on what dbt built, in one step: fct_cost's blocking rules and GX suite with the warnings
on the quarantine, on spend jumps and on missing regional prices, every aggregate mart's
reconciliation with fct_cost, the alternatives' bounds and every mart's grain."""

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


RECONCILIATION = (
    "reconciles_with_fct_cost",
    "marts.md: per period, every measure sums exactly to fct_cost (payg) and "
    "total_cost = input_cost + output_cost + other_cost on every row. Blocking.",
)
ALTERNATIVES = (
    "alternatives_within_marts",
    "marts.md, Cheaper providers: request_count and actual_cost never exceed the same "
    "(period, account, model, provider) in provider_model_details; savings = actual_cost - "
    "alternative_cost exactly; never a provider compared with itself. Blocking.",
)
GRAIN = (
    "one_row_per_group",
    "marts.md: one row per period and group in the periods the run republishes; no row without "
    "its period_start or account_id. Blocking.",
)


def _mart_specs(rule: tuple[str, str], tables: list[str]) -> list[dg.AssetCheckSpec]:
    """A blocking check per mart. No additional_deps on fct_cost: the marts come from the same dbt step."""
    name, description = rule
    return [_spec(dg.AssetKey(table), name, description) for table in tables]


def build_dbt_checks(published_marts: Iterable[dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    """The checks on what dbt built, for the published marts ``published_marts`` (fct_cost aside), in
    one step: fct_cost's SQL rules and the warnings, every aggregate mart's reconciliation with
    fct_cost, the alternatives' bounds and every mart's grain, with fct_cost's GX suite beside them
    (:func:`meterline.quality.suites.validate_beside`). Each result is its own Dagster check on its own
    asset; a step costs Dagster ~0.07 s, and these were four."""
    marts = sorted(key.to_user_string() for key in published_marts if key != FCT_COST)
    alternatives = [table for table in marts if table in rules.ALTERNATIVES_MARTS]
    aggregates = [table for table in marts if table not in alternatives]

    def sql_rules(run: CheckRun) -> list[CheckResult]:
        return [
            *(compute(run) for _, compute in SQL_RULES),
            *rules.reconciliation(run.con, run.scope, aggregates),
            *(rules.alternatives_within_marts(run.con, run.scope, table) for table in alternatives),
            *(rules.one_row_per_group(run.con, run.scope, table) for table in marts),
        ]

    def all_rules(run: CheckRun) -> list[CheckResult]:
        results, suite = suites.validate_beside(run.con, suites.FCT_COST, run.scope, run.folder, lambda: sql_rules(run))
        return [*results, suite]

    specs = [
        *(spec for spec, _ in SQL_RULES),
        FCT_COST_SUITE,
        *_mart_specs(RECONCILIATION, aggregates),
        *_mart_specs(ALTERNATIVES, alternatives),
        *_mart_specs(GRAIN, marts),
    ]

    @dg.multi_asset_check(name="fct_cost_and_marts_rules", specs=specs)
    def fct_cost_and_marts_rules(
        context: dg.AssetCheckExecutionContext, paths: MeterlinePaths
    ) -> Iterator[dg.AssetCheckResult]:
        yield from evaluate(context, paths, all_rules, sources={suites.FCT_COST.name: "gx"})

    return [fct_cost_and_marts_rules]
