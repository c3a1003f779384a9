"""The ``raw`` group's blocking checks: the price catalog's rules and the raw records' suite; the
dbt models wait for both."""

import dagster as dg

from meterline.quality import rules, suites
from orchestration.partitions import arrival_days
from orchestration.quality import PRICE_CATALOG, RAW_USAGE, evaluate
from orchestration.resources import MeterlinePaths


@dg.asset_check(
    asset=PRICE_CATALOG,
    name="price_catalog_rules",
    blocking=True,
    description="pricing.md: no negative or non-numeric price, no unknown model_type, no repeated "
    "(provider, model, region, effective_from). Blocking: the dbt models and the publication wait for it.",
)
def price_catalog_rules(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> dg.AssetCheckResult:
    [result] = evaluate(context, paths, lambda run: [rules.price_catalog_rules(run.con)], scope="none", raw_only=True)
    return result


@dg.asset_check(
    asset=RAW_USAGE,
    name=suites.RAW_USAGE.name,
    partitions_def=arrival_days,
    blocking=True,
    description="Great Expectations suite on the run's raw records: required fields present and "
    "typed, billing_mode payg/subscription, counters >= 0 and consistent. Blocking.",
)
def usage_records_suite(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> dg.AssetCheckResult:
    [result] = evaluate(
        context,
        paths,
        lambda run: [suites.validate(run.con, suites.RAW_USAGE, run.scope, run.folder)],
        scope="arrival",
        source="gx",
        raw_only=True,
    )
    return result


RAW_CHECKS = [price_catalog_rules, usage_records_suite]
