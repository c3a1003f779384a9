"""Every outside path and setting of meterline, in one place: :class:`Settings`.

Each value comes from a ``METERLINE_*`` environment variable read at run time,
with the defaults of ../shared/contracts/marts.md. Relative paths are resolved
against the current working directory (the repo root for the README commands).
No other module reads a ``METERLINE_*`` variable; a bad value fails with one
line naming the variable and the fix.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from meterline.errors import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
# The dbt project: the repo's folder in a checkout; in an installed wheel, the copy setup.py puts
# into this package.
DBT_PROJECT_DIR = (
    REPO_ROOT / "dbt_project"
    if (REPO_ROOT / "dbt_project" / "dbt_project.yml").is_file()
    else PACKAGE_DIR / "dbt_project"
)
DEFAULT_PRICES = PACKAGE_DIR / "default_prices.csv"
# Copied into $DAGSTER_HOME as dagster.yaml when it has none (run queue, concurrency limits).
INSTANCE_TEMPLATE = REPO_ROOT / "orchestration" / "dagster.yaml"

# The first arrival day that is a valid partition (marts.md).
FIRST_ARRIVAL_DAY = "2020-01-01"

# The engines that can run the dbt models (METERLINE_ENGINE); each is a dbt target of profiles.yml.
ENGINES = ("duckdb", "spark")

DEFAULTS: dict[str, str] = {
    "METERLINE_LANDING": "data/landing/usage",
    "METERLINE_WAREHOUSE": "data/warehouse.duckdb",
    "METERLINE_SERVING": "data/serving/meterline.duckdb",
    "METERLINE_REPORTS": "data/reports",
    "METERLINE_PRICES": str(DEFAULT_PRICES),
    "METERLINE_ENGINE": "duckdb",
    # Data-quality warning thresholds: the largest share of an arrival day's records that may be
    # quarantined, and how many times its trailing 7-day mean a day's spend may reach.
    "METERLINE_QUARANTINE_SHARE_MAX": "0.05",
    "METERLINE_SPEND_JUMP_FACTOR": "3.0",
    # Blocking: the largest share of the counted requests of a run's rebuilt event days that may be
    # unpriced before the run refuses to publish (a catalog that lost rows must not empty the marts).
    "METERLINE_UNPRICED_SHARE_MAX": "0.5",
    "METERLINE_RAW": "data/raw",
    "METERLINE_SPARK_WAREHOUSE": "data/spark_warehouse",
    # The most memory DuckDB may use in each process (meterline's, and dbt's): beyond it, DuckDB
    # spills to disk. DuckDB's own default, 80% of the machine, lets a 5M-record day grow the
    # process tree past 4 GB.
    "METERLINE_DUCKDB_MEMORY_LIMIT": "2GB",
    # How long a run waits for another run's warehouse lock before it gives up (seconds).
    "METERLINE_LOCK_TIMEOUT": "900",
    # The nightly schedule fires at this hour (UTC) for the arrival day that just ended.
    "METERLINE_SCHEDULE_DELAY_HOURS": "2",
    # The local Spark of METERLINE_ENGINE=spark: its master and the driver's memory.
    "METERLINE_SPARK_MASTER": "local[*]",
    "METERLINE_SPARK_DRIVER_MEMORY": "4g",
}


def _path(name: str) -> Path:
    return Path(os.environ.get(name) or DEFAULTS[name]).expanduser().resolve()


def _number(name: str, low: float, high: float) -> float:
    text = os.environ.get(name) or DEFAULTS[name]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise UsageError(f"{name}={text!r} is not a number from {low:g} to {high:g}; fix or unset it")
    return value


def _text(name: str) -> str:
    return (os.environ.get(name) or DEFAULTS[name]).strip()


def _delay_hours() -> int:
    text = _text("METERLINE_SCHEDULE_DELAY_HOURS")
    if not text.isdigit() or int(text) > 23:
        raise UsageError(
            f"METERLINE_SCHEDULE_DELAY_HOURS={text!r} must be a whole number of hours from 0 to 23; fix or unset it"
        )
    return int(text)


def _memory_limit() -> str:
    text = (os.environ.get("METERLINE_DUCKDB_MEMORY_LIMIT") or DEFAULTS["METERLINE_DUCKDB_MEMORY_LIMIT"]).strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", text, flags=re.IGNORECASE):
        raise UsageError(f"METERLINE_DUCKDB_MEMORY_LIMIT={text!r} is not a size like 2GB or 512MB; fix or unset it")
    return text


def _engine() -> str:
    engine = (os.environ.get("METERLINE_ENGINE") or DEFAULTS["METERLINE_ENGINE"]).strip().lower()
    if engine not in ENGINES:
        raise UsageError(f"METERLINE_ENGINE={engine!r} is not one of: {', '.join(ENGINES)}")
    return engine


@dataclass(frozen=True)
class Settings:
    landing: Path
    warehouse: Path
    serving: Path
    reports: Path
    prices: Path
    dagster_home: Path
    quarantine_share_max: float
    spend_jump_factor: float
    unpriced_share_max: float

    # The Parquet raw layer both engines read: <raw>/arrival_date=D/<table>.parquet, one folder per arrival day.
    raw: Path
    # duckdb (the embedded default) or spark: the dbt target that builds the models.
    engine: str
    # Local Spark only: table folders and the Hive metastore of the Spark warehouse.
    spark_warehouse: Path
    # DuckDB's memory_limit in every process that opens the warehouse, dbt's included.
    duckdb_memory_limit: str
    # Seconds a run waits for the warehouse lock held by another run.
    lock_timeout: float = 900.0
    # The nightly schedule's hour (UTC), read when the code location loads.
    schedule_delay_hours: int = 2
    spark_master: str = "local[*]"
    spark_driver_memory: str = "4g"

    @classmethod
    def from_env(cls) -> Settings:
        dagster_home = os.environ.get("DAGSTER_HOME") or "data/dagster_home"
        return cls(
            landing=_path("METERLINE_LANDING"),
            warehouse=_path("METERLINE_WAREHOUSE"),
            serving=_path("METERLINE_SERVING"),
            reports=_path("METERLINE_REPORTS"),
            prices=_path("METERLINE_PRICES"),
            dagster_home=Path(dagster_home).expanduser().resolve(),
            quarantine_share_max=_number("METERLINE_QUARANTINE_SHARE_MAX", 0.0, 1.0),
            spend_jump_factor=_number("METERLINE_SPEND_JUMP_FACTOR", 1.0, math.inf),
            unpriced_share_max=_number("METERLINE_UNPRICED_SHARE_MAX", 0.0, 1.0),
            raw=_path("METERLINE_RAW"),
            engine=_engine(),
            spark_warehouse=_path("METERLINE_SPARK_WAREHOUSE"),
            duckdb_memory_limit=_memory_limit(),
            lock_timeout=_number("METERLINE_LOCK_TIMEOUT", 0.0, math.inf),
            schedule_delay_hours=_delay_hours(),
            spark_master=_text("METERLINE_SPARK_MASTER"),
            spark_driver_memory=_text("METERLINE_SPARK_DRIVER_MEMORY"),
        )

    def as_env(self) -> dict[str, str]:
        """The resolved values as environment variables (for dbt and child processes)."""
        return {
            "METERLINE_LANDING": str(self.landing),
            "METERLINE_WAREHOUSE": str(self.warehouse),
            "METERLINE_SERVING": str(self.serving),
            "METERLINE_REPORTS": str(self.reports),
            "METERLINE_PRICES": str(self.prices),
            "METERLINE_RAW": str(self.raw),
            "METERLINE_ENGINE": self.engine,
            "METERLINE_SPARK_WAREHOUSE": str(self.spark_warehouse),
            "METERLINE_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "METERLINE_LOCK_TIMEOUT": f"{self.lock_timeout:g}",
            "METERLINE_SCHEDULE_DELAY_HOURS": str(self.schedule_delay_hours),
            "METERLINE_SPARK_MASTER": self.spark_master,
            "METERLINE_SPARK_DRIVER_MEMORY": self.spark_driver_memory,
            "DAGSTER_HOME": str(self.dagster_home),
            "TZ": "UTC",
        }
