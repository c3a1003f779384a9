"""The dbt unit tests (``unit_tests:`` beside the models) without a pipeline run: rating and the
price in force (regions included), purpose, dedupe, the rebuild window, API key names and the
provider alternatives, on an empty warehouse (its catalog has no region column).

dbt unit tests read their inputs' column types from the warehouse (and an incremental model's own
table), so the tested models and those upstream are first built empty (``dbt run --empty``), then
``dbt test`` runs the unit tests: ~15 s."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from meterline.catalog import CATALOG_COLUMNS, read_catalog
from meterline.raw_layer import open_layer
from meterline.settings import DBT_PROJECT_DIR
from orchestration.dbt.resource import DBT_EXECUTABLE, DBT_TARGET_PATH

UNIT_TESTS = {
    "rating_follows_the_price_row_in_force",
    "a_region_row_in_force_prices_the_requests_of_its_region",
    "alternatives_price_each_request_at_the_alternative_row_in_force",
    "purpose_follows_the_contract_rules_in_order",
    "dedupe_keeps_the_latest_delivery",
    "the_rebuild_window_is_half_open_and_follows_every_delivery",
    "a_key_is_named_by_its_latest_record_by_created_at",
    "a_late_record_with_an_old_name_does_not_rename_the_key",
}


@pytest.fixture(scope="module")
def unit_results(roots: Path) -> Iterator[dict[str, dict]]:
    root = roots / "dbt-unit"
    warehouse = root / "warehouse.duckdb"
    warehouse.unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    catalog = root / "prices.csv"
    catalog.write_text(",".join(CATALOG_COLUMNS) + "\n", encoding="utf-8")
    with duckdb.connect(str(warehouse)) as con:
        open_layer(con, root / "raw")
        read_catalog(con, catalog)
    # A target folder of its own, kept between sessions: dbt's partial parse of this profile.
    target = DBT_PROJECT_DIR / DBT_TARGET_PATH / "unit-tests"
    # Not the window of arrival days a run of this process left in its environment.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("METERLINE_ARRIVAL_")}
    env = {**inherited, "METERLINE_WAREHOUSE": str(warehouse), "METERLINE_ENGINE": "duckdb", "TZ": "UTC"}
    common = [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
    ]
    tested = ["+int_usage_rated", "+provider_alternatives_daily"]
    built = subprocess.run([DBT_EXECUTABLE, "run", "--empty", "--select", *tested, *common],
                           env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    done = subprocess.run([DBT_EXECUTABLE, "test", "--select", "test_type:unit", *common],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    results = json.loads((target / "run_results.json").read_text()) if (target / "run_results.json").exists() else {}
    by_name = {r["unique_id"].rsplit(".", 1)[-1]: r for r in results.get("results", [])
               if r["unique_id"].startswith("unit_test.")}  # fmt: skip
    assert by_name, done.stdout + done.stderr
    yield by_name


def test_every_unit_test_of_the_project_runs(unit_results: dict[str, dict]) -> None:
    assert set(unit_results) == UNIT_TESTS


@pytest.mark.parametrize("name", sorted(UNIT_TESTS))
def test_dbt_unit_test_passes(unit_results: dict[str, dict], name: str) -> None:
    result = unit_results[name]
    assert result["status"] == "pass", result.get("message")
