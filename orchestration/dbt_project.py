"""The dbt project as Dagster sees it, and the explicit preparation of its manifest."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from orchestration.settings import DBT_PROJECT_DIR

# The dbt installed beside this Python (a venv's bin/ need not be on PATH).
_VENV_DBT = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else (shutil.which("dbt") or "dbt")

# No fixed target: profiles.yml picks it from METERLINE_ENGINE when each dbt command runs,
# so one process (a test session) can run either engine.
meterline_dbt = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def prepare_manifest() -> None:
    """Parse the dbt project into target/manifest.json. The CLI and the tests call
    this before loading the definitions; definitions.py calls it under ``dagster dev``."""
    dbt = DbtCliResource(project_dir=meterline_dbt, dbt_executable=DBT_EXECUTABLE)
    dbt.cli(["--quiet", "parse"], target_path=meterline_dbt.target_path).wait()
