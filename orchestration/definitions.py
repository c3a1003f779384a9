"""meterline's one Dagster ``Definitions``: ``dagster dev`` from the repo root loads it."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_dbt.dbt_project import using_dagster_dev

from orchestration.assets.catalog import price_catalog
from orchestration.assets.dbt import meterline_dbt_models
from orchestration.assets.ingestion import raw_usage
from orchestration.assets.serving import build_serving_asset
from orchestration.dbt_project import DBT_EXECUTABLE, meterline_dbt, prepare_manifest
from orchestration.resources import MeterlinePaths

if using_dagster_dev():
    prepare_manifest()

serving_marts = build_serving_asset(meterline_dbt_models)

MAIN_JOB = "meterline_job"
meterline_job = dg.define_asset_job(
    MAIN_JOB,
    selection=dg.AssetSelection.all(),
    description="Ingest arrival days, price, build the dbt models and checks, publish the marts.",
)

defs = dg.Definitions(
    assets=[price_catalog, raw_usage, meterline_dbt_models, serving_marts],
    jobs=[meterline_job],
    resources={
        "dbt": DbtCliResource(project_dir=meterline_dbt, dbt_executable=DBT_EXECUTABLE),
        "paths": MeterlinePaths(),
    },
)
