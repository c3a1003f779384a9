"""The page's time grains and UTC windows: a window is a run of whole periods of one grain.

Times are naive ``datetime`` values holding UTC, like ``period_start`` in the marts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Label shown on the page -> table suffix in schema marts (marts.md).
GRAINS: dict[str, str] = {"Month": "monthly", "Day": "daily", "Hour": "hourly"}
UNIT_NAMES = {"monthly": "month", "daily": "day", "hourly": "hour"}
LABEL_FORMATS = {"monthly": "%Y-%m", "daily": "%Y-%m-%d", "hourly": "%Y-%m-%d %H:00"}


def truncate(moment: datetime, grain: str) -> datetime:
    """The start of the period of `grain` holding `moment`."""
    if grain == "monthly":
        return datetime(moment.year, moment.month, 1)
    if grain == "daily":
        return datetime(moment.year, moment.month, moment.day)
    return moment.replace(minute=0, second=0, microsecond=0, tzinfo=None)


def shift(period: datetime, grain: str, count: int) -> datetime:
    """The start of the period `count` periods after (before, when negative) `period`."""
    if grain == "monthly":
        months = period.year * 12 + period.month - 1 + count
        return datetime(months // 12, months % 12 + 1, 1)
    return period + (timedelta(days=count) if grain == "daily" else timedelta(hours=count))


def period_count(first: datetime, last: datetime, grain: str) -> int:
    """How many periods from `first` to `last`, both included."""
    if grain == "monthly":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    seconds = (last - first).total_seconds()
    return int(seconds // (86_400 if grain == "daily" else 3_600)) + 1


def period_label(period: datetime, grain: str) -> str:
    return period.strftime(LABEL_FORMATS[grain])


@dataclass(frozen=True)
class Window:
    """The periods `first` .. `last` (both included) of `grain`; rows match ``first <= period_start < end``."""

    grain: str
    first: datetime
    last: datetime

    def __post_init__(self) -> None:
        if self.grain not in UNIT_NAMES:
            raise ValueError(f"unknown grain {self.grain!r}")
        if self.last < self.first:
            raise ValueError(f"window ends ({self.last}) before it starts ({self.first})")

    @property
    def end(self) -> datetime:
        return shift(self.last, self.grain, 1)

    @property
    def periods(self) -> int:
        return period_count(self.first, self.last, self.grain)

    def previous(self) -> Window:
        """The window of the same number of periods that ends where this one starts."""
        return Window(self.grain, shift(self.first, self.grain, -self.periods), shift(self.first, self.grain, -1))

    def label(self) -> str:
        first, last = period_label(self.first, self.grain), period_label(self.last, self.grain)
        return f"{first} UTC" if first == last else f"{first} \N{EN DASH} {last} UTC"

    def length_label(self) -> str:
        unit = UNIT_NAMES[self.grain]
        return f"{self.periods} {unit}{'' if self.periods == 1 else 's'}"
