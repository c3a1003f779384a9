"""meterline's one Dagster ``Definitions``: ``dagster dev`` from the repo root loads it."""

from __future__ import annotations

import dagster as dg

from orchestration.automation.schedules import build_nightly_schedule
from orchestration.automation.sensors import build_late_files_sensor
from orchestration.dbt.assets import meterline_dbt_models, published_model_keys
from orchestration.dbt.checks import build_dbt_checks
from orchestration.dbt.resource import DBT_EXECUTABLE, MeterlineDbtCli, meterline_dbt
from orchestration.raw.assets import price_catalog, raw_usage
from orchestration.raw.checks import RAW_CHECKS
from orchestration.resources import MeterlinePaths
from orchestration.runs import build_dead_runs_sensor
from orchestration.serving.assets import build_serving_asset

serving_marts = build_serving_asset(meterline_dbt_models)

MAIN_JOB = "meterline_job"
# The tag the instance's run queue limits to one run at a time (dagster.yaml): one warehouse writer.
WAREHOUSE_TAG = "meterline/warehouse"
meterline_job = dg.define_asset_job(
    MAIN_JOB,
    selection=dg.AssetSelection.all(),
    description="Ingest arrival days, price, build the dbt models and checks, publish the marts.",
    tags={WAREHOUSE_TAG: "write"},
    # One process per run: DuckDB takes one writer, and the run holds the warehouse lock throughout.
    executor_def=dg.in_process_executor,
)

defs = dg.Definitions(
    assets=[price_catalog, raw_usage, meterline_dbt_models, serving_marts],
    asset_checks=[
        *RAW_CHECKS,
        *build_dbt_checks(published_model_keys(meterline_dbt_models)),
    ],
    jobs=[meterline_job],
    schedules=[build_nightly_schedule(meterline_job)],
    sensors=[build_late_files_sensor(meterline_job), build_dead_runs_sensor()],
    resources={
        "dbt": MeterlineDbtCli(project_dir=meterline_dbt, dbt_executable=DBT_EXECUTABLE),
        "paths": MeterlinePaths(),
    },
)
