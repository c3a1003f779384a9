"""The ``serving_marts`` asset: publish the checked marts for BI readers."""

import dagster as dg

from meterline.publish import publish
from orchestration.dbt.assets import published_model_keys
from orchestration.partitions import arrival_days
from orchestration.resources import TRANSIENT_IO_RETRY, MeterlinePaths


def build_serving_asset(dbt_assets: dg.AssetsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="serving_marts",
        deps=published_model_keys(dbt_assets),
        partitions_def=arrival_days,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=TRANSIENT_IO_RETRY,
        group_name="serving",
        kinds={"duckdb", "parquet"},
        description=(
            "$METERLINE_SERVING: the marts BI tools read. Written only after the warehouse "
            "was built and its blocking checks passed; swapped atomically."
        ),
    )
    def serving_marts(context: dg.AssetExecutionContext, paths: MeterlinePaths) -> dg.MaterializeResult:
        settings = paths.settings()
        with paths.built_warehouse(context.run.run_id) as con:
            result = publish(con, settings.serving, context.run.run_id)
        context.log.info(
            f"published version {result.version} to {result.serving}: "
            f"{result.partitions_changed} partitions rebuilt, {result.files_written} files written"
        )
        return dg.MaterializeResult(
            metadata={
                "version": result.version,
                "serving": dg.MetadataValue.path(str(result.serving)),
                "partitions_changed": result.partitions_changed,
                "files_written": result.files_written,
            }
        )

    return serving_marts
