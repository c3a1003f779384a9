"""The daily partitioning over arrival days (UTC), shared by every partitioned asset."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta

import dagster as dg

from meterline.settings import FIRST_ARRIVAL_DAY

# end_offset=1: today's arrival day is a partition too (late files land all day).
arrival_days = dg.DailyPartitionsDefinition(start_date=FIRST_ARRIVAL_DAY, timezone="UTC", end_offset=1)

# The checks on partitioned assets are partitioned too (``partitions_def=arrival_days``): the UI shows
# a check's result per arrival day, and a result's look-up of the materialization it checked reads
# the run's days, where an unpartitioned check made Dagster list every day since FIRST_ARRIVAL_DAY
# (~2,500) for each result (1.7 s of a small run). Dagster 1.13 calls a check's partitions_def a
# preview; pyproject.toml pins dagster exactly, so its behaviour cannot change under us.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)
# A run of several arrival days is one run (BackfillPolicy.single_run(), which Dagster 1.13 calls beta on
# a plain @asset): the same pin; the warning printed at every meterline command told a user nothing.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`", category=dg.BetaWarning)


def days_in_window(window: dg.TimeWindow) -> list[date]:
    """The arrival days of a (possibly multi-day) partition time window, oldest first."""
    first: datetime = window.start
    count = (window.end - window.start).days
    return [(first + timedelta(days=i)).date() for i in range(count)]
