"""The sections of the cost analysis page. Each reads through ServingReader with the page's filters, so
every section honours every filter. Amounts stay Decimal; what is shown is rounded once, half up, by
dashboard.formatting (costs to cents, per-request and per-1K-token averages to 6 places), the same in
cards, tables and tooltips; the CSV keeps the exact values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.csv_export import api_key_csv
from dashboard.formatting import (
    AVERAGE_PLACES,
    CARD_PLACES,
    NO_NAME,
    change,
    literal,
    money,
    rounded,
)
from dashboard.periods import UNIT_NAMES, Window, period_label, shift
from dashboard.queries import Filters, ServingReader
from dashboard.tables import AVERAGE_COLUMNS, COST_COLUMNS, COUNT_COLUMNS, HTML_ROWS_MAX, html_table
from dashboard.view import STACKS, View

CHART_SERIES = 8  # a stacked chart shows the costliest series; the rest are summed as OTHERS
OTHERS = "(others)"
CARDS = (
    ("Total cost", "total_cost", CARD_PLACES),
    ("Input cost", "input_cost", CARD_PLACES),
    ("Output cost", "output_cost", CARD_PLACES),
    ("Other cost", "other_cost", CARD_PLACES),
    ("Avg cost per request", "avg_cost_per_request", AVERAGE_PLACES),
    ("Avg cost per 1K tokens", "avg_cost_per_1k_tokens", AVERAGE_PLACES),
)
BREAKDOWN_COLUMNS = {"request_count": "Requests", "total_cost": "Cost", "share": "Share"}  # after the name column(s)
# Sort choices of the API key and provider tables: label -> (column, ascending).
COST_SORTS = {
    "Total cost, high to low": ("total_cost", False),
    "Total cost, low to high": ("total_cost", True),
    "Requests, high to low": ("request_count", False),
    "Requests, low to high": ("request_count", True),
}
TIME_FORMATS = {"monthly": "%Y-%m", "daily": "%b %d", "hourly": "%b %d %H:00"}
# Axis ticks on period starts only (a day axis ticked every 6 hours repeated "Oct 28" four times): every `step`
# periods, aligned as a calendar would (hours 0, 6, 12, 18; days 1, 8, 15, ...; months 1, 4, 7, 10), the
# smallest step that keeps about MAX_TICKS labels. Given as explicit instants: Vega-Lite's tickCount interval
# "hour" is one Vega cannot read (it names it "hours"), which left hourly charts blank.
TICK_STEPS = {"monthly": (1, 2, 3, 6, 12), "daily": (1, 2, 7, 14, 28), "hourly": (1, 2, 3, 6, 12, 24, 48)}
MAX_TICKS = 12


def period_ticks(window: Window) -> list[int]:
    """The tick instants of a UTC time axis over `window` (milliseconds since the epoch, as Vega reads them)."""
    steps = TICK_STEPS[window.grain]
    step = next((step for step in steps if window.periods / step <= MAX_TICKS), steps[-1])

    def aligned(period: datetime) -> bool:
        if window.grain == "monthly":
            return (period.month - 1) % step == 0
        if window.grain == "daily":
            return (period.day - 1) % step == 0
        return period.hour % step == 0 if step <= 24 else period.hour == 0 and (period.day - 1) % (step // 24) == 0

    periods = (shift(window.first, window.grain, i) for i in range(window.periods))
    return [int(period.replace(tzinfo=UTC).timestamp() * 1000) for period in periods if aligned(period)]


def with_share(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus `share`: each row's part of the frame's total cost (a float, for display only)."""
    total = sum(frame["total_cost"], Decimal(0))
    return frame.assign(share=[float(cost / total) if total else 0.0 for cost in frame["total_cost"]])


