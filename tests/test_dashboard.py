"""The cost analysis page (issue 6) on a serving file built by the real pipeline.

Streamlit's AppTest drives the filters and reads every widget; each figure is checked against the
marts, queried here independently (marts.fct_cost, pay-as-you-go rows). The CSV export round-trips;
a real headless Chromium opens the running ``meterline dashboard`` page.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

import dashboard
from dashboard.csv_export import COLUMNS, api_key_csv
from dashboard.formatting import change, literal, money, rounded
from dashboard.periods import Window
from dashboard.queries import Filters, ServingReader, choose_mart, table_name
from dashboard.tables import html_table
from meterline.sample import (  # RENAMED_TO: a comma, quotes, non-ASCII
    RENAMED_TO,
    generate_landing,
)
from orchestration.cli import main
from tests.helpers import Installation, shown_value

APP = str(Path(dashboard.__file__).resolve().parent / "app.py")
START = date(2025, 12, 30)  # arrival days 2025-12-30 .. 2026-01-01: events span a month (and year) boundary
DAYS = 3
CATALOG = (
    "openai,openai/gpt-5,LLM,2020-01-01,1.25,0.125,,10,,,0.01",
    "azure,openai/gpt-5,LLM,2020-01-01,1.375,0.1375,,11,,,0.01",
    "anthropic,anthropic/claude-sonnet-4-5,LLM,2020-01-01,3,0.3,3.75,15,,,0.01",
    "amazon-bedrock,anthropic/claude-sonnet-4-5,LLM,2020-01-01,3.3,0.33,4.125,16.5,,,",
    "google-vertex,google/gemini-3-pro-preview,LLM,2020-01-01,2,0.2,,12,,,0.035",
    "openai,openai/gpt-5-mini,LLM,2020-01-01,0.25,0.025,,2,,,0.01",
    "openai,openai/text-embedding-3-small,Embedding,2020-01-01,0.02,,,0,,,",
    "google-vertex,google/text-embedding-005,Embedding,2020-01-01,0.025,,,0,,,",
    "openai,openai/gpt-image-1,Vision,2020-01-01,5,,,40,,0.04,",
    "google-vertex,google/imagen-4,Vision,2020-01-01,0,,,0,,0.04,",
)
CARDS = (
    ("Total cost", "total_cost", 2),
    ("Input cost", "input_cost", 2),
    ("Output cost", "output_cost", 2),
    ("Other cost", "other_cost", 2),
    ("Avg cost per request", "avg_per_request", 6),
    ("Avg cost per 1K tokens", "avg_per_1k_tokens", 6),
)
PAYG_NOTE = "Only pay-as-you-go usage is shown"


# --- the serving file and the expected figures, straight from marts.fct_cost ----------------------------------


@pytest.fixture(scope="module")
def served(module_installation: Installation) -> Installation:
    """A serving file published by the real pipeline from three generated arrival days (~20 s)."""
    inst = module_installation
    inst.write_catalog(*CATALOG)
    generate_landing(inst.landing, DAYS, 300, seed=11, start=START, catalog=inst.prices)
    assert inst.run(START.isoformat(), (START + timedelta(days=DAYS - 1)).isoformat()) == 0
    return inst


def exact_average(numerator: Decimal, denominator: int) -> Decimal | None:
    """As the marts define their averages: rounded half up to 18 decimal places; None over zero."""
    if denominator == 0:
        return None
    with localcontext() as context:
        context.prec = 80
        return (numerator / denominator).quantize(Decimal("1e-18"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Sums:
    requests: int
    input_tokens: int
    output_tokens: int
    input_cost: Decimal
    output_cost: Decimal
    other_cost: Decimal
    total_cost: Decimal

    @property
    def avg_per_request(self) -> Decimal | None:
        return exact_average(self.total_cost, self.requests)

    @property
    def avg_per_1k_tokens(self) -> Decimal | None:
        return exact_average(self.total_cost * 1000, self.input_tokens + self.output_tokens)


def payg(
    inst: Installation,
    first: datetime,
    end: datetime,
    by: tuple[str, ...] = (),
    account: str | None = None,
    keys: tuple[str, ...] = (),
    models: tuple[str, ...] = (),
) -> dict[tuple, Sums]:
    """The pay-as-you-go requests made in [first, end) matching the filters, summed per group of `by`."""
    conditions, params = ["billing_mode = 'payg'", "created_at >= ?", "created_at < ?"], [first, end]
    for column, values in (("account_id", (account,) if account else ()), ("api_key_id", keys), ("model", models)):
        if values:
            conditions.append(f"{column} IN ({', '.join('?' * len(values))})")
            params += values
    columns = [
        *by,
        "count(*)",
        "sum(input_tokens)",
        "sum(output_tokens)",
        "sum(input_cost)",
        "sum(output_cost)",
        "sum(other_cost)",
        "sum(total_cost)",
    ]
    sql = f"SELECT {', '.join(columns)} FROM marts.fct_cost WHERE {' AND '.join(conditions)} GROUP BY ALL"
    with duckdb.connect(str(inst.serving), read_only=True) as con:
        rows = con.execute(sql, params).fetchall()
    return {tuple(row[: len(by)]): Sums(*row[len(by) :]) for row in rows if row[len(by)]}


def serving_rows(inst: Installation, sql: str, params: list[object] | None = None) -> list[tuple]:
    with duckdb.connect(str(inst.serving), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def last_usage(inst: Installation) -> datetime:
    return serving_rows(inst, "SELECT max(created_at) FROM marts.fct_cost WHERE billing_mode = 'payg'")[0][0]


def day(moment: datetime | date, days: int = 0) -> datetime:
    return datetime(moment.year, moment.month, moment.day) + timedelta(days=days)


def month(moment: datetime, months: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1)


# --- driving the page ----------------------------------------------------------------------------------------


def run(node: AppTest | Any) -> AppTest:
    """Run the page again (after a widget change): `node` is the page or a widget just set."""
    at = node.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def open_page() -> AppTest:
    return run(AppTest.from_file(APP, default_timeout=120))


class _Cells(HTMLParser):
    """The headers and the cells' texts of an HTML table, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("th", "td"):
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._text is not None:
            (self.headers if tag == "th" else self.rows[-1]).append("".join(self._text))
            self._text = None


