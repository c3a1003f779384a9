"""The late-files sensor: rerun an arrival day whose folder changed after it was materialized.

Every minute it compares each ingested day's folder with the run that last
ingested it (status.py: a file or the folder modified after that run
started) and requests one run of exactly each such stale day; days never
ingested are the schedule's or a backfill's job. Its cursor maps each stale
day to the fingerprint (name, size, mtime of every usage file) already
requested, so a change triggers once: the next ticks see the same fingerprint
and request nothing, a further file makes a new fingerprint and a new
request. Once a rerun has ingested the day it is no longer stale and leaves
the cursor; a rerun that fails before ingesting leaves it in the cursor, so
it is not retried in a loop (``meterline status`` shows the day failed).
The rerun is idempotent: ingestion replaces the day's rows.
"""

from __future__ import annotations

import json

import dagster as dg

from meterline.settings import Settings
from orchestration.automation.schedules import TRIGGER_TAG
from orchestration.status import stale_days

SENSOR_NAME = "late_arrival_files"


def build_late_files_sensor(job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR_NAME,
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Reruns an arrival day when files in $METERLINE_LANDING/date=D/ are added or changed "
            "after D was materialized (once per change)."
        ),
    )
    def late_arrival_files(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        landing = Settings.from_env().landing
        if not landing.is_dir():
            return dg.SkipReason(f"the landing folder {landing} does not exist (set METERLINE_LANDING)")
        requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        stale = {day.isoformat(): current for day, current in stale_days(context.instance, landing).items()}
        run_requests = [
            dg.RunRequest(
                run_key=f"late-files:{day}:{current.digest[:16]}",
                partition_key=day,
                tags={TRIGGER_TAG: "late-files"},
            )
            for day, current in sorted(stale.items())
            if requested.get(day) != current.digest
        ]
        cursor = {day: current.digest for day, current in stale.items()}
        return dg.SensorResult(run_requests=run_requests, cursor=json.dumps(cursor, sort_keys=True))

    return late_arrival_files
