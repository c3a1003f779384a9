"""Runs whose process is gone: recognised and marked failed.

A run killed with ``kill -9`` (or by the OOM killer, or a power cut) cannot report its own end:
the Dagster instance keeps it STARTED, ``meterline status`` shows its days ``running`` and the
run queue keeps later runs of ``meterline_job`` waiting behind it (one warehouse writer at a time).

Every meterline run therefore carries the identity of its process in its tags (pid, host, and
the process's start time, so a reused pid is not mistaken for it): ``meterline materialize``
sets them when it starts the run, a run launched by Dagster (UI, schedule, sensor, daemon) when
its ``paths`` resource is set up. :func:`fail_dead_runs` marks failed every unfinished run of
this host whose process no longer exists. It runs when ``meterline materialize``/``reprice``
start, in ``meterline status``, and every 30 s in the Dagster daemon (sensor ``dead_runs``).
A run of another host, or one started before it had tags, is left alone.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

PID_TAG = "meterline/pid"
HOST_TAG = "meterline/host"
STARTED_TAG = "meterline/process_start"
UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, /proc/<pid>/stat field 22), or
    None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_tags() -> dict[str, str]:
    """The tags naming this process as a run's process."""
    pid = os.getpid()
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), STARTED_TAG: process_start(pid) or ""}


def process_is_gone(tags: dict[str, str]) -> bool:
    """True when the tags name a process of this host that no longer exists (or a reused pid)."""
    pid, host, started = tags.get(PID_TAG), tags.get(HOST_TAG), tags.get(STARTED_TAG)
    if not pid or host != socket.gethostname():
        return False
    now = process_start(int(pid))
    return now is None or (bool(started) and now != started)


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every unfinished run of this host whose process is gone; their ids."""
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        if process_is_gone(run.tags):
            instance.report_run_failed(
                run,
                message=f"the run's process (pid {run.tags[PID_TAG]} on {run.tags[HOST_TAG]}) is gone, killed "
                "or crashed: marked failed by meterline. Re-run its arrival days (idempotent).",
            )
            failed.append(run.run_id)
    return failed


def build_dead_runs_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name="dead_runs",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks failed the runs whose process is gone (kill -9, a crash), so that the run "
        "queue starts the runs waiting behind them and the days do not stay 'running'.",
    )
    def dead_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        failed = fail_dead_runs(context.instance)
        for run_id in failed:
            context.log.warning(f"run {run_id}: its process is gone; marked failed")
        return dg.SkipReason(f"{len(failed)} run(s) with a dead process marked failed")

    return dead_runs
