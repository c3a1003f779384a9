"""The cost analysis page on a serving file that is missing, junk, or whose Parquet files are gone or damaged
(issue 21, item 12): the page says what is wrong, which file and what to do, never a traceback or a server
path other than the serving file's own. Each case is a real broken file under the page run by Streamlit's
AppTest (fast loop); the serving files are built in SQL (tests/dashboard_serving.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

import dashboard
from dashboard.formatting import literal
from tests.dashboard_serving import build_serving

APP = str(Path(dashboard.__file__).resolve().parent / "app.py")
FIX = "Publish it again with `meterline materialize`"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good serving file and its Parquet folder, copied by each test that breaks one."""
    return build_serving(tmp_path_factory.mktemp("good") / "meterline.duckdb", requests=3_000)


def copy_serving(built: Path, folder: Path) -> Path:
    """A copy of `built` whose views read their own copy of the Parquet files (the paths are absolute)."""
    parts = folder / "meterline.duckdb.parts"
    shutil.copytree(built.with_name(built.name + ".parts"), parts)
    serving = folder / "meterline.duckdb"
    shutil.copy(built, serving)
    with duckdb.connect(str(serving)) as con:
        views = con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE schema_name = 'marts' AND NOT internal"
        ).fetchall()
        for name, sql in views:
            con.execute(f"DROP VIEW marts.{name}")
            con.execute(sql.replace(str(built.with_name(built.name + ".parts")), str(parts)))
    return serving


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[callable]:
    def open_page(serving: Path, **params: str) -> AppTest:
        monkeypatch.setenv("METERLINE_SERVING", str(serving))
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params.update(params)
        return at.run()

    yield open_page


def shown_text(at: AppTest) -> str:
    """Every text the page shows, in the main area and the sidebar."""
    elements = [*at.error, *at.warning, *at.info, *at.markdown, *at.caption, *at.title, *at.exception]
    return "\n".join(str(getattr(element, "value", "")) + str(getattr(element, "message", "")) for element in elements)


def assert_explained(at: AppTest, serving: Path, problem: str, hidden: Path | None = None) -> None:
    """One error naming the file, the problem and the fix; no exception, no traceback, no other server path."""
    assert not at.exception, [exception.message for exception in at.exception]
    assert [error.value for error in at.error] == [
        f"The serving file {literal(str(serving))} {problem}. {FIX} (or `meterline demo` for the sample), or point "
        "`METERLINE_SERVING` at the published serving file and restart `meterline dashboard`."
    ]
    text = shown_text(at)
    assert "Traceback" not in text and ".py" not in text and "Error:" not in text
    if hidden is not None:
        assert str(hidden) not in text and literal(str(hidden)) not in text
    assert not at.metric  # no half-drawn page beside the message


def test_a_missing_serving_file(page, tmp_path: Path) -> None:
    serving = tmp_path / "nowhere" / "meterline.duckdb"
    assert_explained(page(serving), serving, "does not exist")


def test_a_folder_in_place_of_the_serving_file(page, tmp_path: Path) -> None:
    serving = tmp_path / "meterline.duckdb"
    serving.mkdir()
    assert_explained(page(serving), serving, "is not a file")


@pytest.mark.parametrize(
    "junk",
    [os.urandom(20_000), b"", b"SQLite format 3\x00" + bytes(4080), b"a,b\n1,2\n"],
    ids=["random bytes", "empty", "sqlite header", "csv"],
)
def test_a_serving_file_replaced_by_junk(page, tmp_path: Path, junk: bytes) -> None:
    serving = tmp_path / "meterline.duckdb"
    serving.write_bytes(junk)
    assert_explained(page(serving), serving, "is not a DuckDB database (damaged, or replaced by another file)")


def test_a_truncated_serving_file(page, built: Path, tmp_path: Path) -> None:
    serving = tmp_path / "meterline.duckdb"
    serving.write_bytes(built.read_bytes()[:5_000])
    assert_explained(page(serving), serving, "is not a DuckDB database (damaged, or replaced by another file)")


def test_a_duckdb_file_without_the_published_tables(page, tmp_path: Path) -> None:
    serving = tmp_path / "meterline.duckdb"
    with duckdb.connect(str(serving)) as con:
        con.execute("CREATE TABLE notes AS SELECT 1 AS x")
    assert_explained(page(serving), serving, "does not hold the published tables (schema marts, meta.publication)")


def test_the_parquet_files_are_gone(page, built: Path, tmp_path: Path) -> None:
    serving = copy_serving(built, tmp_path)
    parts = serving.with_name(serving.name + ".parts")
    shutil.rmtree(parts)
    assert_explained(page(serving), serving, "refers to Parquet files that are missing (moved or deleted)", parts)


def test_the_hourly_parquet_files_are_gone_when_switching_to_hour(page, built: Path, tmp_path: Path) -> None:
    serving = copy_serving(built, tmp_path)
    at = page(serving)
    assert not at.exception and not at.error and at.metric  # the month view reads no hourly table
    parts = serving.with_name(serving.name + ".parts")
    for folder in parts.glob("*_hourly"):
        shutil.rmtree(folder)
    at.radio(key="granularity").set_value("Hour").run()
    assert_explained(at, serving, "refers to Parquet files that are missing (moved or deleted)", parts)


def test_a_damaged_parquet_file(page, built: Path, tmp_path: Path) -> None:
    serving = copy_serving(built, tmp_path)
    parts = serving.with_name(serving.name + ".parts")
    for file in (parts / "cost_overview_monthly").rglob("*.parquet"):
        file.write_bytes(os.urandom(3_000))
    assert_explained(page(serving), serving, "refers to Parquet files that are damaged (not valid Parquet)", parts)


def test_the_page_recovers_once_the_file_is_published_again(page, built: Path, tmp_path: Path) -> None:
    serving = tmp_path / "meterline.duckdb"
    serving.write_bytes(b"junk")
    at = page(serving)
    assert at.error
    shutil.copy(built, serving)  # the next run of the same session reads the new file
    at.run()
    assert not at.error and not at.exception and at.metric
