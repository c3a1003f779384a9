"""The dbt models as Dagster assets, run for the window of arrival days of a run."""


import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.checks import recording_dbt_tests
from orchestration.dbt_project import meterline_dbt
from orchestration.partitions import arrival_days
from orchestration.resources import MeterlinePaths


class MeterlineTranslator(DagsterDbtTranslator):
    """Models keep their dbt name as asset key and their folder as group; sources
    keep dbt's default key raw/<table>, the keys of the ingestion assets that write them."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["fqn"][1] if len(dbt_resource_props["fqn"]) > 2 else None


def dbt_build_args(window: dg.TimeWindow) -> list[str]:
    """``dbt build`` for the arrival days of ``window`` ([start, end), UTC)."""
    window_vars = {"arrival_start": window.start.date().isoformat(), "arrival_end": window.end.date().isoformat()}
    return ["build", "--vars", json.dumps(window_vars)]


@dbt_assets(
    manifest=meterline_dbt.manifest_path,
    project=meterline_dbt,
    dagster_dbt_translator=MeterlineTranslator(),
    partitions_def=arrival_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def meterline_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, paths: MeterlinePaths
) -> Iterator[Any]:
    # dbt's profile reads the engine and the warehouse from the environment of its process.
    settings = paths.settings()
    os.environ.update(settings.as_env())
    if settings.engine == "spark":
        # This process hosts the Spark that dbt (a child process) reaches via SPARK_REMOTE.
        from orchestration.spark import spark_session

        spark_session(settings)
    args = dbt_build_args(context.partition_time_window)
    context.log.info(f"dbt {' '.join(args)}")
    # The tests' results also go to the run's data-quality report (orchestration/checks.py).
    yield from recording_dbt_tests(context, settings, dbt.cli(args, context=context).stream())
