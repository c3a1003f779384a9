"""The sections of the cost analysis page. Each reads through ServingReader with the page's filters, so
every section honours every filter; amounts stay Decimal until the browser formats them."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.csv_export import api_key_csv
from dashboard.formatting import AVERAGE_PLACES, CARD_PLACES, NO_NAME, change, literal, money
from dashboard.periods import UNIT_NAMES, Window, period_label
from dashboard.queries import Filters, ServingReader

MONEY_COLUMNS = {"total_cost", "input_cost", "output_cost", "other_cost", "avg_cost_per_request"}
MONEY_FORMAT = "$%.6f"  # table cells: costs of single calls are fractions of a cent
CHART_MODELS = 8  # the chart shows the costliest models; the rest are summed as OTHER_MODELS
OTHER_MODELS = "(other models)"
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


def with_share(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus `share`: each row's part of the frame's total cost (a float, for display only)."""
    total = sum(frame["total_cost"], Decimal(0))
    return frame.assign(share=[float(cost / total) if total else 0.0 for cost in frame["total_cost"]])


def show_table(frame: pd.DataFrame, columns: dict[str, str], key: str) -> None:
    """The `columns` of `frame` (name -> header); money as dollars, share as a bar; sortable by any header."""
    config: dict[str, object] = {}
    for name, header in columns.items():
        if name in MONEY_COLUMNS:
            config[header] = st.column_config.NumberColumn(header, format=MONEY_FORMAT)
        elif name == "share":
            config[header] = st.column_config.ProgressColumn(header, format="percent", min_value=0, max_value=1)
        elif frame[name].dtype.kind in "iu":
            config[header] = st.column_config.NumberColumn(header, format="localized")
    display = frame.loc[:, list(columns)]
    if "api_key_name" in columns:
        display = display.assign(api_key_name=display["api_key_name"].fillna(NO_NAME))
    display = display.rename(columns=columns)
    with st.container(key=key):  # the key names the table for tests and page styling
        st.dataframe(display, hide_index=True, column_config=config)


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


def _share_chart(by_period: pd.DataFrame, models: list[str], grain: str) -> alt.Chart:
    """Stacked 100 % bars: each model's share of each period's cost (the costliest models, the rest summed)."""
    shown = set(models[:CHART_MODELS])
    frame = by_period.assign(
        period=[period_label(p, grain) for p in by_period["period_start"]],
        model=[m if m in shown else OTHER_MODELS for m in by_period["model"]],
    )
    grouped = frame.groupby(["period", "model"], sort=False)["total_cost"].agg(lambda costs: sum(costs, Decimal(0)))
    chart_data = grouped.reset_index().assign(cost=lambda f: [float(c) for c in f["total_cost"]])
    chart_data = chart_data.drop(columns="total_cost")
    chart_data["share"] = chart_data["cost"] / chart_data.groupby("period")["cost"].transform("sum")
    order = models[:CHART_MODELS] + ([OTHER_MODELS] if len(models) > CHART_MODELS else [])
    chart_data["rank"] = [order.index(model) for model in chart_data["model"]]
    unit = UNIT_NAMES[grain].capitalize()
    return (
        alt.Chart(chart_data)
        .mark_bar()
        .encode(
            x=alt.X("period:O", title=f"{unit} (UTC)", sort=None),
            y=alt.Y("cost:Q", stack="normalize", title="Share of cost", axis=alt.Axis(format="%")),
            color=alt.Color("model:N", title="Model", sort=order),
            order=alt.Order("rank:Q"),
            tooltip=[
                alt.Tooltip("period:O", title=f"{unit} (UTC)"),
                alt.Tooltip("model:N", title="Model"),
                alt.Tooltip("cost:Q", title="Cost", format="$,.4f"),
                alt.Tooltip("share:Q", title="Share", format=".1%"),
            ],
        )
    )