def table(at: AppTest, key: str) -> pd.DataFrame:
    """The table `key` as the page shows it: a data grid's frame, or an HTML table's cells read back."""
    box = at.get_by_key(key)
    if box.dataframe:
        return box.dataframe[0].value
    cells = _Cells()
    cells.feed(box.get("html")[0].proto.body)
    return pd.DataFrame([[shown_value(text) for text in row] for row in cells.rows[1:]], columns=cells.headers)


def by_first_columns(frame: pd.DataFrame, dims: int) -> dict[tuple, tuple]:
    """{(first `dims` cells): (requests, cost)} of a table whose next columns are requests and cost."""
    return {tuple(row[:dims]): (row[dims], row[dims + 1]) for row in frame.itertuples(index=False)}


def cents(value: Decimal | None, places: int = 2) -> Decimal | None:
    """What a table cell shows: rounded half up, as the cards."""
    return rounded(value, places)


def expected_pairs(sums: dict[tuple, Sums], none_name: str | None = None) -> dict[tuple, tuple]:
    fixed = {tuple(none_name if v is None else v for v in k): s for k, s in sums.items()}
    return {key: (s.requests, cents(s.total_cost)) for key, s in fixed.items()}


def assert_cards(at: AppTest, now: Sums, before: Sums | None) -> None:
    metrics = {metric.label: metric for metric in at.metric}
    assert list(metrics) == [label for label, _, _ in CARDS]
    for label, attribute, places in CARDS:
        assert metrics[label].value == money(getattr(now, attribute), places), label
        expected = None if before is None else change(getattr(now, attribute), getattr(before, attribute), places)
        assert (metrics[label].delta or None) == expected, label


# --- the page ------------------------------------------------------------------------------------------------


