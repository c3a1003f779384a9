"""`meterline materialize` on the terminal: bad arguments and settings print one line naming the
problem (exit code 2); a run shows a line per step and keeps its whole log in a file."""

from __future__ import annotations

import io
import re

import pytest

from orchestration.cli import main
from orchestration.progress import Progress
from tests.helpers import Installation, usage_record


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


RUN = "6f1c1a2e-0000-4000-8000-000000000001"


def test_progress_shows_steps_dbt_quarters_and_failed_checks_only() -> None:
    terminal = io.StringIO()
    progress = Progress(terminal=terminal)
    prefix = f"2026-12-02 10:00:00 +0000 - dagster - INFO - meterline_job - {RUN}"
    for line in [
        f"{prefix} - raw_usage - [1/1] arrival day 2026-11-05: 1 files, 1 records read",
        f"{prefix} - meterline_dbt_models - Running dbt command: `dbt build`.",
        "1 of 1 OK hook: meterline.on-run-start.0 ..... [OK in 0.3s]",
        *[f"{n} of 8 OK created sql view model staging.m{n} ..... [\x1b[32mOK\x1b[0m in 1s]" for n in range(1, 8)],
        "8 of 8 FAIL 2 unique_fct_cost_request_id ..... [FAIL 2 in 1s]",
        f"{prefix} - fct_cost_conservation - passed [blocking] fct_cost conservation: 1 arrival days balance",
        f"{prefix} - rejected_usage_quarantine_share - WARNING [warning] rejected_usage quarantine_share: 9%",
        f"{prefix} - marts_one_row_per_group - passed [blocking] 23 x one_row_per_group: cost_cube_daily, ...",
        f"2026-12-02 10:00:01 +0000 - dagster - ERROR - meterline_job - {RUN} - serving_marts - disk full",
        "Traceback (most recent call last):",
    ]:
        progress.line(line)
    shown = terminal.getvalue().splitlines()
    assert shown == [
        "  [1/1] arrival day 2026-11-05: 1 files, 1 records read",
        "  dbt build: 2 of 8 models and tests done",
        "  dbt build: 4 of 8 models and tests done",
        "  dbt build: 6 of 8 models and tests done",
        "  dbt: 8 of 8 FAIL 2 unique_fct_cost_request_id ..... [FAIL 2 in 1s]",
        "  dbt build: 8 of 8 models and tests done",
        "  WARNING [warning] rejected_usage quarantine_share: 9%",
        "  serving_marts: disk full",
    ]
    assert progress.summary() == "checks: 24 passed, 0 failed, 1 warnings"


@pytest.mark.pipeline
def test_a_run_shows_a_line_per_step_and_keeps_the_whole_log_in_a_file(
    installation: Installation, capsys: pytest.CaptureFixture[str]
) -> None:
    installation.write_catalog("openai,openai/gpt-test,LLM,2020-01-01,2,,,8,,,")
    installation.write_jsonl("2026-11-05", "a.jsonl", [usage_record("r1", "2026-11-05T10:00:00Z")])
    assert main(["materialize", "--from", "2026-11-05", "--to", "2026-11-05"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 15, out
    assert "arrival day 2026-11-05: 1 files" in out and "models and tests done" in out
    assert re.search(r"checks: [1-9]\d* passed, 0 failed, 0 warnings", out), out
    # This run's log, in its report folder (earlier tests' runs may have left theirs beside it).
    [log] = [path for path in installation.reports.glob("*/run.log") if str(path) in out]
    text = log.read_text(encoding="utf-8")
    assert re.search(r"OK created sql \w+ model marts\.fct_cost", text)  # dbt's own log: in the file only
    assert "OK created" not in out
