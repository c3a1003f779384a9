"""meterline's one Dagster ``Definitions``: ``dagster dev`` from the repo root loads it."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.catalog import price_catalog
from orchestration.assets.dbt import meterline_dbt_models
from orchestration.assets.ingestion import raw_usage
from orchestration.assets.serving import build_serving_asset
from orchestration.checks import build_asset_checks
from orchestration.dbt_project import DBT_EXECUTABLE, MeterlineDbtCli, meterline_dbt
from orchestration.locking import WarehouseWriter
from orchestration.runs import build_dead_runs_sensor
from orchestration.schedules import build_nightly_schedule
from orchestration.sensors import build_late_files_sensor

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
    asset_checks=build_asset_checks(meterline_dbt_models),
    jobs=[meterline_job],
    schedules=[build_nightly_schedule(meterline_job)],
    sensors=[build_late_files_sensor(meterline_job), build_dead_runs_sensor()],
    resources={
        "dbt": MeterlineDbtCli(project_dir=meterline_dbt, dbt_executable=DBT_EXECUTABLE),
        "paths": WarehouseWriter(),
    },
)
