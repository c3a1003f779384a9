"""The data-quality gate: blocking checks stop publication, warnings are published and reported.

One installation goes through four real runs (ingest, dbt, checks, publish), in order:

1. 2026-11-02: a clean day; published (the baseline).
2. 2026-11-03: spend ten times the day before, unpriced records and many bad lines: three
   warnings, still published.
3. 2026-11-04 with a negative price in the catalog: blocked by price_catalog_rules.
4. 2026-11-04 again, after corrupting the warehouse the way a defect would (a stray fct_cost row
   counted for that arrival day, a daily cube row off by one dollar): blocked by
   conservation and by the daily/monthly marts' reconciliation.

Blocking checks that no landing file or catalog can trip (a duplicate request_id or a negative
cost in fct_cost, a raw record breaking the suite) are run directly on a copy of the real
warehouse, corrupted on purpose.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from meterline.contract import MART_GRAINS
from meterline.errors import UsageError
from meterline.publish import parts_dir
from meterline.quality import report, rules, suites
from meterline.quality.results import BLOCKING, WARNING, Scope
from meterline.settings import Settings
from orchestration.cli import main
from tests.helpers import Installation, usage_record

pytestmark = pytest.mark.pipeline

D1, D2, D3 = "2026-11-02", "2026-11-03", "2026-11-04"
CATALOG = ["openai,openai/gpt-test,LLM,2020-01-01,2,,,8,,,"]
NEGATIVE_PRICE = "openai,openai/cheap,LLM,2026-01-01,-0.5,,,1,,,"
SPEND_JUMP_FACTOR = "5"  # day 2 spends 10x day 1


def _requests(day: str, prefix: str, count: int) -> list[dict[str, Any]]:
    return [usage_record(f"{prefix}-{i}", f"{day}T{10 + i % 10:02d}:00:00Z") for i in range(count)]


@dataclass
class Run:
    code: int
    serving_before: bytes
    serving_after: bytes
    parts_before: dict[str, float]
    parts_after: dict[str, float]
    folder: Path
    summary: dict[str, Any]

    def check(self, asset: str, name: str) -> dict[str, Any]:
        [found] = [c for c in self.summary["checks"] if c["asset"] == asset and c["name"] == name]
        return found


def _parts(inst: Installation) -> dict[str, float]:
    folder = parts_dir(inst.serving)
    return {str(p): p.stat().st_mtime for p in folder.rglob("*")} if folder.exists() else {}


def _run(inst: Installation, day: str) -> Run:
    before, parts_before = (inst.serving.read_bytes() if inst.serving.exists() else b""), _parts(inst)
    code = inst.run(day)
    folder = (inst.reports / report.LATEST).resolve()
    return Run(code, before, inst.serving.read_bytes(), parts_before, _parts(inst), folder, report.load_summary(folder))


@dataclass
class Scenario:
    inst: Installation
    clean: Run
    warned: Run
    bad_catalog: Run
    corrupted: Run


@pytest.fixture(scope="module")
def scenario(module_installation: Installation) -> Iterator[Scenario]:
    inst = module_installation
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("METERLINE_SPEND_JUMP_FACTOR", SPEND_JUMP_FACTOR)
        inst.write_catalog(*CATALOG)
        inst.write_jsonl(D1, "a.jsonl", _requests(D1, "d1", 5))
        clean = _run(inst, D1)

        inst.write_jsonl(
            D2,
            "a.jsonl",
            [
                *_requests(D2, "d2", 50),
                usage_record("new-1", f"{D2}T12:00:00Z", model="openai/brand-new"),
                usage_record("new-2", f"{D2}T13:00:00Z", model="openai/brand-new"),
                *(["{not json"] * 8),
            ],
        )
        warned = _run(inst, D2)

        inst.write_catalog(*CATALOG, NEGATIVE_PRICE)
        inst.write_jsonl(D3, "a.jsonl", _requests(D3, "d3", 5))
        bad_catalog = _run(inst, D3)

        inst.write_catalog(*CATALOG)
        with duckdb.connect(str(inst.warehouse)) as con:
            # A costed row counted for arrival day D3 on an event day D3 does not rebuild.
            con.execute(f"""
                insert into marts.fct_cost
                select * replace ('ghost' as request_id, date '{D3}' as arrival_date,
                                  timestamp '2026-11-01 12:00:00' as created_at, 'subscription' as billing_mode)
                from marts.fct_cost limit 1""")
            # The daily cube row of D1 (not rebuilt; the month is) one dollar off fct_cost.
            con.execute(f"""
                update marts.cost_cube_daily set input_cost = input_cost + 1, total_cost = total_cost + 1
                where period_start = '{D1}'""")
        corrupted = _run(inst, D3)
    yield Scenario(inst, clean, warned, bad_catalog, corrupted)


def _unchanged(run: Run) -> bool:
    return run.serving_after == run.serving_before and run.parts_after == run.parts_before


def test_a_clean_day_passes_every_check_and_is_published(scenario: Scenario) -> None:
    run = scenario.clean
    assert run.code == 0 and run.serving_after
    assert run.summary["status"] == "passed"
    assert run.summary["partition"] == D1
    names = {(c["asset"], c["name"]) for c in run.summary["checks"] if c["source"] != "dbt"}
    assert {
        ("raw/price_catalog", "price_catalog_rules"),
        ("raw/usage_records", "usage_records_rules"),
        ("fct_cost", "conservation"),
        ("fct_cost", "request_id_unique"),
        ("fct_cost", "no_negative_cost"),
        ("fct_cost", "fct_cost_suite"),
        ("cost_cube_hourly", "reconciles_with_fct_cost"),
        ("provider_model_details_monthly", "reconciles_with_fct_cost"),
        ("rejected_usage", "unpriced_records"),
        ("rejected_usage", "quarantine_share"),
        ("cost_overview_daily", "spend_jump_per_account"),
        ("cost_by_api_key_daily", "spend_jump_per_api_key"),
    } <= names
    assert len([n for n in names if n[1] == "reconciles_with_fct_cost"]) == 21
    assert any(c["source"] == "dbt" for c in run.summary["checks"])
    assert all(c["passed"] for c in run.summary["checks"])
    assert run.check("fct_cost", "conservation")["details"]["days"] == [
        {"arrival_date": D1, "records_read": 5, "costed": 5, "superseded": 0, "quarantined": 0, "unaccounted": 0}
    ]


def test_warnings_are_published_and_the_report_names_their_causes(scenario: Scenario) -> None:
    run = scenario.warned
    assert run.code == 0
    assert run.serving_after != run.serving_before
    assert scenario.inst.serving_rows("select count(*) from marts.fct_cost") == [(55,)]
    assert run.summary["status"] == "warnings" and run.summary["blocking_failed"] == 0
    assert run.summary["warnings"] == 4

    unpriced = run.check("rejected_usage", "unpriced_records")
    assert (unpriced["severity"], unpriced["passed"], unpriced["observed"]) == (WARNING, False, 2)
    assert unpriced["offending_rows"] == [
        {
            "provider": "openai",
            "model": "openai/brand-new",
            "records": 2,
            "first_event_day": D2,
            "last_event_day": D2,
        }
    ]
    assert "openai openai/brand-new" in unpriced["summary"]

    share = run.check("rejected_usage", "quarantine_share")
    assert not share["passed"] and share["observed"] == pytest.approx(10 / 60, abs=1e-6)
    [day] = share["offending_rows"]
    assert (day["arrival_date"], day["records_read"], day["quarantined"]) == (D2, 60, 10)
    assert day["reasons"] == "malformed_record 8, unpriced 2"

    for name, key in (
        ("spend_jump_per_account", {"account_id": "acct_1"}),
        ("spend_jump_per_api_key", {"account_id": "acct_1", "api_key_id": "key_1"}),
    ):
        jump = run.check("cost_overview_daily" if "account" in name else "cost_by_api_key_daily", name)
        assert not jump["passed"] and jump["details"]["factor"] == float(SPEND_JUMP_FACTOR)
        [row] = jump["offending_rows"]
        assert {k: row[k] for k in key} == key
        assert (row["day"], row["spend"], row["jump"]) == (D2, "0.300000000000000000", 10.0)


def test_a_bad_catalog_blocks_the_run_and_leaves_the_serving_file_as_it_was(scenario: Scenario) -> None:
    run = scenario.bad_catalog
    assert run.code == 1
    assert _unchanged(run)
    catalog = run.check("raw/price_catalog", "price_catalog_rules")
    assert (catalog["severity"], catalog["passed"], catalog["observed"]) == (BLOCKING, False, 1)
    assert catalog["offending_rows"][0]["line_number"] == 3
    assert "input_per_mtok is negative" in catalog["offending_rows"][0]["problem"]
    # Nothing downstream of the catalog ran: no check of fct_cost or the marts in this run.
    assert not [c for c in run.summary["checks"] if c["asset"] == "fct_cost"]
    assert run.summary["status"] == "blocked"


def test_conservation_and_reconciliation_failures_block_the_run(scenario: Scenario) -> None:
    run = scenario.corrupted
    assert run.code == 1
    assert _unchanged(run)
    assert run.summary["status"] == "blocked"

    conservation = run.check("fct_cost", "conservation")
    assert not conservation["passed"]
    assert conservation["offending_rows"] == [
        {"arrival_date": D3, "records_read": 5, "costed": 6, "superseded": 0, "quarantined": 0, "unaccounted": -1}
    ]
    # 60 payg requests in November at 0.002 input and 0.006 total each; 5 of them on D1. Daily
    # tables are compared over the months the run republishes, monthly ones derive from the cube.
    month = "2026-11-01T00:00:00"
    for table, period, expected_input, actual_input, expected_total, actual_total in (
        (
            "cost_cube_daily",
            f"{D1}T00:00:00",
            "0.010000000000000000",
            "1.010000000000000000",
            "0.030000000000000000",
            "1.030000000000000000",
        ),
        (
            "cost_cube_monthly",
            month,
            "0.120000000000000000",
            "1.120000000000000000",
            "0.360000000000000000",
            "1.360000000000000000",
        ),
        (
            "cost_by_model_monthly",
            month,
            "0.120000000000000000",
            "1.120000000000000000",
            "0.360000000000000000",
            "1.360000000000000000",
        ),
    ):
        failed = run.check(table, "reconciles_with_fct_cost")
        assert not failed["passed"] and failed["severity"] == BLOCKING and failed["observed"] == 2
        assert failed["offending_rows"] == [
            {"period_start": period, "measure": "input_cost", "expected": expected_input, "actual": actual_input},
            {"period_start": period, "measure": "total_cost", "expected": expected_total, "actual": actual_total},
        ]
    for table in ("cost_cube_hourly", "cost_by_model_daily"):
        assert run.check(table, "reconciles_with_fct_cost")["passed"]
    # The other fct_cost checks ran and passed: only the corrupted rules fail.
    assert run.check("fct_cost", "request_id_unique")["passed"]


def test_blocked_runs_are_reported_by_the_cli_and_in_dagster(
    scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dq-report"]) == 1
    out = capsys.readouterr().out
    assert "FAIL    blocking  fct_cost" in out and "conservation" in out
    assert "nothing from this run was published" in out

    assert main(["dq-report", "--run", scenario.warned.summary["run_id"][:8]]) == 0
    out = capsys.readouterr().out
    assert "WARN    warning   rejected_usage" in out and "All blocking checks passed (4 warnings)" in out

    instance = dg.DagsterInstance.get()
    key = dg.AssetCheckKey(dg.AssetKey("fct_cost"), "conservation")
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    evaluation = latest.event.dagster_event.event_specific_data
    assert latest.run_id == scenario.corrupted.summary["run_id"]
    assert not evaluation.passed and evaluation.metadata["observed"].value == 1
    assert evaluation.partition == D3  # Dagster shows the failure on its arrival day
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    published = instance.get_latest_materialization_event(dg.AssetKey("serving_marts"))
    assert published.run_id == scenario.warned.summary["run_id"]


def test_every_run_keeps_its_report_and_latest_points_at_the_newest(scenario: Scenario) -> None:
    reports = scenario.inst.reports
    runs = [scenario.clean, scenario.warned, scenario.bad_catalog, scenario.corrupted]
    assert sorted(p.name for p in reports.iterdir() if p.name != report.LATEST) == [r.folder.name for r in runs]
    assert (reports / report.LATEST).resolve() == scenario.corrupted.folder
    for run in runs:
        summary = json.loads((run.folder / report.SUMMARY_FILE).read_text(encoding="utf-8"))
        assert summary["run_id"] and summary["checks_run"] == len(summary["checks"])
        # fct_cost's suite (GX) runs after dbt: not in the run whose catalog stopped it before dbt.
        assert (run.folder / "data_docs" / "index.html").is_file() == (run is not scenario.bad_catalog), run.folder
        for check in summary["checks"]:
            assert {"name", "asset", "partition", "severity", "passed", "observed", "offending_rows"} <= set(check)
    docs = scenario.clean.folder / "data_docs"
    assert {p.parent.parent.name for p in docs.glob("validations/*/*/*")} == {"fct_cost_suite"}
    assert report.find_run(reports, scenario.clean.folder.name) == scenario.clean.folder
    assert report.find_run(reports, scenario.warned.summary["run_id"]) == scenario.warned.folder
    with pytest.raises(UsageError, match="no report for run"):
        report.find_run(reports, "nope")


# Checks run directly on a corrupted copy of the real warehouse.


@pytest.fixture
def warehouse(scenario: Scenario, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(scenario.inst.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        yield con


SCOPE = Scope(arrival_days=(date(2026, 11, 2), date(2026, 11, 3)), event_days=(date(2026, 11, 2), date(2026, 11, 3)))


def test_the_checks_pass_on_the_published_warehouse(warehouse: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert rules.request_id_unique(warehouse, SCOPE).passed
    assert rules.no_negative_cost(warehouse, SCOPE).passed
    assert rules.conservation(warehouse, SCOPE).passed
    assert suites.validate(warehouse, suites.FCT_COST, SCOPE, tmp_path).passed
    marts = [f"{family}_{grain}" for family in MART_GRAINS for grain in ("hourly", "daily", "monthly")
             if family != "provider_alternatives" or grain != "hourly"]  # fmt: skip
    assert all(rules.one_row_per_group(warehouse, SCOPE, mart).passed for mart in marts)


def test_a_second_row_for_a_group_or_a_row_without_account_in_a_mart_fails(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    # The same day, account and model twice (each half of the cost: the sums still reconcile).
    warehouse.execute("""
        insert into marts.cost_by_model_daily
        select * from marts.cost_by_model_daily where period_start = timestamp '2026-11-02' limit 1""")
    result = rules.one_row_per_group(warehouse, SCOPE, "cost_by_model_daily")
    assert (result.passed, result.severity, result.observed) == (False, BLOCKING, 2)
    [row] = result.offending_rows
    assert row["period_start"].startswith("2026-11-02") and row["rows_found"] == 2
    assert row["problem"] == "more than one row for (period_start, account_id, model)"
    assert "2 rows of cost_by_model_daily break its grain" in result.summary
    # A row without an account, in a month no run republishes: found all the same.
    warehouse.execute("""
        insert into marts.cost_overview_monthly
        select * replace (null as account_id, timestamp '2020-01-01' as period_start)
        from marts.cost_overview_monthly limit 1""")
    result = rules.one_row_per_group(warehouse, SCOPE, "cost_overview_monthly")
    assert (result.passed, result.observed) == (False, 1)
    assert result.offending_rows[0]["problem"] == "a NULL in period_start or account_id"


def test_a_duplicate_request_id_in_fct_cost_fails(warehouse: duckdb.DuckDBPyConnection) -> None:
    warehouse.execute("""
        insert into marts.fct_cost
        select * replace (timestamp '2026-10-01 00:00:00' as created_at) from marts.fct_cost where request_id = 'd2-7'""")
    result = rules.request_id_unique(warehouse, SCOPE)
    assert (result.passed, result.severity, result.observed) == (False, BLOCKING, 1)
    assert result.offending_rows == [
        {
            "request_id": "d2-7",
            "copies": 2,
            "event_days": [date(2026, 10, 1), date(2026, 11, 3)],
            "arrival_days": [date(2026, 11, 3)],
        }
    ]


def test_a_negative_cost_fails(warehouse: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    warehouse.execute(
        "update marts.fct_cost set other_cost = -0.01, total_cost = total_cost - 0.01 where request_id = 'd1-3'"
    )
    result = rules.no_negative_cost(warehouse, SCOPE)
    assert (result.passed, result.severity, result.observed) == (False, BLOCKING, 1)
    assert [(r["request_id"], str(r["other_cost"])) for r in result.offending_rows] == [
        ("d1-3", "-0.010000000000000000")
    ]
    # Checked once (docs/data-quality.md): the GX suite on fct_cost leaves a cost's sign to this rule.
    assert suites.validate(warehouse, suites.FCT_COST, SCOPE, tmp_path).passed


def test_the_fct_cost_suite_fails_on_broken_rows_in_any_chunk(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    warehouse.execute(
        "update marts.fct_cost set total_cost = total_cost + 0.000000000000000001 where request_id = 'd2-1'"
    )
    warehouse.execute("update marts.fct_cost set purpose = 'gaming' where request_id = 'd2-2'")
    result = suites.validate(warehouse, suites.FCT_COST, SCOPE, tmp_path, chunk_rows=10)
    assert not result.passed and result.details["chunks"] == 6
    failed = {e["expectation"]: e["unexpected_count"] for e in result.details["failed_expectations"]}
    # request_id's uniqueness is the SQL check request_id_unique's alone (docs/data-quality.md).
    assert failed == {
        "expect_column_values_to_be_in_set(purpose)": 1,
        "expect_column_values_to_be_in_set(total_is_sum_of_parts)": 1,
    }
    assert {r["request_id"] for r in result.offending_rows} == {"d2-1", "d2-2"}
    assert (tmp_path / "data_docs" / "index.html").is_file()
    # The chunks held every row once between them.
    counted = {e["expectation"]: e["element_count"] for e in result.details["failed_expectations"]}
    assert set(counted.values()) == {result.details["rows"]} and result.details["rows"] > 50
    # One stored result per chunk: a failing chunk's detailed result replaced its pass/fail one.
    stored = [json.loads(p.read_text()) for p in (tmp_path / "gx").rglob("validations/fct_cost_suite/**/*.json")]
    assert len(stored) == 6
    counts = sorted(r["result"]["unexpected_count"] for v in stored for r in v["results"] if not r["success"])
    assert counts == [1, 1]


def test_the_fct_cost_suite_beside_other_queries_finds_what_it_finds_alone(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """The checks after dbt validate fct_cost's suite in a thread beside their SQL rules when its rows
    fit in one chunk (suites.validate_beside), one after the other otherwise; the results are the same."""
    warehouse.execute("update marts.fct_cost set purpose = 'gaming' where request_id = 'd2-2'")
    for name in ("alone", str(suites.CHUNK_ROWS), "10", "failed"):  # a run's report folders
        (tmp_path / name).mkdir()
    alone = suites.validate(warehouse, suites.FCT_COST, SCOPE, tmp_path / "alone")
    assert not alone.passed and [r["request_id"] for r in alone.offending_rows] == ["d2-2"]
    for chunk_rows in (suites.CHUNK_ROWS, 10):  # beside, then one after the other
        unique, suite = suites.validate_beside(
            warehouse, suites.FCT_COST, SCOPE, tmp_path / str(chunk_rows),
            lambda: rules.request_id_unique(warehouse, SCOPE), chunk_rows=chunk_rows,
        )  # fmt: skip
        assert unique.passed and unique.name == "request_id_unique"
        assert (suite.passed, suite.observed, suite.offending_rows) == (False, 1, alone.offending_rows)
        assert suite.details["failed_expectations"] == alone.details["failed_expectations"]
    # A query of the other side that fails fails the whole, once the suite has ended.
    with pytest.raises(duckdb.CatalogException, match="no_such_table"):
        suites.validate_beside(
            warehouse,
            suites.FCT_COST,
            SCOPE,
            tmp_path / "failed",
            lambda: warehouse.execute("select * from no_such_table"),
        )
    assert (tmp_path / "failed" / "data_docs" / "index.html").is_file()


def test_the_raw_records_rules_fail_on_broken_records(warehouse: duckdb.DuckDBPyConnection) -> None:
    # The raw records as the check reads them (a view over the raw layer, shared with other tests: a copy).
    warehouse.execute("create table main.records as select * from raw.usage_records")
    warehouse.execute("create or replace view raw.usage_records as select * from main.records")
    clean = rules.usage_records_rules(warehouse, SCOPE)
    assert clean.passed and clean.details["records"] > 50 and not clean.details["failed_rules"]
    assert [r["rule"] for r in clean.details["rules"]] == list(rules.RECORD_RULES)
    warehouse.execute("update main.records set reasoning_tokens = output_tokens + 1 where request_id = 'd1-0'")
    warehouse.execute("update main.records set billing_mode = 'free' where request_id = 'd2-0'")
    warehouse.execute("update main.records set api_key_id = '' where request_id = 'd2-1'")
    warehouse.execute("update main.records set images = null where request_id = 'd2-2'")
    warehouse.execute("update main.records set cached_input_tokens = input_tokens + 1 where request_id = 'd2-3'")
    result = rules.usage_records_rules(warehouse, SCOPE)
    assert (result.passed, result.severity, result.observed) == (False, BLOCKING, 5)
    assert {e["rule"]: e["unexpected_count"] for e in result.details["failed_rules"]} == {
        "required fields present": 1,
        "billing_mode payg or subscription": 1,
        "counters present and >= 0": 1,
        "input_tokens >= cached_input_tokens + cache_write_tokens": 1,
        "output_tokens >= reasoning_tokens": 1,
    }
    assert {(r["request_id"], r["problem"]) for r in result.offending_rows} == {
        ("d1-0", "output_tokens >= reasoning_tokens"),
        ("d2-0", "billing_mode payg or subscription"),
        ("d2-1", "required fields present"),
        ("d2-2", "counters present and >= 0"),
        ("d2-3", "input_tokens >= cached_input_tokens + cache_write_tokens"),
    }
    assert all(r["source_file"] and r["line_number"] for r in result.offending_rows)
    assert result.summary.startswith("5 of ") and "raw records break raw_usage.md" in result.summary
    # A field of another type than the raw layer writes: the check fails before reading a record.
    warehouse.execute(
        "create or replace view raw.usage_records as select * replace (images::varchar as images) from main.records"
    )
    typed = rules.usage_records_rules(warehouse, SCOPE)
    assert (typed.passed, typed.observed) == (False, 1)
    assert typed.details["failed_rules"] == [
        {"rule": "fields typed", "unexpected_count": 1, "types": ["images is VARCHAR, not BIGINT"]}
    ]
    assert "images is VARCHAR, not BIGINT" in typed.summary


def test_thresholds_come_from_the_environment(
    warehouse: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not rules.quarantine_share(warehouse, SCOPE, 0.05).passed
    assert rules.quarantine_share(warehouse, SCOPE, 0.2).passed
    assert rules.spend_jump(warehouse, SCOPE, 11.0, "account").passed
    monkeypatch.setenv("METERLINE_QUARANTINE_SHARE_MAX", "0.2")
    monkeypatch.setenv("METERLINE_SPEND_JUMP_FACTOR", "11")
    assert (Settings.from_env().quarantine_share_max, Settings.from_env().spend_jump_factor) == (0.2, 11.0)
    monkeypatch.setenv("METERLINE_QUARANTINE_SHARE_MAX", "5%")
    with pytest.raises(UsageError, match="METERLINE_QUARANTINE_SHARE_MAX"):
        Settings.from_env()


def test_an_empty_arrival_day_passes_the_record_checks_without_starting_great_expectations(
    warehouse: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """A day without records leaves fct_cost's suite and the raw records' rules nothing to hold or break;
    GX's import alone is ~3.5 s of such a run (issue 18's empty day), so no GX project and no Data Docs
    are made for it."""
    empty = Scope(arrival_days=(date(2026, 10, 1),), event_days=())
    result = suites.validate(warehouse, suites.FCT_COST, empty, tmp_path)
    assert result.passed and result.observed == 0 and result.details["rows"] == 0
    records = rules.usage_records_rules(warehouse, empty)
    assert records.passed and records.observed == 0 and records.details["records"] == 0
    assert not (tmp_path / "gx").exists() and not (tmp_path / "data_docs").exists()


@pytest.mark.parametrize(
    ("grain", "key", "periods"),
    [
        ("hourly", "days", [date(2026, 10, 31), date(2026, 11, 2)]),
        ("daily", "months", [date(2026, 10, 1), date(2026, 12, 1)]),
        ("hourly", "days", []),
    ],
)
def test_a_period_filter_selects_exactly_the_rows_of_its_days_or_months(
    grain: str, key: str, periods: list[date]
) -> None:
    """The range that lets DuckDB skip other days' row groups is only ever wider than the exact
    filter: instants at each edge of a day and a month, inside and outside, as the exact rule says."""
    edges = [
        "2026-09-30 23:59:59.999999", "2026-10-01 00:00:00", "2026-10-30 23:59:59.999999",
        "2026-10-31 00:00:00", "2026-10-31 23:59:59.999999", "2026-11-01 00:00:00",
        "2026-11-02 00:00:00", "2026-11-02 23:59:59.999999", "2026-11-03 00:00:00",
        "2026-11-30 23:59:59.999999", "2026-12-01 00:00:00", "2026-12-31 23:59:59.999999",
        "2027-01-01 00:00:00",
    ]  # fmt: skip
    with duckdb.connect() as con:
        con.execute("create table t as select unnest($edges)::timestamp as moment", {"edges": edges})
        found = con.execute(
            f"select strftime(moment, '%Y-%m-%d %H:%M:%S.%f') from t where {rules.period_filter('moment', grain)} order by moment",
            {key: periods},
        ).fetchall()
    unit = 10 if grain == "hourly" else 7  # a day (YYYY-MM-DD) or a month (YYYY-MM)
    wanted = {str(period)[:unit] for period in periods}
    assert [row[0] for row in found] == [
        f"{edge}.000000" if "." not in edge else edge for edge in edges if edge[:unit] in wanted
    ]


def test_conservation_counts_a_request_delivered_again_on_a_later_day_as_superseded_there() -> None:
    """Rerunning an earlier arrival day after a later one corrected some of its requests: each such
    request counts on its last arrival day, and its earlier deliveries are superseded."""
    day1, day2 = date(2026, 11, 2), date(2026, 11, 3)
    with duckdb.connect() as con:
        con.execute("""
            create schema raw; create schema marts; create schema quarantine;
            create table raw.usage_records as
                select * from (values (date '2026-11-02', 'a'), (date '2026-11-02', 'b'), (date '2026-11-02', 'b'),
                                      (date '2026-11-03', 'a'), (date '2026-11-03', 'c')) t(arrival_date, request_id);
            create table raw.arrival_manifest as
                select * from (values (date '2026-11-02', 3), (date '2026-11-03', 3)) t(arrival_date, records_read);
            create table marts.fct_cost as
                select * from (values (date '2026-11-02', 'b'), (date '2026-11-03', 'a'), (date '2026-11-03', 'c'))
                    t(arrival_date, request_id);
            create table quarantine.rejected_usage as select date '2026-11-03' as arrival_date;
        """)  # fmt: skip
        for days in ((day1,), (day2,), (day1, day2)):
            result = rules.conservation(con, Scope(arrival_days=days, event_days=days))
            assert result.passed, (days, result.details)
        [first, second] = result.details["days"]
        assert (first["costed"], first["superseded"], second["costed"], second["quarantined"]) == (1, 2, 2, 1)
        con.execute("delete from raw.usage_records where arrival_date = date '2026-11-03' and request_id = 'a'")
        assert not rules.conservation(con, Scope(arrival_days=(day1,), event_days=(day1,))).passed
