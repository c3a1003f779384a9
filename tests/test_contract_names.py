"""The names ../shared/contracts fixes are written once per language: meterline/contract.py for
Python, the vars of dbt_project/dbt_project.yml for dbt. This test holds the two copies together."""

from __future__ import annotations

import yaml

from meterline.contract import COSTS, MEASURES, USAGE_COUNTERS
from meterline.settings import DBT_PROJECT_DIR


def test_the_dbt_project_names_the_same_counters_and_costs_as_the_python_code() -> None:
    variables = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
    assert tuple(variables["usage_counters"]) == USAGE_COUNTERS
    assert tuple(variables["costs"]) == COSTS
    assert MEASURES == ("request_count", *USAGE_COUNTERS, *COSTS)
