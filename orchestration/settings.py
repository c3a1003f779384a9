"""Every outside path and setting of meterline, in one place.

Each value comes from a ``METERLINE_*`` environment variable read at run time,
with the defaults of ../shared/contracts/marts.md. Relative paths are resolved
against the current working directory (the repo root for the README commands).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DEFAULT_PRICES = PACKAGE_DIR / "default_prices.csv"

# The first arrival day that is a valid partition (marts.md).
FIRST_ARRIVAL_DAY = "2020-01-01"

DEFAULTS: dict[str, str] = {
    "METERLINE_LANDING": "data/landing/usage",
    "METERLINE_WAREHOUSE": "data/warehouse.duckdb",
    "METERLINE_SERVING": "data/serving/meterline.duckdb",
    "METERLINE_REPORTS": "data/reports",
    "METERLINE_PRICES": str(DEFAULT_PRICES),
    "METERLINE_ENGINE": "duckdb",
}


def _path(name: str) -> Path:
    return Path(os.environ.get(name) or DEFAULTS[name]).expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    landing: Path
    warehouse: Path
    serving: Path
    reports: Path
    prices: Path
    dagster_home: Path

    @classmethod
    def from_env(cls) -> "Settings":
        dagster_home = os.environ.get("DAGSTER_HOME") or "data/dagster_home"
        return cls(
            landing=_path("METERLINE_LANDING"),
            warehouse=_path("METERLINE_WAREHOUSE"),
            serving=_path("METERLINE_SERVING"),
            reports=_path("METERLINE_REPORTS"),
            prices=_path("METERLINE_PRICES"),
            dagster_home=Path(dagster_home).expanduser().resolve(),
        )

    def as_env(self) -> dict[str, str]:
        """The resolved values as environment variables (for dbt and child processes)."""
        return {
            "METERLINE_LANDING": str(self.landing),
            "METERLINE_WAREHOUSE": str(self.warehouse),
            "METERLINE_SERVING": str(self.serving),
            "METERLINE_REPORTS": str(self.reports),
            "METERLINE_PRICES": str(self.prices),
            "DAGSTER_HOME": str(self.dagster_home),
            "TZ": "UTC",
        }
