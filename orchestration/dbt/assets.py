"""The dbt models as Dagster assets, run for the window of arrival days of a run."""

import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from meterline.quality import suites
from orchestration.dbt.resource import MeterlineDbtCli, meterline_dbt
from orchestration.dbt.unchanged import REBUILT_WHOLE, unchanged_window
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
    span = " .. ".join(window.values()) + " (end excluded)"
    unchanged, reason = unchanged_window(context, paths, settings)
    if unchanged is not None:
        # Nothing arrived: the models would rebuild nothing (orchestration/dbt/unchanged.py).
        rebuilt = [key.to_user_string() for key in REBUILT_WHOLE]
        context.log.info(
            f"nothing arrived in arrival days {span}: dbt builds {' and '.join(rebuilt)} only (to empty); "
            f"the other {len(unchanged.built) - len(rebuilt)} models and their tests are as their last build left them"
        )
        # Without the context, which would make dagster-dbt add every selected model to --select.
        build = dbt.cli(
            ["build", "--select", " ".join(rebuilt), *DBT_BUILD_ARGS],
            manifest=meterline_dbt.manifest_path,
            dagster_dbt_translator=MeterlineTranslator(),
        )
        events = unchanged.events(as_op_result(event) for event in build.stream())
        yield from recording_dbt_tests(context, settings, events)
        return
    context.log.info(f"dbt build for arrival days {span}" + (f" (nothing arrived, but {reason})" if reason else ""))
    # The tests' results also go to the run's data-quality report (orchestration/quality.py).
    # dbt's unit tests check the models' logic on fixed rows, not the data: they run in the test
    # suite (tests/test_dbt_unit.py), as dbt recommends, not in every nightly run.
    # When rows arrived (unchanged_window then gives no reason), fct_cost's GX suite follows: GX's import
    # runs in a thread while dbt, a process of its own, builds.
    importing = suites.import_ahead() if reason is None else None
    try:
        build = dbt.cli(["build", *DBT_BUILD_ARGS], context=context)
        yield from recording_dbt_tests(context, settings, build.stream())
    finally:
        if importing is not None:
            # The step ends with the import: this thread only relays dbt's events meanwhile (it imports
            # nothing), but the next steps import modules of their own, and two threads importing modules
            # that import each other (sqlalchemy.orm's) can each get the other's half-initialized module.
            importing.join()


def as_op_result(event: Any) -> Any:
    """An event of a dbt invocation run without the op's context as the op's own result: a
    materialization of one of its models, a dbt test's evaluation; others unchanged."""
    if isinstance(event, dg.AssetMaterialization):
        return dg.MaterializeResult(asset_key=event.asset_key, metadata=event.metadata)
    if isinstance(event, dg.AssetCheckEvaluation):
        return dg.AssetCheckResult(
            asset_key=event.asset_key,
            check_name=event.check_name,
            passed=event.passed,
            severity=event.severity,
            metadata=event.metadata,
        )
    return event


def published_model_keys(dbt_assets: dg.AssetsDefinition) -> list[dg.AssetKey]:
    """The dbt models of schema marts (the published ones)."""
    return [key for key in dbt_assets.keys if dbt_assets.group_names_by_key.get(key) == "marts"]
