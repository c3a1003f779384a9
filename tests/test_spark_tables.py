"""Reading Spark's tables from DuckDB: where a table's files are, and how DuckDB reads them
(the reading itself is covered on real Spark tables by the contract tests)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from meterline.spark_tables import _local_path, _view_sql


def test_a_table_location_becomes_a_local_path() -> None:
    assert _local_path("file:/data/spark%20warehouse/marts.db/fct_cost", "marts.fct_cost") == Path(
        "/data/spark warehouse/marts.db/fct_cost"
    )
    assert _local_path("/data/marts.db/fct_cost", "marts.fct_cost") == Path("/data/marts.db/fct_cost")


@pytest.mark.parametrize("location", ["hdfs://namenode/warehouse/marts.db/fct_cost", "s3a://bucket/marts.db/fct_cost"])
def test_a_location_this_machine_cannot_read_stops_with_the_fix(location: str) -> None:
    with pytest.raises(RuntimeError, match="marts.fct_cost is stored at .* mounts"):
        _local_path(location, "marts.fct_cost")


def test_partition_columns_are_typed_as_in_spark_and_columns_keep_spark_order(tmp_path: Path) -> None:
    for bucket in ("0", "1"):
        folder = tmp_path / f"key_bucket={bucket}"
        folder.mkdir()
        duckdb.sql(f"copy (select 'k{bucket}' as api_key_id) to '{folder / 'part-0.parquet'}' (format parquet)")
    relation = {
        "columns": ["api_key_id", "key_bucket"],
        "files": str(tmp_path / "key_bucket=*" / "*.parquet"),
        "hive_types": {"key_bucket": "VARCHAR"},
    }
    rows = duckdb.sql(f"{_view_sql(relation)} order by 1")
    assert rows.types == ["VARCHAR", "VARCHAR"] and rows.fetchall() == [("k0", "0"), ("k1", "1")]
