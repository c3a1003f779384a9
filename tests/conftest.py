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

from orchestration.dbt.resource import prepare_manifest
from tests.helpers import HAS_SPARK, Installation, install, installation_root

# Modules with Spark first, then pipeline runs: under pytest-xdist the longest work starts early
# instead of last. A module's tests stay together and in order (module fixtures).
_ORDER = ("spark", "pipeline", "browser", "subprocess")


def pytest_configure(config: pytest.Config) -> None:
    """Parse the dbt project before collection: test modules import the Dagster definitions,
    which need the manifest (absent on a fresh clone). Not in pytest-xdist's controller, which
    runs no test."""
    if getattr(config, "workerinput", None) is not None or not config.getoption("numprocesses", None):
        prepare_manifest()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, name in enumerate(_ORDER) if item.get_closest_marker(name)), len(_ORDER))

    module_rank: dict[str, int] = {}
    for item in items:
        module_rank[item.nodeid.split("::")[0]] = min(rank(item), module_rank.get(item.nodeid.split("::")[0], 99))
    items.sort(key=lambda item: module_rank[item.nodeid.split("::")[0]])  # stable: in order within a module


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
