"""`meterline materialize` on the terminal: bad arguments and settings print one line naming the
problem (exit code 2), in this process and from the installed console script; the progress lines a
run shows. A real run's terminal and log file: test_operations (its run shares the module's runs)."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from meterline.quality import report
from meterline.quality.results import BLOCKING, CheckResult
from meterline.settings import DEFAULT_PRICES, REPO_ROOT
from orchestration.cli import main
from orchestration.progress import Progress
from orchestration.runner import check_line
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
        f"{prefix} - fct_cost_and_marts_rules - passed [blocking/warning] 9 x conservation/quarantine_share: fct_cost, ...",
        f"{prefix} - rejected_usage_quarantine_share - WARNING [warning] rejected_usage quarantine_share: 9%",
        f"{prefix} - fct_cost_and_marts_rules - passed [blocking] 23 x one_row_per_group: cost_cube_daily, ...",
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
    assert progress.summary() == "checks: 32 passed, 0 failed, 1 warnings"


@pytest.mark.subprocess
def test_the_console_script_exits_with_the_code_of_the_command(installation: Installation) -> None:
    """The installed ``meterline`` script, a process of its own: its exit code is main's (the
    in-process tests above check main's)."""
    installation.write_catalog()
    meterline = Path(sys.executable).with_name("meterline")
    done = subprocess.run([str(meterline), "materialize", "--from", "2026-11-06", "--to", "2026-11-05"],
                          cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "meterline: error: --from 2026-11-06 is after --to 2026-11-05"
    # A command that succeeds: exit 0, its output whole through a pipe (the script ends the process
    # without Python's teardown: orchestration.cli.console).
    out = installation.root / "sample"
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}  # a pipe's buffer
    done = subprocess.run([str(meterline), "generate", "--days", "2", "--rows-per-day", "50", "--start", "2026-11-05",
                           "--out", str(out)],
                          cwd=REPO_ROOT, env=buffered | {"METERLINE_PRICES": str(DEFAULT_PRICES)},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout == f"generated 2 arrival day(s): 12 files, 100 records (0 invalid lines) in {out}\n"


@pytest.mark.subprocess
def test_loading_the_definitions_prints_no_warning_of_dagster() -> None:
    """No meterline command prints Dagster's beta or preview notices (the checks' partitions, the
    single-run backfill policy) on stderr: nothing a user can act on, since pyproject.toml pins
    dagster exactly. Made errors here, any one of them fails the import."""
    probe = (
        "import warnings, dagster as dg\n"
        "for category in (dg.BetaWarning, dg.PreviewWarning):\n"
        "    warnings.simplefilter('error', category)\n"
        "import orchestration.definitions\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_two_runs_started_within_one_second_keep_their_order_and_latest_is_the_later(tmp_path: Path) -> None:
    """A run that a blocking check stops before dbt can end within the second it started: the report
    folders carry the start to the millisecond, so they sort by time and `latest` moves on."""
    first = datetime(2026, 11, 5, 2, 0, 13, 250_000, tzinfo=UTC)
    runs = [
        ("ffffffff-0000-4000-8000-000000000001", first),
        ("00000000-0000-4000-8000-000000000002", first + timedelta(milliseconds=400)),
    ]
    passed = CheckResult(name="price_catalog_rules", asset="raw/price_catalog", severity=BLOCKING, passed=True,
                         observed=0, summary="ok")  # fmt: skip
    folders = []
    for run_id, started in runs:
        folders.append(report.run_folder(tmp_path, run_id, started))
        report.record(folders[-1], [passed], run_id=run_id, run_time=started, source="sql")
    assert [f.name for f in folders] == ["2026-11-05T02-00-13.250Z_ffffffff", "2026-11-05T02-00-13.650Z_00000000"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != report.LATEST) == [f.name for f in folders]
    assert report.find_run(tmp_path, None) == folders[1]


# The Dagster process's view of the dbt project: its assets, their deps and groups, the checks and the ops.
GRAPH_PROBE = """
import importlib.metadata, json, sys
from dagster_shared.libraries import DagsterLibraryRegistry
from orchestration.definitions import MAIN_JOB, defs
graph = defs.resolve_asset_graph()
nodes = {key.to_user_string(): [sorted(k.to_user_string() for k in graph.get(key).parent_keys),
                                graph.get(key).group_name] for key in graph.get_all_asset_keys()}
print(json.dumps({
    "dbt_modules": sorted(m for m in sys.modules if m == "dbt" or m.startswith("dbt.")),
    "libraries": {k: v for k, v in DagsterLibraryRegistry.get().items() if k.startswith("dbt")},
    "cli_version": str(defs.resources["dbt"]._cli_version) == importlib.metadata.version("dbt-core"),
    "graph": [nodes, sorted(map(str, graph.asset_check_keys)), sorted(defs.resolve_job_def(MAIN_JOB).graph.node_dict)],
}))
"""


@pytest.mark.subprocess
def test_the_definitions_load_without_importing_dbt_core_and_as_with_it() -> None:
    """dbt runs in processes of its own (meterline/dbt_child.py). The Dagster process imports dagster-dbt
    as if dbt-core were absent (orchestration/internals.py: ~1.4 s of every run's start-up), and gets
    the same assets, checks and ops as dagster-dbt with dbt-core imported first."""

    def load(first: str) -> dict:
        done = subprocess.run([sys.executable, "-c", first + GRAPH_PROBE], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    without, with_dbt = load(""), load("import dagster_dbt\n")  # the latter: dagster-dbt's dbt-core path
    assert without["dbt_modules"] == [] and "dbt.version" in with_dbt["dbt_modules"]
    version = importlib.metadata.version("dbt-core")
    assert without["libraries"] == with_dbt["libraries"] == {"dbt-core": version}
    assert without["cli_version"] and with_dbt["cli_version"]
    assert without["graph"] == with_dbt["graph"]
    assert "model.meterline.fct_cost" not in without["graph"][0] and "fct_cost" in without["graph"][0]


def test_a_failed_dbt_test_is_named_with_its_failing_rows_not_none() -> None:
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("int_unpriced_usage"),
        check_name="unique_int_unpriced_usage_request_id",
        passed=False,
        metadata={"dagster_dbt/failed_row_count": 3},
        severity=dg.AssetCheckSeverity.ERROR,
    )
    assert check_line(evaluation) == (
        "blocking check int_unpriced_usage unique_int_unpriced_usage_request_id failed: dbt test failed: 3 failing rows"
    )
