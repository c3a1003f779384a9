"""The page's filters, in the sidebar, and the view they make (dashboard/view.py).

Every widget has a key, and `st.session_state["view"]` holds the whole view between runs: a widget that
is not drawn in a run (the other grain's time range, a tab's picker) loses its own state in Streamlit,
so it is seeded again from the view when it comes back. Switching granularity keeps the time range
(as the periods of the new grain covering it), the account, the keys and models; changing the account
keeps the keys and models that have usage in it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import streamlit as st

from dashboard.formatting import NO_NAME, literal
from dashboard.periods import (
    GRAINS,
    UNIT_NAMES,
    Window,
    period_count,
    period_label,
    shift,
    truncate,
)
from dashboard.queries import Filters, ServingReader
from dashboard.view import Requested, View, clamp, keep_known, quoted, regrain

ALL_ACCOUNTS = "All accounts"
GRAIN_LABELS = {suffix: label for label, suffix in GRAINS.items()}
KEY_VIEW, KEY_NOTICES = "view", "notices"
RANGE_KEYS = {grain: (f"range:{grain}:from", f"range:{grain}:to") for grain in GRAINS.values()}


def key_label(key_id: str, name: str | None) -> str:
    return f"{name if name is not None else NO_NAME} · {key_id}"


def seed(key: str, value: object) -> None:
    """Give widget `key` its value from the view when Streamlit holds none (first run, or not drawn last run)."""
    if key not in st.session_state:
        st.session_state[key] = value


def latest(grain: str, bounds: tuple[datetime, datetime]) -> Window:
    return Window(grain, bounds[1], bounds[1])


def resolve(reader: ServingReader, asked: Requested) -> tuple[View, list[str]] | None:
    """The view a link asks for, every value checked against the serving file; None without usage."""
    notices = list(asked.notices)
    grain = asked.grain or "monthly"
    bounds = reader.period_bounds(grain)
    if bounds is None:
        return None
    window = latest(grain, bounds)
    if asked.first is not None or asked.last is not None:
        first, last = asked.first or asked.last, asked.last or asked.first
        assert first is not None and last is not None
        first, last = truncate(min(first, last), grain), truncate(max(first, last), grain)
        inside = clamp(Window(grain, first, last), bounds)
        if inside is None:
            span = f"{period_label(bounds[0], grain)} \N{EN DASH} {period_label(bounds[1], grain)}"
            notices.append(f"The linked time range has no usage (data spans {span} UTC): showing the latest period.")
        else:
            if inside != Window(grain, first, last):
                notices.append("The linked time range reaches beyond the data: cut to the periods with usage.")
            window = inside
    account = asked.account
    if account is not None and account not in reader.accounts():
        notices.append(f"Account {quoted(account)} has no usage: showing all accounts.")
        account = None
    keys = keep_known(asked.api_key_ids, [k for k, _ in reader.api_keys(account, window)], "API key", notices)
    models = keep_known(asked.models, reader.models(account, window), "Model", notices)
    view = View(grain, window, account, keys, models, asked.tab or "analysis", stack=asked.stack or "model")
    return replace(view, detail_model=asked.detail_model, detail_provider=asked.detail_provider), notices


def _periods(grain: str, first: datetime, last: datetime, window: Window) -> Window:
    """From and To boxes over every period with data (months, or days). A box applies its pick at once: a click,
    or typing a period (``2026-11-03``) and Enter. (Streamlit 1.67's date range input applies typed dates only on
    blur or Escape, never on Enter: docs/dashboard.md.)"""
    options = [shift(first, grain, i) for i in range(period_count(first, last, grain))]
    unit = UNIT_NAMES[grain]
    keys = RANGE_KEYS[grain]
    seed(keys[0], window.first)
    seed(keys[1], window.last)
    start, end = st.columns(2)
    label = lambda p: period_label(p, grain)  # noqa: E731
    picked_first = start.selectbox(f"From {unit} (UTC)", options, format_func=label, key=keys[0])
    picked_last = end.selectbox(f"To {unit} (UTC)", options, format_func=label, key=keys[1])
    return Window(grain, min(picked_first, picked_last), max(picked_first, picked_last))


def _hours(grain: str, first: datetime, last: datetime, window: Window) -> Window:
    bounds = {"min_value": first, "max_value": last, "step": 3600, "format": "YYYY-MM-DD"}
    seed("range:hourly:from", window.first)
    seed("range:hourly:to", window.last)
    start = st.datetime_input("From hour (UTC)", None, key="range:hourly:from", **bounds)
    end = st.datetime_input("To hour (UTC, included)", None, key="range:hourly:to", **bounds)
    hours = sorted(truncate(moment or window.last, grain) for moment in (start, end))
    return Window(grain, hours[0], hours[-1])


RANGE_WIDGETS = {"monthly": _periods, "daily": _periods, "hourly": _hours}


def _pickable(
    reader: ServingReader, account: str | None, window: Window, all_time: bool, notices: list[str]
) -> tuple[dict[str, str | None], list[str]]:
    """The API keys (id -> name) and models to offer; the picks they no longer hold are dropped, with a notice.

    Offered: what has usage in the window (at any time with the toggle) of the account, among the rows of
    the other filter's picks, plus the picks themselves while they have usage on their own."""
    scope = None if all_time else window
    picked_keys = tuple(st.session_state.get("api_keys", ()))
    picked_models = tuple(st.session_state.get("models", ()))
    own_keys = dict(reader.api_keys(account, scope))
    own_models = reader.models(account, scope)
    where = "at any time" if all_time else f"in {window.label()}"
    for key_id in picked_keys:
        if key_id not in own_keys:
            notices.append(f"API key {quoted(key_id)} has no usage {where}{_of(account)}: removed from the filter.")
    for model in picked_models:
        if model not in own_models:
            notices.append(f"Model {quoted(model)} has no usage {where}{_of(account)}: removed from the filter.")
    kept_keys = [k for k in picked_keys if k in own_keys]
    kept_models = [m for m in picked_models if m in own_models]
    keys = dict(reader.api_keys(account, scope, tuple(kept_models))) if kept_models else own_keys
    models = reader.models(account, scope, tuple(kept_keys)) if kept_keys else own_models
    keys.update({k: own_keys[k] for k in kept_keys})
    models = sorted({*models, *kept_models})
    st.session_state["api_keys"], st.session_state["models"] = kept_keys, kept_models
    return dict(sorted(keys.items(), key=lambda item: (item[1] is None, item[1] or "", item[0]))), models