def cost_by_model(reader: ServingReader, filters: Filters, window: Window) -> None:
    st.subheader("Cost by model")
    totals = with_share(reader.costs(filters, window, ("model",)))
    by_period = reader.costs(filters, window, ("period_start", "model"))
    models = list(totals["model"])
    st.altair_chart(_share_chart(by_period, models, filters.grain), width="stretch")
    show_table(
        totals,
        {"model": "Model", "request_count": "Requests", "total_cost": "Total cost", "share": "Share"},
        key="table:models",
    )
    model = st.selectbox("Model detail", models, help="Opens the picked model's cost by provider, API key and purpose.")
    detail = replace(filters, models=(model,))
    with st.container(border=True):
        st.markdown(f"**{literal(model)}** · {window.label()}")
        by_provider, by_key, by_purpose = st.columns([2, 3, 2])
        with by_provider:
            frame = with_share(reader.costs(detail, window, ("provider",)))
            show_table(frame, {"provider": "Provider", **BREAKDOWN_COLUMNS}, key="table:model_providers")
        with by_key:
            frame = with_share(reader.costs(detail, window, ("api_key_id", "api_key_name")))
            columns = {"api_key_name": "API key", "api_key_id": "Key id", **BREAKDOWN_COLUMNS}
            show_table(frame, columns, key="table:model_api_keys")
        with by_purpose:
            frame = with_share(reader.costs(detail, window, ("purpose",)))
            show_table(frame, {"purpose": "Purpose", **BREAKDOWN_COLUMNS}, key="table:model_purposes")


def cost_by_type(reader: ServingReader, filters: Filters, window: Window) -> None:
    st.subheader("Cost by type")
    breakdowns = (("model_type", "Model type"), ("provider", "Provider"), ("purpose", "Purpose"))
    for column, (dimension, header) in zip(st.columns(3), breakdowns, strict=True):
        with column:
            frame = with_share(reader.costs(filters, window, (dimension,)))
            show_table(frame, {dimension: header, **BREAKDOWN_COLUMNS}, key=f"table:type_{dimension}")


def cost_by_api_key(reader: ServingReader, filters: Filters, window: Window) -> None:
    st.subheader("Cost by API key")
    frame = reader.costs(filters, window, ("account_id", "api_key_id", "api_key_name"))
    frame = sort_by(with_share(frame), "Sort API keys by", "api_key_name", key="sort:api_keys")
    show_table(
        frame,
        {
            "api_key_name": "API key",
            "api_key_id": "Key id",
            "account_id": "Account",
            "request_count": "Requests",
            "total_cost": "Total cost",
            "share": "Share",
        },
        key="table:api_keys",
    )
    first, last = period_label(window.first, window.grain), period_label(window.last, window.grain)
    st.download_button(
        "Download CSV",
        api_key_csv(frame),
        file_name=f"meterline-api-key-costs_{first}_{last}.csv".replace(" ", "T"),
        mime="text/csv",
        help="UTF-8 with a byte-order mark; exact costs in USD.",
        on_click="ignore",
    )


def provider_cost(reader: ServingReader, filters: Filters, window: Window) -> None:
    st.subheader(f"Cost by provider · {window.label()}")
    frame = sort_by(
        with_share(reader.costs(filters, window, ("provider",))), "Sort providers by", "provider", key="sort:providers"
    )
    show_table(
        frame,
        {
            "provider": "Provider",
            "request_count": "Requests",
            "input_tokens": "Input tokens",
            "output_tokens": "Output tokens",
            "total_cost": "Total cost",
            "share": "Share",
        },
        key="table:providers",
    )
    st.subheader("Provider details per model")
    details = reader.costs(filters, window, ("provider", "model"))
    providers = list(frame.sort_values("provider")["provider"])
    provider = st.selectbox("Provider", [None, *providers], format_func=lambda p: p or "All providers")
    if provider is not None:
        details = details[details["provider"] == provider]
    show_table(
        details.sort_values("provider", kind="stable"),
        {
            "provider": "Provider",
            "model": "Model",
            "request_count": "Calls",
            "input_tokens": "Input tokens",
            "output_tokens": "Output tokens",
            "avg_cost_per_request": "Cost per call",
            "total_cost": "Total cost",
        },
        key="table:provider_models",
    )
