"""The nightly schedule: every night, materialize the arrival day that just ended.

Files of arrival day D land in ``date=D/`` during D (UTC) and may trickle in a
little after midnight, so the tick for D fires at D+1 ``HH``:00 UTC, where HH
is ``$METERLINE_SCHEDULE_DELAY_HOURS`` (default 2; read when the code location
loads). The partitions include today (end_offset=1), so Dagster's
``build_schedule_from_partitioned_job`` would pick today's still-open day:
this schedule names the previous day explicitly. Its run key is the day, so a
tick is never run twice; files landing after the tick are the late-files
sensor's job (sensors.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from meterline.settings import DEFAULTS, Settings

DELAY_ENV = "METERLINE_SCHEDULE_DELAY_HOURS"
SCHEDULE_NAME = "nightly_arrival_day"
TRIGGER_TAG = "meterline/trigger"


def previous_arrival_day(tick: datetime) -> date:
    """The arrival day (UTC) that ended before the tick at ``tick``."""
    return tick.astimezone(UTC).date() - timedelta(days=1)


def build_nightly_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    delay = Settings.from_env().schedule_delay_hours

    @dg.schedule(
        name=SCHEDULE_NAME,
        job=job,
        cron_schedule=f"0 {delay} * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"At {delay:02d}:00 UTC, materialize the previous arrival day "
            f"(delay from ${DELAY_ENV}, default {DEFAULTS[DELAY_ENV]} h)."
        ),
    )
    def nightly_arrival_day(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = previous_arrival_day(context.scheduled_execution_time).isoformat()
        return dg.RunRequest(run_key=day, partition_key=day, tags={TRIGGER_TAG: "nightly"})

    return nightly_arrival_day
