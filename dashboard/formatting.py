"""Display text for exact amounts: money is rounded here, for display only (the data stays Decimal)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

CARD_PLACES = 2  # cost totals on the cards
AVERAGE_PLACES = 6  # averages per request and per 1K tokens: fractions of a cent
MAX_PERCENT = 1000  # above this, a change is shown as an amount only
NO_NAME = "(no name)"  # shown for an API key whose records carry no name


def money(value: Decimal | None, places: int = CARD_PLACES) -> str:
    """``$1,234.57``; an en dash when there is no value (e.g. an average over zero tokens)."""
    if value is None:
        return "\N{EN DASH}"
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{'-' if rounded < 0 else ''}${abs(rounded):,.{places}f}"


def rounded(value: Decimal | None, places: int = CARD_PLACES) -> Decimal | None:
    """`value` rounded half up to `places`: what every card, table cell and tooltip shows (the CSV keeps
    the exact value)."""
    return None if value is None else value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def change(current: Decimal | None, previous: Decimal | None, places: int = CARD_PLACES) -> str | None:
    """``+$1.23 (+12.3%)``: the change from `previous` to `current`; None when either is missing.

    When the previous amount is negligible (it shows as $0.00 at `places`, or the change would be
    over 1000%), a percentage says nothing: ``+$1.23 (new)`` when it rounds to zero, else the amount
    alone."""
    if current is None or previous is None:
        return None
    difference = current - previous
    text = f"{'-' if rounded(difference, places) < 0 else '+'}{money(abs(difference), places)}"
    if rounded(previous, places) == 0:
        return text if rounded(current, places) == 0 else f"{text} (new)"
    percent = (difference * 100 / previous).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if abs(percent) > MAX_PERCENT:
        return text
    return f"{text} ({'+' if percent >= 0 else ''}{percent}%)"


def literal(text: str) -> str:
    """`text` for st.markdown with every Markdown character escaped (a model named a_b_c stays a_b_c)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$])", r"\\\1", text)