def show_table(
    frame: pd.DataFrame,
    columns: dict[str, str],
    key: str,
    on_select: Callable[[], None] | None = None,
) -> None:
    """The `columns` of `frame` (name -> header): costs rounded to cents as dollars with separators,
    averages to 6 places, counts with separators, share as a bar. Sortable by any header. An HTML table
    of text (dashboard/tables.py: what chromium draws fastest), unless rows are to be clicked (`on_select`
    is called, the row is in ``st.session_state[key + ":rows"]``) or there are more than HTML_ROWS_MAX of
    them: then a data grid, which draws only the rows in view."""
    with st.container(key=key):  # the key names the table for tests and page styling
        if on_select is None and len(frame) <= HTML_ROWS_MAX:
            st.html(html_table(frame, columns), unsafe_allow_javascript=True)
            return
        config: dict[str, object] = {}
        display = frame.loc[:, list(columns)].copy()
        for name, header in columns.items():
            if name in COST_COLUMNS:
                display[name] = [rounded(value, CARD_PLACES) for value in display[name]]
                config[header] = st.column_config.NumberColumn(header, format="dollar")
            elif name in AVERAGE_COLUMNS:
                display[name] = [rounded(value, AVERAGE_PLACES) for value in display[name]]
                config[header] = st.column_config.NumberColumn(header, format="$%.6f")
            elif name == "share":  # in percent, to one place, as the HTML tables show it
                display[name] = [share * 100 for share in display[name]]
                config[header] = st.column_config.ProgressColumn(header, format="%.1f%%", min_value=0, max_value=100)
            elif name in COUNT_COLUMNS:
                config[header] = st.column_config.NumberColumn(header, format="localized")
        if "api_key_name" in columns:
            display = display.assign(api_key_name=display["api_key_name"].fillna(NO_NAME))
        display = display.rename(columns=columns)
        if on_select is None:
            st.dataframe(display, hide_index=True, column_config=config)
        else:
            st.dataframe(display, hide_index=True, column_config=config, key=f"{key}:rows", on_select=on_select,
                         selection_mode="single-row")  # fmt: skip


def empty_state(what: str, window: Window) -> None:
    st.info(f"No pay-as-you-go usage {what} in {window.label()}.")


def sort_by(frame: pd.DataFrame, label: str, name_column: str, key: str) -> pd.DataFrame:
    """`frame` in the order picked in a "Sort by" box (costs, requests, or names A to Z)."""
    choices = {**COST_SORTS, "Name, A to Z": (name_column, True)}
    column, ascending = choices[st.selectbox(label, list(choices), key=key)]
    return frame.sort_values(column, ascending=ascending, na_position="last", kind="stable")


def overview_cards(reader: ServingReader, filters: Filters, window: Window, current: pd.DataFrame) -> None:
    previous_window = window.previous()
    previous = reader.costs(filters, previous_window)
    st.subheader(f"Overview · {window.label()}")
    now, before = current.iloc[0], None if previous.empty else previous.iloc[0]
    for row in (CARDS[:3], CARDS[3:]):
        for column, (label, measure, places) in zip(st.columns(3), row, strict=True):
            delta = None if before is None else change(now[measure], before[measure], places)
            column.metric(
                label,
                money(now[measure], places),
                delta=delta,
                delta_color="inverse",
                border=True,
                delta_description=f"vs previous {window.length_label()}" if delta else None,
            )
    note = "" if before is not None else " (no usage in that period, so no change is shown)"
    st.caption(f"Changes are against the previous {window.length_label()}: {previous_window.label()}{note}.")


