"""The page's view, and its place in the URL (marts.md, "The cost analysis page's link").

A view is everything that decides the figures on the page: granularity, time range, account, API keys,
models, tab, the model in detail, the provider in detail (and how the cost-over-time chart is stacked).
It travels in the query string, every part always written, so a copied link reopens the same view even
after newer data is published:

    ?grain=day&from=2026-11-01&to=2026-11-07&account=acct_1&key=k1&key=k2&model=openai%2Fgpt-5
     &tab=providers&detail_model=openai%2Fgpt-5&detail_provider=azure&stack=model

``from``/``to`` are UTC periods, both included: ``YYYY-MM`` (month), ``YYYY-MM-DD`` (day),
``YYYY-MM-DDTHH`` (hour). An empty ``account`` (or none) is every account. Parsing never fails: a value
that is malformed or names nothing in the serving file is dropped, and a notice says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from dashboard.periods import Window, shift, truncate

GRAIN_NAMES = {"month": "monthly", "day": "daily", "hour": "hourly"}  # URL value -> table suffix
TABS = {"analysis": "Cost analysis", "providers": "Provider Cost"}  # URL value -> tab label
STACKS = {"model": "Model", "model_type": "Model type", "provider": "Provider"}  # URL value -> label
PERIOD_FORMATS = {"monthly": "%Y-%m", "daily": "%Y-%m-%d", "hourly": "%Y-%m-%dT%H"}
NOTICE_LENGTH = 60  # a value quoted in a notice is cut to this many characters


@dataclass(frozen=True)
class View:
    grain: str
    window: Window
    account: str | None = None
    api_key_ids: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    tab: str = "analysis"
    detail_model: str | None = None
    detail_provider: str | None = None
    stack: str = "model"


@dataclass
class Requested:
    """What a query string asks for, parsed but not yet checked against the data; `notices` collects the
    values that could not be parsed."""

    grain: str | None = None
    first: datetime | None = None
    last: datetime | None = None
    account: str | None = None
    api_key_ids: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    tab: str | None = None
    detail_model: str | None = None
    detail_provider: str | None = None
    stack: str | None = None
    notices: list[str] = field(default_factory=list)


def quoted(value: str) -> str:
    """`value` as a notice shows it: in quotes, cut to NOTICE_LENGTH characters (escaped by the caller)."""
    return f"“{value if len(value) <= NOTICE_LENGTH else value[:NOTICE_LENGTH] + '…'}”"


def format_period(period: datetime, grain: str) -> str:
    return period.strftime(PERIOD_FORMATS[grain])


def parse_period(text: str, grain: str) -> datetime | None:
    try:
        return datetime.strptime(text, PERIOD_FORMATS[grain])
    except ValueError:
        return None


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    return values[-1] if values else None


def parse(params: Mapping[str, Sequence[str]]) -> Requested:
    """The view a query string asks for (`params`: name -> every value given)."""
    asked = Requested()
    grain_text = _one(params, "grain")
    if grain_text is not None:
        asked.grain = GRAIN_NAMES.get(grain_text)
        if asked.grain is None:
            asked.notices.append(f"Granularity {quoted(grain_text)} is not month, day or hour: ignored.")
    grain = asked.grain or "monthly"
    for name in ("from", "to"):
        text = _one(params, name)
        if text is None:
            continue
        period = parse_period(text, grain)
        if period is None:
            asked.notices.append(f"Time range {name} {quoted(text)} is not a {grain} period (UTC): ignored.")
        setattr(asked, "first" if name == "from" else "last", period)
    asked.account = _one(params, "account") or None
    asked.api_key_ids = tuple(dict.fromkeys(v for v in params.get("key", []) if v))
    asked.models = tuple(dict.fromkeys(v for v in params.get("model", []) if v))
    tab = _one(params, "tab")
    if tab is not None and tab not in TABS:
        asked.notices.append(f"Tab {quoted(tab)} does not exist: ignored.")
    asked.tab = tab if tab in TABS else None
    stack = _one(params, "stack")
    if stack is not None and stack not in STACKS:
        asked.notices.append(f"Stacking by {quoted(stack)} is not offered: ignored.")
    asked.stack = stack if stack in STACKS else None
    asked.detail_model = _one(params, "detail_model") or None
    asked.detail_provider = _one(params, "detail_provider") or None
    return asked


def to_params(view: View) -> dict[str, str | list[str]]:
    """The query string of `view`: every part written, so the link does not depend on today's defaults."""
    grain = next(name for name, suffix in GRAIN_NAMES.items() if suffix == view.grain)
    params: dict[str, str | list[str]] = {
        "grain": grain,
        "from": format_period(view.window.first, view.grain),
        "to": format_period(view.window.last, view.grain),
        "account": view.account or "",
        "key": list(view.api_key_ids),
        "model": list(view.models),
        "tab": view.tab,
        "stack": view.stack,
    }
    if view.detail_model is not None:
        params["detail_model"] = view.detail_model
    if view.detail_provider is not None:
        params["detail_provider"] = view.detail_provider
    return {name: value for name, value in params.items() if value != []}


def clamp(window: Window, bounds: tuple[datetime, datetime]) -> Window | None:
    """`window` cut to the periods with data `bounds` (first, last); None when nothing is left."""
    first, last = max(window.first, bounds[0]), min(window.last, bounds[1])
    return None if last < first else Window(window.grain, first, last)


def regrain(window: Window, grain: str) -> Window:
    """The periods of `grain` covering the same time as `window` (Oct-Nov as days: Oct 1 .. Nov 30)."""
    if grain == window.grain:
        return window
    last_moment = shift(window.last, window.grain, 1)
    first = truncate(window.first, grain)
    last = truncate(last_moment, grain)
    if last == last_moment:  # the window ends on a period boundary of `grain`
        last = shift(last, grain, -1)
    return Window(grain, first, max(first, last))


def keep_known(asked: Iterable[str], known: Iterable[str], what: str, notices: list[str]) -> tuple[str, ...]:
    """The values of `asked` that are in `known`, in order; a notice for each of the others."""
    known_set = set(known)
    kept = []
    for value in asked:
        if value in known_set:
            kept.append(value)
        else:
            notices.append(f"{what} {quoted(value)} has no usage here: ignored.")
    return tuple(kept)


def with_window(view: View, window: Window) -> View:
    return replace(view, grain=window.grain, window=window)