@pytest.mark.pipeline
def test_the_default_view_is_the_latest_month_and_its_cards_match_the_marts(served: Installation) -> None:
    at = open_page()
    latest = month(last_usage(served))
    start, end = at.selectbox(key="range:monthly:from"), at.selectbox(key="range:monthly:to")
    assert (start.label, end.label) == ("From month (UTC)", "To month (UTC)")
    assert (start.value, end.value) == (latest, latest)
    now = payg(served, latest, month(latest, 1))[()]
    before = payg(served, month(latest, -1), latest)[()]
    assert_cards(at, now, before)
    # The mart built for the cards agrees (summed over the accounts).
    assert serving_rows(
        served,
        "SELECT sum(total_cost), sum(request_count) FROM marts.cost_overview_monthly WHERE period_start = ?",
        [latest],
    ) == [(now.total_cost, now.requests)]
    captions = " ".join(caption.value for caption in at.caption)
    assert PAYG_NOTE in captions and "All times are UTC" in captions
    assert f"previous 1 month: {month(latest, -1):%Y-%m} UTC" in captions
    assert [tab.label for tab in at.tabs] == ["Cost analysis", "Provider Cost"]


@pytest.mark.pipeline
def test_a_day_range_and_an_account_set_the_cards_and_the_comparison_window(served: Installation) -> None:
    at = open_page()
    run(at.radio(key="granularity").set_value("Day"))
    last = day(last_usage(served))
    days = at.selectbox(key="range:daily:from"), at.selectbox(key="range:daily:to")
    assert [box.label for box in days] == ["From day (UTC)", "To day (UTC)"]
    assert [box.value for box in days] == [last, last]
    assert_cards(at, payg(served, last, day(last, 1))[()], payg(served, day(last, -1), last).get(()))

    account = max(payg(served, day(last, -1), day(last, 1), ("account_id",)).items(), key=lambda i: i[1].total_cost)
    days[0].set_value(day(last, -1))
    run(at.selectbox(key="account").set_value(account[0][0]))
    now = payg(served, day(last, -1), day(last, 1), account=account[0][0])[()]
    before = payg(served, day(last, -3), day(last, -1), account=account[0][0]).get(())
    assert now == account[1]
    assert_cards(at, now, before)
    assert "previous 2 days" in " ".join(caption.value for caption in at.caption)
    assert set(table(at, "table:api_keys")["Account"]) == {account[0][0]}


@pytest.mark.pipeline
def test_the_hour_grain_reads_hours(served: Installation) -> None:
    at = open_page()
    run(at.radio(key="granularity").set_value("Hour"))
    last = last_usage(served).replace(minute=0, second=0, microsecond=0)
    start, end = at.datetime_input(key="range:hourly:from"), at.datetime_input(key="range:hourly:to")
    assert (start.label, end.label) == ("From hour (UTC)", "To hour (UTC, included)")
    # The month shown before, as hours (switching granularity keeps the time range), cut to the data.
    first_hour = serving_first_period(served).replace(minute=0, second=0, microsecond=0)
    assert (start.value, end.value) == (max(month(last), first_hour), last)
    start.set_value(last - timedelta(hours=5))
    run(at)
    hour = timedelta(hours=1)
    now = payg(served, last - 5 * hour, last + hour)[()]
    assert_cards(at, now, payg(served, last - 11 * hour, last - 5 * hour).get(()))
    chart = at.get("vega_lite_chart")[0].proto
    assert '"title": "Hour (UTC)"' in chart.spec


