"""Fixtures: installations of meterline at fixed paths per test worker, run for real.

The helpers themselves (Installation, usage_record, install) are in tests/helpers.py.
Markers (pyproject.toml) say what a test needs: ``pipeline`` (a real run: dbt, Dagster),
``spark`` (the Spark engine), ``browser`` (Debian's chromium), ``subprocess`` (a new Python
process: the CLI, a dbt or dagster command). The fast loop deselects them all (docs/testing.md).
"""

from __future__ import annotations

import os

from tests.helpers import worker_id

# Each test worker keeps its dbt artifacts (manifest, partial parse, the parse cache) apart, so
# two workers never replace each other's parse; set before orchestration is imported.
os.environ.setdefault("DBT_TARGET_PATH", f"target/pytest-{worker_id()}")

from collections.abc import Iterator
from pathlib import Path

import pytest

from meterline.dbt_child import warm_dbt
from orchestration.dbt.resource import prepare_manifest
from tests.helpers import HAS_SPARK, Installation, install, installation_root

# The order pytest-xdist hands modules out in (`--dist loadfile --no-loadscope-reorder` in pyproject.toml):
# the longest first, as measured in a whole run on 2 cores (docs/testing.md, *How long*), so the parity
# scenario starts at once on one worker while the other takes the next-longest, and the two finish
# together (longest processing time first). A worker gets its next module when the one it runs has two
# tests left. Modules not listed follow: those with Spark, then pipeline runs, then the rest.
SLOWEST_FIRST = (
    "test_engine_parity", "test_dashboard_browser", "test_operations", "test_reruns", "test_publish",
    "test_reliability", "test_dashboard", "test_data_quality", "test_marts", "test_dbt_args", "test_regions",
    "test_focus", "test_dbt_unit", "test_pipeline", "test_packaging", "test_dashboard_errors",
)  # fmt: skip
_ORDER = ("spark", "pipeline", "browser", "subprocess")


def pytest_configure(config: pytest.Config) -> None:
    """Parse the dbt project before collection: test modules import the Dagster definitions,
    which need the manifest (absent on a fresh clone). Not in pytest-xdist's controller, which
    runs no test. A worker's dbt commands go through the warm dbt a ``meterline`` command starts
    (meterline/dbt_child.py), started here once per worker."""
    if getattr(config, "workerinput", None) is not None or not config.getoption("numprocesses", None):
        warm_dbt()
        prepare_manifest()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, name in enumerate(_ORDER) if item.get_closest_marker(name)), len(_ORDER))

    def module(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    module_rank: dict[str, tuple[int, int]] = {}
    for item in items:
        name = Path(module(item)).stem
        listed = SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)
        module_rank[module(item)] = min((listed, rank(item)), module_rank.get(module(item), (99, 99)))
    items.sort(key=lambda item: module_rank[module(item)])  # stable: in order within a module


@pytest.fixture(scope="session")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this worker's installations live: a fixed path (parsed by dbt once, then cached)."""
    return installation_root() or tmp_path_factory.mktemp("installations")


@pytest.fixture(scope="session")
def spark_warehouse(roots: Path) -> Path:
    """The one Spark warehouse folder of this test session (a process hosts one local Spark)."""
    if not HAS_SPARK:
        pytest.skip("the spark engine needs the spark extra: pip install -e '.[test,spark]'")
    return roots / "spark_warehouse"


@pytest.fixture
def installation(roots: Path, monkeypatch: pytest.MonkeyPatch) -> Installation:
    """An empty DuckDB installation for one test."""
    return install(roots / "function", monkeypatch)


@pytest.fixture(scope="module")
def module_installation(roots: Path) -> Iterator[Installation]:
    """One DuckDB installation shared by a module's tests (a pipeline run costs ~20 s)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield install(roots / "module", monkeypatch)
