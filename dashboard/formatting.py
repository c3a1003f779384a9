"""Display text for exact amounts: money is rounded here, for display only (the data stays Decimal)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

CARD_PLACES = 2  # cost totals on the cards
AVERAGE_PLACES = 6  # averages per request and per 1K tokens: fractions of a cent
NO_NAME = "(no name)"  # shown for an API key whose records carry no name


def money(value: Decimal | None, places: int = CARD_PLACES) -> str:
    """``$1,234.57``; an en dash when there is no value (e.g. an average over zero tokens)."""
    if value is None:
        return "\N{EN DASH}"
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{'-' if rounded < 0 else ''}${abs(rounded):,.{places}f}"


def change(current: Decimal | None, previous: Decimal | None, places: int = CARD_PLACES) -> str | None:
    """``+$1.23 (+12.3%)``: the change from `previous` to `current`; None when either is missing."""
    if current is None or previous is None:
        return None
    difference = current - previous
    text = f"{'-' if difference < 0 else '+'}{money(abs(difference), places)}"
    if previous == 0:
        return text
    percent = (difference * 100 / previous).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{text} ({'+' if percent >= 0 else ''}{percent}%)"


def literal(text: str) -> str:
    """`text` for st.markdown with every Markdown character escaped (a model named a_b_c stays a_b_c)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$])", r"\\\1", text)