@pytest.mark.pipeline
def test_api_key_and_model_filters_reach_every_widget(served: Installation) -> None:
    first, last = day(START, -3), day(last_usage(served))
    everything = payg(served, first, day(last, 1), ("api_key_id",))
    keys = tuple(sorted(everything, key=lambda k: everything[k].total_cost, reverse=True)[i][0] for i in range(3))
    models_used = payg(served, first, day(last, 1), ("model",), keys=keys)
    models = tuple(sorted(models_used, key=lambda m: models_used[m].total_cost, reverse=True)[i][0] for i in range(3))
    at = open_page()
    run(at.radio(key="granularity").set_value("Day"))
    at.selectbox(key="range:daily:from").set_value(day(serving_first_period(served)))
    at.selectbox(key="range:daily:to").set_value(last)
    run(at.multiselect(key="api_keys").set_value(list(keys)))
    run(at.multiselect(key="models").set_value(list(models)))
    window = (day(serving_first_period(served)), day(last, 1))

    def expect(*by: str, only: tuple[str, ...] = models) -> dict[tuple, Sums]:
        return payg(served, *window, by, keys=keys, models=only)

    # Cards, against the same number of days before.
    length = window[1] - window[0]
    assert_cards(at, expect()[()], payg(served, window[0] - length, window[0], keys=keys, models=models).get(()))
    # Cost by model: table (largest first), shares, and the chart's per-day costs (tooltips in cents).
    by_model = table(at, "table:models")
    assert by_first_columns(by_model, 1) == expected_pairs(expect("model"))
    assert list(by_model["Cost"]) == sorted(by_model["Cost"], reverse=True)
    # The grid's share in percent, drawn to one place ("41.6%") as the HTML tables show it.
    assert by_model["Share"].sum() == pytest.approx(100.0)
    share = json.loads(at.get_by_key("table:models").dataframe[0].proto.columns)["Share"]
    assert share["type_config"] == {"type": "progress", "format": "%.1f%%", "min_value": 0, "max_value": 100}
    charts = at.get("vega_lite_chart")
    over_time, shares = (pa.ipc.open_stream(c.proto.datasets[0].data.data).read_all().to_pandas() for c in charts[:2])
    per_day = expect("cast(created_at AS DATE)", "model")
    assert {(p, m): c for p, m, c in shares[["period", "series", "cost_label"]].itertuples(index=False)} == {
        (f"{d:%Y-%m-%d}", m): money(s.total_cost) for (d, m), s in per_day.items()
    }
    assert shares.groupby("period")["high"].max().tolist() == pytest.approx([1.0] * shares["period"].nunique())
    assert set(over_time["cost_label"]) == {money(s.total_cost) for s in per_day.values()}
    # Model detail: the costliest model, then another one.
    detail = next(box for box in at.selectbox if box.label == "Model detail")
    assert detail.value == by_model["Model"][0]
    for model in (by_model["Model"][0], by_model["Model"][2]):
        run(next(box for box in at.selectbox if box.label == "Model detail").set_value(model))
        only = (model,)
        assert by_first_columns(table(at, "table:model_providers"), 1) == expected_pairs(expect("provider", only=only))
        assert by_first_columns(table(at, "table:model_api_keys").iloc[:, 1:], 1) == expected_pairs(
            expect("api_key_id", only=only)
        )
        assert by_first_columns(table(at, "table:model_purposes"), 1) == expected_pairs(expect("purpose", only=only))
    # Cost by type.
    for dimension in ("model_type", "provider", "purpose"):
        assert by_first_columns(table(at, f"table:type_{dimension}"), 1) == expected_pairs(expect(dimension))
    # Cost by API key.
    api_keys = table(at, "table:api_keys")
    assert {(r[1], r[0]): (r[3], r[7]) for r in api_keys.itertuples(index=False)} == expected_pairs(
        expect("api_key_id", "coalesce(api_key_name, '(no name)')")
    )
    # Provider Cost tab (tabs run lazily: only the open one): by provider, and per (provider, model).
    at.session_state["tab"] = "Provider Cost"
    run(at)
    providers = table(at, "table:providers")
    assert {r[0]: (r[1], r[2], r[3], r[4]) for r in providers.itertuples(index=False)} == {
        k[0]: (s.requests, s.input_tokens, s.output_tokens, cents(s.total_cost)) for k, s in expect("provider").items()
    }
    details = table(at, "table:provider_models")
    assert list(details.columns) == [
        "Provider",
        "Model",
        "Requests",
        "Input tokens",
        "Output tokens",
        "Cost per request",
        "Cost",
    ]
    assert {(r[0], r[1]): tuple(r[2:]) for r in details.itertuples(index=False)} == {
        k: (s.requests, s.input_tokens, s.output_tokens, cents(s.avg_per_request, 6), cents(s.total_cost))
        for k, s in expect("provider", "model").items()
    }


