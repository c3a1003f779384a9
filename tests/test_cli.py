"""Bad arguments and settings of `meterline materialize`: one line naming the problem, exit code 2."""

from __future__ import annotations

import pytest

from orchestration.cli import main
from tests.helpers import Installation


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--from", "2026-02-30", "--to", "2026-03-01"], "2026-02-30"),
        (["--from", "yesterday", "--to", "2026-03-01"], "yesterday"),
        (["--from", "2026-11-06", "--to", "2026-11-05"], "after --to"),
        (["--from", "2019-12-31", "--to", "2020-01-01"], "2020-01-01"),
        (["--from", "2026-11-05", "--to", "2999-01-01"], "future"),
        (["--from", "2026-11-05"], "--to"),
    ],
)
def test_bad_dates_exit_2_with_one_line(
    installation: Installation, capsys: pytest.CaptureFixture[str], args: list[str], named: str
) -> None:
    installation.write_catalog()
    assert main(["materialize", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err


def test_a_missing_catalog_exits_2_naming_it(installation: Installation, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["materialize", "--from", "2026-11-05", "--to", "2026-11-05"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(installation.prices) in err


def test_a_catalog_that_is_not_csv_exits_2_naming_it(
    installation: Installation, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    not_csv = installation.root / "prices.json"
    not_csv.write_text("{}")
    monkeypatch.setenv("METERLINE_PRICES", str(not_csv))
    assert main(["materialize", "--from", "2026-11-05", "--to", "2026-11-05"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "prices.json" in err


def test_a_memory_limit_that_is_not_a_size_exits_2_naming_it(
    installation: Installation, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    installation.write_catalog()
    monkeypatch.setenv("METERLINE_DUCKDB_MEMORY_LIMIT", "lots")
    assert main(["materialize", "--from", "2026-11-05", "--to", "2026-11-05"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "METERLINE_DUCKDB_MEMORY_LIMIT='lots'" in err


def test_the_warehouse_is_opened_with_the_configured_memory_limit(
    installation: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.resources import MeterlinePaths

    monkeypatch.setenv("METERLINE_DUCKDB_MEMORY_LIMIT", "300MB")
    with MeterlinePaths().connect_warehouse() as con:
        limit = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    assert limit == "286.1 MiB"  # 300 MB as DuckDB shows it
