"""The page's filters, in the sidebar: granularity, UTC time range, account, API keys and models."""

from __future__ import annotations

from datetime import datetime, time

import streamlit as st

from dashboard.formatting import NO_NAME
from dashboard.periods import GRAINS, Window, period_count, period_label, shift, truncate
from dashboard.queries import Filters, ServingReader

ALL_ACCOUNTS = "All accounts"


def key_label(key_id: str, name: str | None) -> str:
    return f"{name if name is not None else NO_NAME} · {key_id}"


def _months(grain: str, first: datetime, last: datetime) -> Window:
    options = [shift(first, grain, i) for i in range(period_count(first, last, grain))]
    start, end = st.select_slider(
        "Months (UTC)", options, value=(last, last), format_func=lambda p: period_label(p, grain), key="range:monthly"
    )
    return Window(grain, start, end)


def _days(grain: str, first: datetime, last: datetime) -> Window:
    picked = st.date_input(
        "Days (UTC)",
        value=(last.date(), last.date()),
        min_value=first.date(),
        max_value=last.date(),
        format="YYYY-MM-DD",
        key="range:daily",
    )
    days = sorted(picked) if picked else [last.date()]  # one day while the second is being picked
    return Window(grain, datetime.combine(days[0], time()), datetime.combine(days[-1], time()))


def _hours(grain: str, first: datetime, last: datetime) -> Window:
    bounds = {"min_value": first, "max_value": last, "step": 3600, "format": "YYYY-MM-DD"}
    start = st.datetime_input("From hour (UTC)", value=last, key="range:hourly:from", **bounds)
    end = st.datetime_input("To hour (UTC, included)", value=last, key="range:hourly:to", **bounds)
    hours = sorted(truncate(moment or last, grain) for moment in (start, end))
    return Window(grain, hours[0], hours[-1])


RANGE_WIDGETS = {"monthly": _months, "daily": _days, "hourly": _hours}


def sidebar_filters(reader: ServingReader) -> tuple[Filters, Window] | None:
    """The filters chosen in the sidebar, and the window (default: the latest period with data);
    None when the serving file has no usage at all."""
    with st.sidebar:
        st.header("Filters")
        grain = GRAINS[st.radio("Granularity", list(GRAINS), horizontal=True, key="granularity")]
        bounds = reader.period_bounds(grain)
        if bounds is None:
            return None
        window = RANGE_WIDGETS[grain](grain, *bounds)
        chosen = st.selectbox("Account", [ALL_ACCOUNTS, *reader.accounts()], key="account")
        account = None if chosen == ALL_ACCOUNTS else chosen
        names = dict(reader.api_keys(account))
        key_ids = st.multiselect(
            "API keys",
            list(names),
            format_func=lambda key_id: key_label(key_id, names[key_id]),
            placeholder="All API keys",
            key=f"api_keys:{chosen}",
        )
        models = st.multiselect("Models", reader.models(account), placeholder="All models", key=f"models:{chosen}")
    return Filters(grain, account, tuple(key_ids), tuple(models)), window
