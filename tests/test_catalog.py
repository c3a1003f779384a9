"""Loading a price catalog CSV into DuckDB and the rules of pricing.md that it must pass."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from meterline.catalog import CATALOG_COLUMNS, catalog_problems, read_catalog
from meterline.errors import UsageError
from meterline.settings import DEFAULT_PRICES

HEADER = ",".join(CATALOG_COLUMNS)
GPT_5 = "openai,openai/gpt-5,LLM,2026-11-03T12:00:00Z,1.25,0.125,,10,,,0.01"


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    # A session zone other than UTC: the catalog's instants must not depend on it.
    connection.execute("SET TimeZone = 'America/New_York'")
    yield connection
    connection.close()


def write_catalog(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def load(con: duckdb.DuckDBPyConnection, tmp_path: Path, *lines: str) -> list[dict[str, object]]:
    read_catalog(con, write_catalog(tmp_path, *lines))
    return catalog_problems(con)


def test_prices_load_as_exact_decimals_with_the_contract_defaults(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    assert load(con, tmp_path, GPT_5, "openai,openai/tiny,Embedding,2026-11-03,0.000000000001,,2,0,0.5,0.04,") == []

    rows = con.execute(
        """SELECT model, input_per_mtok, cached_input_per_mtok, cache_write_per_mtok, output_per_mtok,
                  per_request, per_image, per_web_search
           FROM raw.price_catalog ORDER BY model"""
    ).fetchall()
    assert rows == [
        (
            "openai/gpt-5",
            Decimal("1.25"),
            Decimal("0.125"),
            Decimal("1.25"),
            Decimal("10"),
            Decimal(0),
            Decimal(0),
            Decimal("0.01"),
        ),
        (
            "openai/tiny",
            Decimal("0.000000000001"),
            Decimal("0.000000000001"),
            Decimal(2),
            Decimal(0),
            Decimal("0.5"),
            Decimal("0.04"),
            Decimal(0),
        ),
    ]


def test_effective_from_is_utc_whatever_form_it_takes(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    lines = [
        "openai,openai/a,LLM,2026-11-03T12:00:00Z,1,,,1,,,",
        "openai,openai/b,LLM,2026-11-03T12:00:00+08:00,1,,,1,,,",
        "openai,openai/c,LLM,2026-11-03,1,,,1,,,",
        "openai,openai/d,LLM,2026-11-03T23:30:00.250-05:00,1,,,1,,,",
    ]
    assert load(con, tmp_path, *lines) == []
    assert con.execute("SELECT model, effective_from FROM raw.price_catalog ORDER BY model").fetchall() == [
        ("openai/a", datetime(2026, 11, 3, 12)),
        ("openai/b", datetime(2026, 11, 3, 4)),
        ("openai/c", datetime(2026, 11, 3)),
        ("openai/d", datetime(2026, 11, 4, 4, 30, 0, 250000)),
    ]


def test_text_table_keeps_the_file_as_written_with_its_line_numbers(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    assert load(con, tmp_path, GPT_5, '"openai","openai/gpt-5, quoted",LLM,2026-11-03,1.50,,,2,,,') == []
    assert con.execute(
        "SELECT line_number, model, effective_from, input_per_mtok, cache_write_per_mtok "
        "FROM raw.price_catalog_text ORDER BY line_number"
    ).fetchall() == [
        (2, "openai/gpt-5", "2026-11-03T12:00:00Z", "1.25", None),
        (3, "openai/gpt-5, quoted", "2026-11-03", "1.50", None),
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("openai,openai/gpt-5,LLM,2026-11-03,-1.25,,,10,,,", "input_per_mtok is negative: -1.25"),
        ("openai,openai/gpt-5,LLM,2026-11-03,1.25,-0.1,,10,,,", "cached_input_per_mtok is negative: -0.1"),
        ("openai,openai/gpt-5,LLM,2026-11-03,1.25,,,10,,,-0.01", "per_web_search is negative: -0.01"),
        ("openai,openai/gpt-5,LLM,2026-11-03,1.25,,,ten,,,", "output_per_mtok is not a number: 'ten'"),
        ("openai,openai/gpt-5,LLM,2026-11-03,1.25,,$3,10,,,", "cache_write_per_mtok is not a number: '$3'"),
        ("openai,openai/gpt-5,LLM,2026-11-03,1.25,,,10,,1e999,", "per_image is not a number: '1e999'"),
        (
            "openai,openai/gpt-5,LLM,2026-11-03,1.25,,,10,0.0000000000001,,",
            "per_request has more than 12 decimal places: 0.0000000000001",
        ),
        ("openai,openai/gpt-5,LLM,2026-11-03,1.25,,,3e-13,,,", "output_per_mtok has more than 12 decimal places"),
        ("openai,openai/gpt-5,LLM,2026-11-03,,,,10,,,", "input_per_mtok is empty"),
        ("openai,openai/gpt-5,LLM,2026-11-03,1.25,,,,,,", "output_per_mtok is empty"),
        ("openai,openai/gpt-5,llm,2026-11-03,1.25,,,10,,,", "unknown model_type 'llm'"),
        ("openai,openai/gpt-5,,2026-11-03,1.25,,,10,,,", "unknown model_type ''"),
        ("openai,openai/gpt-5,LLM,03/11/2026,1.25,,,10,,,", "effective_from '03/11/2026' is neither"),
        ("openai,openai/gpt-5,LLM,2026-11-03 12:00:00,1.25,,,10,,,", "effective_from '2026-11-03 12:00:00'"),
        ("openai,openai/gpt-5,LLM,2026-02-30,1.25,,,10,,,", "effective_from '2026-02-30' is neither"),
        ("openai,openai/gpt-5,LLM,,1.25,,,10,,,", "effective_from is empty"),
        (",openai/gpt-5,LLM,2026-11-03,1.25,,,10,,,", "provider is empty"),
        ("openai, ,LLM,2026-11-03,1.25,,,10,,,", "model is empty"),
    ],
)
def test_each_broken_rule_is_reported_on_its_line(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, line: str, problem: str
) -> None:
    problems = load(con, tmp_path, GPT_5, line)
    assert len(problems) == 1
    assert problems[0]["line_number"] == 3
    assert problem in str(problems[0]["problem"])


def test_several_problems_of_one_row_are_reported_together(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    [problem] = load(con, tmp_path, ",openai/x,Chat,2026-11-03,-1,,,x,,,")
    assert problem == {
        "line_number": 2,
        "provider": None,
        "model": "openai/x",
        "region": None,
        "effective_from": "2026-11-03",
        "problem": "provider is empty; unknown model_type 'Chat' (expected one of LLM, Embedding, Vision, Audio, "
        "Rerank, Other); input_per_mtok is negative: -1; output_per_mtok is not a number: 'x'",
    }


def test_rows_for_the_same_instant_are_duplicates_whatever_their_spelling(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    problems = load(
        con,
        tmp_path,
        "openai,openai/gpt-5,LLM,2026-11-03,1.25,,,10,,,",
        "openai,openai/gpt-5,LLM,2026-11-04,1.25,,,10,,,",
        "openai,openai/gpt-5,LLM,2026-11-03T00:00:00Z,1.5,,,12,,,",
        "azure,openai/gpt-5,LLM,2026-11-03,1.25,,,10,,,",
        "openai,openai/gpt-5,LLM,2026-11-03T08:00:00+08:00,1.5,,,12,,,",
    )
    assert [(problem["line_number"], problem["problem"]) for problem in problems] == [
        (line, "duplicate (provider, model, region, effective_from) on lines 2, 4, 6") for line in (2, 4, 6)
    ]


REGION_HEADER = f"{HEADER},region"


def test_a_catalog_without_the_region_column_prices_every_region(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    assert load(con, tmp_path, GPT_5) == []
    assert con.execute("SELECT model, region FROM raw.price_catalog").fetchall() == [("openai/gpt-5", None)]


def test_region_rows_load_and_an_empty_or_blank_region_means_every_region(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    lines = [
        f"{GPT_5},",
        f"{GPT_5}, ",
        f"{GPT_5},us",
        f"{GPT_5},us-gov-east-1",
        "openai,openai/o3,LLM,2026-11-03,2,,,8,,,,",
    ]
    read_catalog(con, write_catalog(tmp_path, *lines[2:], header=REGION_HEADER))
    assert catalog_problems(con) == []
    assert con.execute("SELECT model, region FROM raw.price_catalog ORDER BY line_number").fetchall() == [
        ("openai/gpt-5", "us"),
        ("openai/gpt-5", "us-gov-east-1"),
        ("openai/o3", None),
    ]
    for empty in lines[:2]:
        read_catalog(con, write_catalog(tmp_path, empty, header=REGION_HEADER))
        assert con.execute("SELECT region FROM raw.price_catalog").fetchall() == [(None,)]


def test_the_duplicate_rule_includes_the_region(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    read_catalog(con, write_catalog(
        tmp_path,
        f"{GPT_5},",  # every region
        f"{GPT_5},us",
        f"{GPT_5},eu",  # the same instant in three regions: not duplicates
        "openai,openai/gpt-5,LLM,2026-11-03T20:00:00+08:00,1.5,,,12,,,,us",  # the same instant as line 3, us again
        f"{GPT_5}, ",  # blank: every region again, a duplicate of line 2
        header=REGION_HEADER,
    ))  # fmt: skip
    problems = [(problem["line_number"], problem["region"], problem["problem"]) for problem in catalog_problems(con)]
    assert problems == [
        (2, None, "duplicate (provider, model, region, effective_from) on lines 2, 6"),
        (3, "us", "duplicate (provider, model, region, effective_from) on lines 3, 5"),
        (5, "us", "duplicate (provider, model, region, effective_from) on lines 3, 5"),
        (6, " ", "duplicate (provider, model, region, effective_from) on lines 2, 6"),
    ]


def test_a_price_change_in_the_middle_of_a_day_is_not_a_duplicate(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    lines = ["openai,openai/gpt-5,LLM,2026-11-03,1.25,,,10,,,", "openai,openai/gpt-5,LLM,2026-11-03T12:00:00Z,1,,,8,,,"]
    assert load(con, tmp_path, *lines) == []


def test_shipped_catalog_passes_every_rule(con: duckdb.DuckDBPyConnection) -> None:
    read_catalog(con, DEFAULT_PRICES)
    assert catalog_problems(con) == []
    [(rows,)] = con.execute("SELECT count(*) FROM raw.price_catalog").fetchall()
    assert rows > 500


def test_reading_again_replaces_the_previous_catalog(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    load(con, tmp_path, GPT_5, "openai,openai/o3,LLM,2026-11-03,2,,,8,,,")
    assert load(con, tmp_path, GPT_5) == []
    assert con.execute("SELECT model FROM raw.price_catalog").fetchall() == [("openai/gpt-5",)]


def test_missing_catalog_raises_usage_error_naming_it(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    with pytest.raises(UsageError, match="not found") as error:
        read_catalog(con, path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not a readable CSV"),
        (f"{HEADER}\n{GPT_5},extra\n".encode(), "is not a readable CSV"),
        (f'{HEADER}\n{GPT_5}\n"openai,unterminated\n'.encode(), "is not a readable CSV"),
        (b"", "lacks required columns: provider, model, model_type"),
        (b'{"gpt-5": {"input_cost_per_token": 1e-06}}\n', "lacks required columns: provider, model"),
        (
            b"provider,model,model_type,effective_from,input_per_mtok,output_per_mtok\n",
            "lacks required columns: cached_input_per_mtok, cache_write_per_mtok, per_request, per_image, "
            "per_web_search",
        ),
        (f"{HEADER},model\n".encode(), "repeats columns: model"),
    ],
)
def test_unreadable_catalog_raises_usage_error_naming_it(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as error:
        read_catalog(con, path)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)