def serving_first_period(inst: Installation) -> datetime:
    return serving_rows(inst, "SELECT min(created_at) FROM marts.fct_cost WHERE billing_mode = 'payg'")[0][0]


@pytest.mark.pipeline
def test_the_api_key_and_provider_tables_sort(served: Installation) -> None:
    at = open_page()
    box = at.selectbox(key="sort:api_keys")
    assert box.options == [
        "Total cost, high to low",
        "Total cost, low to high",
        "Requests, high to low",
        "Requests, low to high",
        "Name, A to Z",
    ]
    for choice, column, descending in (
        ("Total cost, low to high", "Cost", False),
        ("Requests, high to low", "Requests", True),
        ("Name, A to Z", "API key", False),
    ):
        run(at.selectbox(key="sort:api_keys").set_value(choice))
        values = [v for v in table(at, "table:api_keys")[column] if v != "(no name)"]
        assert values == sorted(values, reverse=descending), choice
    assert at.download_button[0].label == "Download CSV"
    at.session_state["tab"] = "Provider Cost"
    run(at)
    run(at.selectbox(key="sort:providers").set_value("Name, A to Z"))
    providers = list(table(at, "table:providers")["Provider"])
    assert providers == sorted(providers)
    run(next(box for box in at.selectbox if box.label == "Provider").set_value(providers[0]))
    assert set(table(at, "table:provider_models")["Provider"]) == {providers[0]}


@pytest.mark.pipeline
def test_an_empty_state_when_the_filters_match_nothing(served: Installation) -> None:
    first, end = day(serving_first_period(served)), day(last_usage(served), 1)
    used = payg(served, first, end, ("account_id", "api_key_id", "model"))
    account = next(iter(used))[0]
    keys = {k for a, k, _ in used if a == account}
    models = {m for a, _, m in used if a == account}
    key, model = next((k, m) for k in sorted(keys) for m in sorted(models) if (account, k, m) not in used)
    at = AppTest.from_file(APP, default_timeout=120)  # a link can name a key and a model never used together
    last = end - timedelta(days=1)
    at.query_params.update({"grain": "day", "from": f"{first:%Y-%m-%d}", "to": f"{last:%Y-%m-%d}", "account": account,
                            "key": key, "model": model})  # fmt: skip
    run(at)
    assert [info.value for info in at.info] == [
        (
            f"No pay-as-you-go usage matches these filters in {first:%Y-%m-%d} \N{EN DASH} {last:%Y-%m-%d} UTC. "
            "Pick another time range, or fewer API keys or models."
        )
    ]
    assert not at.metric and not at.tabs and not at.dataframe and not at.warning
    assert not [html for html in at.get("html") if "<table" in html.proto.body]
    assert PAYG_NOTE in at.caption[0].value


@pytest.mark.pipeline
def test_an_empty_serving_file_shows_the_empty_state(installation: Installation) -> None:
    installation.write_catalog(*CATALOG)
    assert installation.run(START.isoformat()) == 0  # an arrival day with no files: nothing to cost
    at = open_page()
    assert [info.value for info in at.info] == [
        "No pay-as-you-go usage has been published yet. Run `meterline demo` or `meterline materialize`."
    ]
    assert not at.metric


def test_a_missing_serving_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "meterline.duckdb"
    monkeypatch.setenv("METERLINE_SERVING", str(missing))
    at = open_page()
    assert at.error[0].value.startswith(f"The serving file {literal(str(missing))} does not exist")
    assert main(["dashboard", "--port", "8599"]) == 2
    err = capsys.readouterr().err
    assert err == f"meterline: error: serving file {missing} does not exist; run meterline demo or materialize first\n"
    assert main(["dashboard", "--port", "0"]) == 2


# --- the data layer ------------------------------------------------------------------------------------------


