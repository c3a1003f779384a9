"""The Dagster instance of an installation: $DAGSTER_HOME, created with meterline's dagster.yaml."""

from __future__ import annotations

import fcntl
import os
import shutil

from meterline.settings import INSTANCE_TEMPLATE, Settings


def prepare_instance(settings: Settings):
    """The Dagster instance at $DAGSTER_HOME (default data/dagster_home), created when missing
    with meterline's dagster.yaml (run queue and concurrency limits)."""
    from dagster import DagsterInstance

    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    # Two first runs started at once would both write dagster.yaml and create the instance's
    # SQLite tables, and one fails ("table already exists"): create them under a lock.
    with open(settings.dagster_home / ".instance.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not config.exists():
            shutil.copyfile(INSTANCE_TEMPLATE, config)
        instance = DagsterInstance.get()
        instance.get_run_records(limit=1)
    return instance
