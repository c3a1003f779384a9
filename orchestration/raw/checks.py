"""The ``raw`` group's blocking checks: the price catalog's rules and the raw records' rules; the
dbt models wait for both."""

import dagster as dg

from meterline.quality import rules
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
    name="usage_records_rules",
    partitions_def=arrival_days,
    blocking=True,
    description="raw_usage.md on the run's raw records, which ingestion kept as valid: required fields "
    "present and typed, billing_mode payg/subscription, counters present, >= 0 and consistent. Blocking.",
)
def usage_records_rules(context: dg.AssetCheckExecutionContext, paths: MeterlinePaths) -> dg.AssetCheckResult:
    [result] = evaluate(
        context, paths, lambda run: [rules.usage_records_rules(run.con, run.scope)], scope="arrival", raw_only=True
    )
    return result


RAW_CHECKS = [price_catalog_rules, usage_records_rules]