@pytest.mark.pipeline
def test_queries_name_only_whitelisted_tables_and_bind_every_value(served: Installation) -> None:
    assert choose_mart(set()) == "cost_overview"
    assert choose_mart({"account_id", "provider", "model"}) == "provider_model_details"
    assert choose_mart({"api_key_id", "model"}) == "cost_cube"
    with pytest.raises(ValueError):
        table_name("fct_cost; DROP TABLE x", "daily")
    with pytest.raises(ValueError):
        table_name("cost_cube", "weekly")
    first = day(serving_first_period(served))
    window = Window("daily", first, day(last_usage(served)))
    with ServingReader(served.serving) as reader:
        with pytest.raises(ValueError):
            reader.costs(Filters("daily"), window, ("total_cost; --",))
        hostile = Filters("daily", account="x' OR '1'='1", api_key_ids=("')) OR 1=1 --",), models=("O'Brien",))
        assert reader.costs(hostile, window).empty
        everything = reader.costs(Filters("daily"), window)
    assert everything["total_cost"][0] == payg(served, first, window.end)[()].total_cost
    assert isinstance(everything["total_cost"][0], Decimal)


def test_a_table_shows_each_cell_as_text_rounded_once_and_inert() -> None:
    frame = pd.DataFrame(
        {
            "api_key_name": ["<img src=x onerror=alert(1)>", None],
            "request_count": [1234567, 0],
            "total_cost": [Decimal("16582.988744"), Decimal("0.004999")],
            "avg_cost_per_request": [Decimal("0.0000125"), None],
            "share": [0.999, 0.001],
        }
    )
    columns = {"api_key_name": "API key", "request_count": "Requests", "total_cost": "Cost",
               "avg_cost_per_request": "Cost per request", "share": "Share"}  # fmt: skip
    html = html_table(frame, columns)
    cells = _Cells()
    cells.feed(html)
    assert cells.headers == list(columns.values())
    assert cells.rows[1:] == [
        ["<img src=x onerror=alert(1)>", "1,234,567", "$16,582.99", "$0.000013", "99.9%"],
        ["(no name)", "0", "$0.00", "\N{EN DASH}", "0.1%"],
    ]
    assert "<img" not in html and "&lt;img src=x" in html  # a name is text, never markup
    # A header click sorts numbers by their exact value (not the rounded text), a missing one last.
    assert 'data-value="16582.988744"' in html and 'data-value=""' in html
    assert html.count('data-kind="number"') == 4


def test_amounts_are_rounded_for_display_only_and_names_stay_literal() -> None:
    assert money(Decimal("1234.565")) == "$1,234.57" and money(Decimal("-0.0049999")) == "$0.00"
    assert money(Decimal("0.0000125"), 6) == "$0.000013" and money(None) == "\N{EN DASH}"
    assert change(Decimal(3), Decimal(2)) == "+$1.00 (+50.0%)"
    assert change(Decimal("1.5"), Decimal(2)) == "-$0.50 (-25.0%)"
    assert change(Decimal(1), Decimal(0)) == "+$1.00 (new)" and change(None, Decimal(1)) is None
    # A negligible base: "new" when it shows as $0.00, the amount alone beyond 1000%.
    assert change(Decimal("12103003.04"), Decimal("0.001")) == "+$12,103,003.04 (new)"
    assert change(Decimal(500), Decimal("0.40")) == "+$499.60"
    assert change(Decimal(0), Decimal("0.004")) == "+$0.00"
    assert literal("acme/gpt_4*o [beta]") == r"acme/gpt\_4\*o \[beta\]"
    window = Window("monthly", datetime(2026, 1, 1), datetime(2026, 2, 1))
    assert (window.end, window.previous()) == (
        datetime(2026, 3, 1),
        Window("monthly", datetime(2025, 11, 1), datetime(2025, 12, 1)),
    )
    assert Window("hourly", datetime(2026, 1, 1, 0), datetime(2026, 1, 1, 5)).previous().first == datetime(
        2025, 12, 31, 18
    )


