"""The daily partitioning over arrival days (UTC), shared by every partitioned asset."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from meterline.settings import FIRST_ARRIVAL_DAY

# end_offset=1: today's arrival day is a partition too (late files land all day).
arrival_days = dg.DailyPartitionsDefinition(start_date=FIRST_ARRIVAL_DAY, timezone="UTC", end_offset=1)


def days_in_window(window: dg.TimeWindow) -> list[date]:
    """The arrival days of a (possibly multi-day) partition time window, oldest first."""
    first: datetime = window.start
    count = (window.end - window.start).days
    return [(first + timedelta(days=i)).date() for i in range(count)]