def _instant(moment: datetime) -> str:
    """A UTC instant for Vega-Lite (an ISO string with Z, read on a UTC time scale whatever the browser's zone)."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def _top(frame: pd.DataFrame, column: str, limit: int = CHART_SERIES) -> list[str]:
    """The `limit` costliest values of `column` in `frame`, costliest first."""
    totals: dict[str, Decimal] = {}
    for value, cost in zip(frame[column], frame["total_cost"], strict=True):
        totals[value] = totals.get(value, Decimal(0)) + cost
    return sorted(totals, key=lambda value: (-totals[value], value))[:limit]


def stacked_periods(
    by_period: pd.DataFrame, column: str, window: Window, legend: str, normalize: bool = False
) -> tuple[alt.Chart, list[str]]:
    """Cost per period (each period's share of it with `normalize`), one bar per period spanning it on a UTC
    time axis (a period without usage is a gap), stacked by `column` (the costliest CHART_SERIES values,
    the rest summed; stacked here, in exact decimals). Returns the chart and the series in stacking order."""
    shown = _top(by_period, column)
    series = [value if value in shown else OTHERS for value in by_period[column]]
    sums: dict[tuple[datetime, str], Decimal] = {}
    for period, value, cost in zip(by_period["period_start"], series, by_period["total_cost"], strict=True):
        sums[(period, value)] = sums.get((period, value), Decimal(0)) + cost
    period_totals: dict[datetime, Decimal] = {}
    for (period, _), cost in sums.items():
        period_totals[period] = period_totals.get(period, Decimal(0)) + cost
    order = shown + ([OTHERS] if OTHERS in series else [])
    grain = window.grain
    rows, below = [], {period: Decimal(0) for period in period_totals}
    # Each period's texts once, not once per series (240 hours x 9 series cost ~0.1 s of strftime).
    texts = {period: (_instant(period), _instant(shift(period, grain, 1)), period_label(period, grain))
             for period in period_totals}  # fmt: skip
    rank = {value: index for index, value in enumerate(order)}
    unit = UNIT_NAMES[grain].capitalize()
    # The tooltip's fields, and the same as each bar's accessible description ("title: text; ..."). Both are
    # texts made here: Vega (in Streamlit, its expression interpreter) would otherwise evaluate a format and
    # a description per bar, ~0.1 s of a browser's drawing of the hourly charts (BENCHMARKS.md, issue 17).
    tips = {"period": f"{unit} (UTC)", "series": legend, "cost_label": "Cost", "share": "Share of the period"}
    for (period, value), cost in sorted(sums.items(), key=lambda item: (item[0][0], rank[item[0][1]])):
        whole = period_totals[period] if normalize else Decimal(1)
        low, high = below[period], below[period] + cost
        below[period] = high
        start, end, label = texts[period]
        share = float(cost / period_totals[period]) if period_totals[period] else 0.0
        row = {
            "start": start,
            "end": end,
            "period": label,
            "series": value,
            "low": float(low / whole) if whole else 0.0,
            "high": float(high / whole) if whole else 0.0,
            "cost_label": money(cost),
            "share": f"{share:.1%}",
        }
        row["description"] = "; ".join(f"{title}: {row[field]}" for field, title in tips.items())
        rows.append(row)
    domain = [_instant(window.first), _instant(window.end)]
    y_axis = alt.Axis(format="%") if normalize else alt.Axis(format="$,.2f")
    chart = (
        alt.Chart(pd.DataFrame(rows))
        .mark_rect(stroke="white", strokeWidth=0.5)
        .encode(
            x=alt.X(
                "start:T",
                title=f"{unit} (UTC)",
                scale=alt.Scale(type="utc", domain=domain),
                axis=alt.Axis(format=TIME_FORMATS[grain], labelAngle=0, labelOverlap=True, values=period_ticks(window)),
            ),
            x2="end:T",
            y=alt.Y("low:Q", title="Share of cost" if normalize else "Cost (USD)", axis=y_axis),
            y2="high:Q",
            color=alt.Color(
                "series:N", title=legend, sort=order, legend=alt.Legend(orient="bottom", columns=3, labelLimit=320)
            ),
            tooltip=[alt.Tooltip(f"{field}:N", title=title) for field, title in tips.items()],
            description="description:N",
        )
    )
    return chart, order


def cost_over_time(reader: ServingReader, filters: Filters, view: View) -> str:
    """Actual cost per period, stacked by model, model type or provider; returns the stacking picked."""
    st.subheader("Cost over time")
    st.session_state.setdefault("stack", view.stack)
    stack = st.segmented_control("Stack by", list(STACKS), format_func=STACKS.__getitem__, key="stack", required=True)
    by_period = reader.costs(filters, view.window, ("period_start", stack))
    chart, _ = stacked_periods(by_period, stack, view.window, STACKS[stack])
    st.altair_chart(chart, width="stretch", key="chart:over_time")
    return stack


def _pick_model_from_table() -> None:
    rows = st.session_state["table:models:rows"].selection.rows
    if rows:
        st.session_state["detail_model"] = st.session_state["models:order"][rows[0]]


def _pick_model_from_chart() -> None:
    points = st.session_state["chart:models"].selection.get("pick", [])
    picked = [point.get("series") for point in points if point.get("series") not in (None, OTHERS)]
    if picked:
        st.session_state["detail_model"] = picked[0]


def cost_by_model(reader: ServingReader, filters: Filters, view: View) -> str | None:
    """Each model's cost and share; a click on a model (a bar or a row) opens its detail. Returns the model
    in detail."""
    window = view.window
    st.subheader("Cost by model")
    totals = with_share(reader.costs(filters, window, ("model",)))
    models = list(totals["model"])
    st.session_state["models:order"] = models
    by_period = reader.costs(filters, window, ("period_start", "model"))
    chart, _ = stacked_periods(by_period, "model", window, "Model", normalize=True)
    chart = chart.add_params(alt.selection_point(name="pick", fields=["series"], on="click"))
    st.caption("Click a model's bar or row to open its detail.")
    st.altair_chart(chart, width="stretch", key="chart:models", on_select=_pick_model_from_chart, selection_mode="pick")
    show_table(totals, {"model": "Model", **BREAKDOWN_COLUMNS}, key="table:models", on_select=_pick_model_from_table)

    asked = st.session_state.get("detail_model", view.detail_model)
    st.session_state["detail_model"] = asked if asked in models else models[0]
    model = st.selectbox(
        "Model detail",
        models,
        key="detail_model",
        help="Opens the picked model's cost by provider, API key and purpose.",
    )
    detail = replace(filters, models=(model,))
    with st.container(border=True, key="model_detail"):
        st.markdown(f"**{literal(model)}** · {literal(window.label())}")
        for dimension, columns, key in (
            ("provider", {"provider": "Provider"}, "table:model_providers"),
            (
                ("api_key_id", "api_key_name"),
                {"api_key_name": "API key", "api_key_id": "Key id"},
                "table:model_api_keys",
            ),
            ("purpose", {"purpose": "Purpose"}, "table:model_purposes"),
        ):
            by = dimension if isinstance(dimension, tuple) else (dimension,)
            frame = with_share(reader.costs(detail, window, by))
            if frame.empty:
                empty_state(f"for {model}", window)
            else:
                show_table(frame, {**columns, **BREAKDOWN_COLUMNS}, key=key)
    return model


def _breakdown_chart(frame: pd.DataFrame, dimension: str, header: str) -> alt.Chart:
    data = pd.DataFrame(
        {
            "name": list(frame[dimension]),
            "cost": [float(cost) for cost in frame["total_cost"]],
            "cost_label": [money(cost) for cost in frame["total_cost"]],
            "share": list(frame["share"]),
            "requests": list(frame["request_count"]),
        }
    )
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("name:N", title=None, sort="-x", axis=alt.Axis(labelLimit=200)),
            x=alt.X("cost:Q", title="Cost (USD)", axis=alt.Axis(format="$,.0f", tickCount=4)),
            tooltip=[
                alt.Tooltip("name:N", title=header),
                alt.Tooltip("cost_label:N", title="Cost"),
                alt.Tooltip("share:Q", title="Share", format=".1%"),
                alt.Tooltip("requests:Q", title="Requests", format=","),
            ],
        )
        .properties(height=alt.Step(26), title=f"By {header.lower()}")
    )


def cost_by_type(reader: ServingReader, filters: Filters, window: Window) -> None:
    st.subheader("Cost by type")
    breakdowns = (("model_type", "Model type"), ("provider", "Provider"), ("purpose", "Purpose"))
    frames = {dimension: with_share(reader.costs(filters, window, (dimension,))) for dimension, _ in breakdowns}
    for column, (dimension, header) in zip(st.columns(3), breakdowns, strict=True):
        with column:
            if frames[dimension].empty:
                empty_state(f"by {header.lower()}", window)
            else:
                st.altair_chart(_breakdown_chart(frames[dimension], dimension, header), width="stretch",
                                key=f"chart:type_{dimension}")  # fmt: skip
    for dimension, header in breakdowns:
        if not frames[dimension].empty:
            show_table(frames[dimension], {dimension: header, **BREAKDOWN_COLUMNS}, key=f"table:type_{dimension}")


def cost_by_api_key(reader: ServingReader, filters: Filters, window: Window, copy_link: Callable[[str], None]) -> None:
    st.subheader("Cost by API key")
    frame = reader.costs(filters, window, ("account_id", "api_key_id", "api_key_name"))
    if frame.empty:
        empty_state("by API key", window)
        return
    frame = sort_by(with_share(frame), "Sort API keys by", "api_key_name", key="sort:api_keys")
    show_table(
        frame,
        {
            "api_key_name": "API key",
            "api_key_id": "Key id",
            "account_id": "Account",
            "request_count": "Requests",
            "input_cost": "Input cost",
            "output_cost": "Output cost",
            "other_cost": "Other cost",
            "total_cost": "Cost",
            "share": "Share",
        },
        key="table:api_keys",
    )
    first, last = period_label(window.first, window.grain), period_label(window.last, window.grain)
    download, link = st.columns([1, 1])
    with download:
        st.download_button(
            "Download CSV",
            api_key_csv(frame, window),
            file_name=f"meterline-api-key-costs_{first}_{last}.csv".replace(" ", "T"),
            mime="text/csv",
            help="The period, input/output/other and total cost, tokens and requests per key. "
            "UTF-8 with a byte-order mark; exact costs in USD.",
            on_click="ignore",
        )
    with link:
        copy_link("api_keys")


def provider_cost(reader: ServingReader, filters: Filters, view: View) -> str | None:
    """The Provider Cost tab; returns the provider in detail (None: all)."""
    window = view.window
    st.subheader(f"Cost by provider · {window.label()}")
    frame = reader.costs(filters, window, ("provider",))
    frame = sort_by(with_share(frame), "Sort providers by", "provider", key="sort:providers")
    show_table(
        frame,
        {
            "provider": "Provider",
            "request_count": "Requests",
            "input_tokens": "Input tokens",
            "output_tokens": "Output tokens",
            "total_cost": "Cost",
            "share": "Share",
        },
        key="table:providers",
    )
    st.subheader("Provider details per model")
    details = reader.costs(filters, window, ("provider", "model"))
    providers = sorted(frame["provider"])
    asked = st.session_state.get("detail_provider", view.detail_provider)
    st.session_state["detail_provider"] = asked if asked in providers else None
    # None (every provider) is the box's empty value, so Streamlit shows the placeholder for it, not format_func's.
    provider = st.selectbox(
        "Provider",
        [None, *providers],
        format_func=lambda p: p or "All providers",
        key="detail_provider",
        placeholder="All providers",
    )
    if provider is not None:
        details = details[details["provider"] == provider]
    show_table(
        details.sort_values(["provider", "total_cost"], ascending=[True, False], kind="stable"),
        {
            "provider": "Provider",
            "model": "Model",
            "request_count": "Requests",
            "input_tokens": "Input tokens",
            "output_tokens": "Output tokens",
            "avg_cost_per_request": "Cost per request",
            "total_cost": "Cost",
        },
        key="table:provider_models",
    )
    provider_alternatives(reader, filters, window, provider)
    return provider


def provider_alternatives(reader: ServingReader, filters: Filters, window: Window, provider: str | None) -> None:
    """The cheaper-provider view, once the serving file has ``provider_alternatives_<grain>`` (marts.md)."""
    frame = reader.alternatives(filters, window)
    if frame is None:
        if reader.has_table("provider_alternatives_daily"):
            st.caption("Cheaper providers: shown at Day and Month granularity (the mart has no hourly table).")
        return
    st.subheader("Cheaper providers")
    note = "What the same requests would have cost at another provider of the same model, at its prices then."
    if filters.api_key_ids:
        note += " Not broken down by API key: these figures cover every key of the account."
    st.caption(note)
    if provider is not None:
        frame = frame[frame["provider"] == provider]
    if frame.empty:
        empty_state("that another provider prices", window)
        return
    show_table(
        frame,
        {
            "model": "Model",
            "provider": "Provider",
            "alternative_provider": "Alternative",
            "request_count": "Requests",
            "actual_cost": "Actual cost",
            "alternative_cost": "At the alternative",
            "savings": "Savings",
        },
        key="table:alternatives",
    )