def _of(account: str | None) -> str:
    return "" if account is None else f" for {quoted(account)}"


def sidebar_filters(reader: ServingReader, view: View, notices: list[str]) -> tuple[View, Filters] | None:
    """The view after this run's changes in the sidebar; None when the serving file has no usage at all."""
    with st.sidebar:
        st.header("Filters")
        seed("granularity", GRAIN_LABELS[view.grain])
        grain = GRAINS[st.radio("Granularity", list(GRAINS), horizontal=True, key="granularity")]
        bounds = reader.period_bounds(grain)
        if bounds is None:
            return None
        window = view.window
        if grain != view.grain:  # same time, the new grain's periods; its range widgets start from it
            window = clamp(regrain(view.window, grain), bounds) or latest(grain, bounds)
            for key in RANGE_KEYS[grain]:
                st.session_state.pop(key, None)
        window = RANGE_WIDGETS[grain](grain, *bounds, window)

        accounts = reader.accounts()
        seed("account", view.account if view.account in accounts else ALL_ACCOUNTS)
        chosen = st.selectbox("Account", [ALL_ACCOUNTS, *accounts], key="account")
        account = None if chosen == ALL_ACCOUNTS else chosen
        seed("api_keys", list(view.api_key_ids))
        seed("models", list(view.models))
        all_time = st.toggle("List keys and models used at any time", key="all_time",
                             help="Off: the pickers list what has usage in the chosen time range.")  # fmt: skip
        names, models = _pickable(reader, account, window, all_time, notices)
        key_ids = st.multiselect(
            "API keys",
            list(names),
            format_func=lambda key_id: key_label(key_id, names[key_id]),
            placeholder="All API keys",
            key="api_keys",
        )
        picked_models = st.multiselect("Models", models, placeholder="All models", key="models")
    changed = replace(view, grain=grain, window=window, account=account, api_key_ids=tuple(key_ids),
                      models=tuple(picked_models))  # fmt: skip
    return changed, Filters(grain, account, tuple(key_ids), tuple(picked_models))


def show_notices(notices: list[str]) -> None:
    """The notices of this run (a link's values that were ignored, picks dropped), each text inert."""
    for notice in dict.fromkeys(notices):
        st.warning(literal(notice), icon=":material/info:")
