"""The dbt models as Dagster assets, run for the window of arrival days of a run."""

import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from orchestration.dbt.resource import MeterlineDbtCli, meterline_dbt
from orchestration.partitions import arrival_days
from orchestration.quality import recording_dbt_tests
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


DBT_BUILD_ARGS = ("--exclude", "test_type:unit")


def dbt_window_env(window: dg.TimeWindow) -> dict[str, str]:
    """The environment giving dbt the arrival days of ``window`` ([start, end), UTC); read by the
    macros of dbt_project/macros/batch_window.sql. Not --vars: a change of --vars makes dbt
    re-parse the whole project on every run."""
    return {"METERLINE_ARRIVAL_START": window.start.date().isoformat(),
            "METERLINE_ARRIVAL_END": window.end.date().isoformat()}  # fmt: skip


@dbt_assets(
    manifest=meterline_dbt.manifest_path,
    project=meterline_dbt,
    dagster_dbt_translator=MeterlineTranslator(),
    partitions_def=arrival_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def meterline_dbt_models(
    context: dg.AssetExecutionContext, dbt: MeterlineDbtCli, paths: MeterlinePaths
) -> Iterator[Any]:
    # dbt's profile reads the engine and the warehouse from the environment of its process.
    settings = paths.settings()
    os.environ.update(settings.as_env())
    if settings.engine == "spark":
        # This process hosts the Spark that dbt (a child process) reaches via SPARK_REMOTE.
        from meterline.spark import spark_session

        spark_session(settings)
    window = dbt_window_env(context.partition_time_window)
    os.environ.update(window)
    context.log.info("dbt build for arrival days " + " .. ".join(window.values()) + " (end excluded)")
    # The tests' results also go to the run's data-quality report (orchestration/quality.py).
    # dbt's unit tests check the models' logic on fixed rows, not the data: they run in the test
    # suite (tests/test_dbt_unit.py), as dbt recommends, not in every nightly run.
    build = dbt.cli(["build", *DBT_BUILD_ARGS], context=context)
    yield from recording_dbt_tests(context, settings, build.stream())


def published_model_keys(dbt_assets: dg.AssetsDefinition) -> list[dg.AssetKey]:
    """The dbt models of schema marts (the published ones)."""
    return [key for key in dbt_assets.keys if dbt_assets.group_names_by_key.get(key) == "marts"]
