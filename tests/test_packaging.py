"""What ``pip install .`` installs can run on its own: the wheel carries the library, the Dagster
layer with every asset group, the default price catalog, the instance template and the dbt
project, and a deployment that starts from the wheel (a code server, dagster-webserver and
dagster-daemon started separately, no ``meterline`` command first) loads the definitions,
preparing the dbt manifest itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from meterline.settings import REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools writes build/ and *.egg-info into the tree it builds.
    source = out / "source"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "data", "target", "logs", "build", "__pycache__", ".pytest_cache", "*.egg-info"
    ))  # fmt: skip
    # The PEP 517 hook pip calls for `pip install .`, called directly: no pip needed (a uv venv has none).
    build = "import sys; from setuptools.build_meta import build_wheel; build_wheel(sys.argv[1])"
    subprocess.run([sys.executable, "-c", build, str(out)], cwd=source, check=True, capture_output=True)
    [built] = out.glob("meterline-*.whl")
    return built


@pytest.mark.subprocess
def test_the_wheel_carries_everything_a_run_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "meterline/default_prices.csv",
        "meterline/dbt_project/dbt_project.yml",
        "meterline/dbt_project/profiles.yml",
        "meterline/dbt_project/models/marts/fct_cost.sql",
        "meterline/dbt_project/macros/engine.sql",
        "orchestration/dagster.yaml",
        "orchestration/raw/assets.py",
        "orchestration/dbt/assets.py",
        "orchestration/serving/assets.py",
        "orchestration/automation/sensors.py",
        "dashboard/app.py",
    ):
        assert needed in names, f"{needed} is missing from {wheel.name}"
    assert not [name for name in names if "/target/" in name or name.startswith("tests/")]


@pytest.mark.subprocess
def test_the_installed_definitions_load_without_a_prepared_manifest(wheel: Path, tmp_path: Path) -> None:
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    code = (
        "import json, meterline, orchestration.definitions as d; "
        "from orchestration.dbt.resource import meterline_dbt; "
        "print(json.dumps([meterline.__file__, str(meterline_dbt.manifest_path), "
        "sorted(k.to_user_string() for k in d.defs.resolve_asset_graph().get_all_asset_keys())]))"
    )
    environment = {key: value for key, value in os.environ.items() if key not in ("DBT_TARGET_PATH", "PYTHONPATH")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False,
        env={**environment, "PYTHONPATH": str(installed), "TZ": "UTC"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    library, manifest, keys = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(library).is_relative_to(installed), "the repo's code was loaded, not the wheel's"
    assert Path(manifest).is_relative_to(installed / "meterline" / "dbt_project") and Path(manifest).is_file()
    assert {"raw/price_catalog", "raw/usage_records", "fct_cost", "cost_overview_daily", "serving_marts"} <= set(keys)
