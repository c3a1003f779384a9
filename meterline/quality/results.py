"""The result of one data-quality check, as the reports and Dagster show it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

BLOCKING = "blocking"  # a failure stops the run: nothing is published
WARNING = "warning"  # a failure is reported; the run still publishes
# How many offending rows a failed check keeps (in dq_summary.json and in Dagster).
MAX_OFFENDING_ROWS = 20


@dataclass(frozen=True)
class Scope:
    """What a run checks: its arrival-day partitions and the UTC event days it rebuilt."""

    arrival_days: tuple[date, ...]
    event_days: tuple[date, ...] = ()

    @property
    def partition(self) -> str:
        """The run's arrival days as a partition label: ``2026-11-05`` or ``2026-11-05..2026-11-07``."""
        if not self.arrival_days:
            return ""
        first, last = min(self.arrival_days), max(self.arrival_days)
        return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


@dataclass(frozen=True)
class CheckResult:
    name: str
    asset: str  # the Dagster asset key as a path: raw/usage_records, fct_cost, ...
    severity: str  # BLOCKING or WARNING
    passed: bool
    observed: Any  # the measured value: a count of offending rows, a share, ...
    summary: str  # one line saying what was measured and, on failure, what is wrong
    partition: str | None = None  # arrival days checked; None for an unpartitioned asset
    offending_rows: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        """True when this result stops the run."""
        return not self.passed and self.severity == BLOCKING

    def with_partition(self, partition: str | None) -> CheckResult:
        return dataclasses.replace(self, partition=partition)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "asset": self.asset,
            "partition": self.partition,
            "severity": self.severity,
            "passed": self.passed,
            "observed": jsonable(self.observed),
            "summary": self.summary,
            "offending_rows": jsonable(self.offending_rows[:MAX_OFFENDING_ROWS]),
            "details": jsonable(self.details),
        }


def jsonable(value: Any) -> Any:
    """``value`` with Decimals as exact strings and dates/times in ISO format, for JSON."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def rows_as_dicts(columns: list[str], rows: list[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]