@pytest.mark.pipeline
def test_the_api_key_csv_round_trips_names_and_exact_costs(served: Installation) -> None:
    first, end = day(serving_first_period(served)), day(last_usage(served), 1)
    window = Window("daily", first, end - timedelta(days=1))
    with ServingReader(served.serving) as reader:
        frame = reader.costs(Filters("daily"), window, ("account_id", "api_key_id", "api_key_name"))
    data = api_key_csv(frame, window)
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["period_start", "period_end", *COLUMNS]
    assert {tuple(row[:2]) for row in rows[1:]} == {(f"{first:%Y-%m-%d}T00:00:00Z", f"{end:%Y-%m-%d}T00:00:00Z")}
    expected = payg(served, first, end, ("account_id", "api_key_id", "api_key_name"))
    named = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    for row in named:
        assert Decimal(row["total_cost"]) == sum(Decimal(row[c]) for c in ("input_cost", "output_cost", "other_cost"))
    shown = {
        (r["account_id"], r["api_key_id"], r["api_key_name"]): (int(r["request_count"]), Decimal(r["total_cost"]))
        for r in named
    }
    assert shown == {(a, k, n or ""): (s.requests, s.total_cost) for (a, k, n), s in expected.items()}
    assert RENAMED_TO in {row[4] for row in rows}

    nasty = ['a "quoted", name', "line\nbreak", " spaces ", "=SUM(A1)", "数据团队 🚀", "C:\\ci\\nightly", None, ""]
    made_up = pd.DataFrame(
        {
            "account_id": ["acct"] * len(nasty),
            "api_key_id": [f"k{i}" for i in range(len(nasty))],
            "api_key_name": nasty,
            "request_count": range(len(nasty)),
            "total_cost": [Decimal("0E-18"), Decimal("12345678901234567890.123456789012345678")] + [Decimal("0.1")] * 6,
        }
    )
    made_up = made_up.assign(**{c: 0 for c in COLUMNS if c not in made_up and not c.endswith("_cost")})
    made_up = made_up.assign(**{c: Decimal(0) for c in ("input_cost", "output_cost", "other_cost")})
    back = list(csv.reader(io.StringIO(api_key_csv(made_up, window).decode("utf-8-sig"), newline="")))[1:]
    assert [row[4] for row in back] == [("'" + name if name == "=SUM(A1)" else name or "") for name in nasty]
    assert [Decimal(row[-1]) for row in back] == list(made_up["total_cost"])
    assert back[0][-1] == "0.000000000000000000"  # no exponent notation


# --- a real browser ------------------------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "meterline dashboard exited"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not come up in {seconds} s")


@pytest.mark.browser
@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and os.environ.get("CI") != "true",
    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver); "
    "CI installs them and always runs this test",
)
@pytest.mark.pipeline
def test_the_running_page_in_headless_chromium(served: Installation, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port, downloads = free_port(), tmp_path / "downloads"
    downloads.mkdir()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "dashboard.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "dashboard", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1600,2400",
    ):
        options.add_argument(flag)
    driver = None
    try:
        wait_until_healthy(url, server)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER or "/usr/bin/chromedriver"), options=options)
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.get(url)
        values = '[data-testid="stMetricValue"]'
        WebDriverWait(driver, 90).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, values)) == len(CARDS))
        latest = month(last_usage(served))
        now = payg(served, latest, month(latest, 1))[()]
        assert driver.find_elements(By.CSS_SELECTOR, values)[0].text == money(now.total_cost)
        assert PAYG_NOTE in driver.find_element(By.TAG_NAME, "body").text
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"]'))
        time.sleep(1)  # let the chart and tables finish drawing before the screenshot
        screenshot = tmp_path / "cost-analysis.png"
        assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000

        button = driver.find_element(By.CSS_SELECTOR, '[data-testid="stDownloadButton"] button')
        driver.execute_script("arguments[0].scrollIntoView()", button)
        button.click()
        name = f"meterline-api-key-costs_{latest:%Y-%m}_{latest:%Y-%m}.csv"
        WebDriverWait(driver, 30).until(lambda d: (downloads / name).is_file())
        rows = list(csv.reader(io.StringIO((downloads / name).read_bytes().decode("utf-8-sig"), newline="")))
        expected = payg(served, latest, month(latest, 1), ("account_id", "api_key_id", "api_key_name"))
        assert {(r[2], r[3], r[4]): (int(r[5]), Decimal(r[-1])) for r in rows[1:]} == {
            (a, k, n or ""): (s.requests, s.total_cost) for (a, k, n), s in expected.items()
        }
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
        log.close()
