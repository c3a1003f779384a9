"""The names ../shared/contracts fixes are written once per language: meterline/contract.py for
Python, the vars of dbt_project/dbt_project.yml for dbt. This test holds the two copies together."""

from __future__ import annotations

import yaml

from meterline.contract import COSTS, MART_GRAINS, MART_REQUIRED, MEASURES, USAGE_COUNTERS
from meterline.settings import DBT_PROJECT_DIR


def test_the_dbt_project_names_the_same_counters_and_costs_as_the_python_code() -> None:
    variables = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
    assert tuple(variables["usage_counters"]) == USAGE_COUNTERS
    assert tuple(variables["costs"]) == COSTS
    assert MEASURES == ("request_count", *USAGE_COUNTERS, *COSTS)


def test_every_aggregate_mart_has_a_grain_whose_columns_it_has() -> None:
    """one_row_per_group reads each mart's grain from MART_GRAINS: every mart of the dbt project but
    fct_cost belongs to a family there, and has the family's columns."""
    models = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / "_marts__models.yml").read_text("utf-8"))["models"]
    columns = {model["name"]: {column["name"] for column in model["columns"]} for model in models}
    marts = set(columns) - {"fct_cost"}
    assert {mart.rsplit("_", 1)[0] for mart in marts} == set(MART_GRAINS)
    for mart in marts:
        assert {*MART_REQUIRED, *MART_GRAINS[mart.rsplit("_", 1)[0]]} <= columns[mart], mart
