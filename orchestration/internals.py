"""Every use of a Dagster or dagster-dbt API that is not public, in one place: each may change in a
patch release, and pyproject.toml pins dagster 1.13.27 and dagster-dbt 0.29.27 for them. When
upgrading, check these first (tests/test_dbt_args.py and the pipeline tests exercise each)."""

from dagster._core.definitions.data_version import CODE_VERSION_TAG, DATA_VERSION_TAG
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from dagster_dbt.compat import DBT_PYTHON_VERSION
from dagster_dbt.dbt_project import using_dagster_dev

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "CODE_VERSION_TAG",
    "DATA_VERSION_TAG",
    "AssetCheckExecutionRecordStatus",
    "DBT_PYTHON_VERSION",
    "PARTITION_NAME_TAG",
    "using_dagster_dev",
]
