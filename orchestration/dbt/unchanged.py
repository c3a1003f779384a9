"""A window of arrival days where nothing arrived: the dbt models stay as the last build left them.

The incremental models rebuild only the event days their run's arrival days touch
(int_batch_event_days), so when those days hold no record, no reject and no event day touched
before, a full ``dbt build`` (~4 s of an empty night, most of it) would change nothing in them;
the views do not change either. Only the models rebuilt whole every run (:data:`REBUILT_WHOLE`,
the tables holding the run's batch: its event days and its counted deliveries) would change, to
empty. The dbt step then builds those and runs their tests, and reports every other selected model
as materialized with the data version of its last build (Dagster's "unchanged"), and every other
selected dbt test with the result it had there. The checks after dbt and the publication run as on
any night, on no day.

That holds only while the last build is the one of this code: :func:`reason_to_build` names what
makes a full build necessary (a model never built or not in the warehouse, a model's SQL changed
since its last build, a dbt test that did not pass last time, the Spark engine, whose warehouse
this process does not read).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import Any

import dagster as dg

from meterline.raw_layer import rows_in_days
from meterline.settings import Settings
from orchestration.internals import CODE_VERSION_TAG, DATA_VERSION_TAG, AssetCheckExecutionRecordStatus
from orchestration.partitions import days_in_window
from orchestration.quality import CARRIED_OVER
from orchestration.resources import MeterlinePaths

# The models materialized as tables, rebuilt whole every run (tests/test_dbt_args.py checks the list
# against the manifest); every other model is incremental or a view.
REBUILT_WHOLE = (dg.AssetKey("int_batch_event_days"), dg.AssetKey("int_usage_deduped"))
_COMPLETED = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}


@dataclass(frozen=True)
class Built:
    """A model's last materialization: its code version, data version and run."""

    code_version: str | None
    data_version: str | None
    run_id: str


@dataclass(frozen=True)
class Tested:
    """A dbt test's last completed result."""

    passed: bool
    severity: dg.AssetCheckSeverity
    run_id: str


def reason_to_build(
    *,
    engine: str,
    arrived_rows: int,
    selected: Set[dg.AssetKey],
    code_versions: Mapping[dg.AssetKey, str | None],
    built: Mapping[dg.AssetKey, Built],
    relations: Set[str],
    tests: Mapping[dg.AssetCheckKey, Tested | None],
) -> str | None:
    """Why the selected models need a full dbt build; None when the window is empty and the last
    build of every selected model is this code's, in the warehouse, with its tests passed."""
    if engine != "duckdb":
        return f"the {engine} engine builds every run"
    if arrived_rows:
        return f"{arrived_rows} raw rows in the window"
    for key in REBUILT_WHOLE:
        if key not in selected:
            return f"{key.to_user_string()} is not selected"
    for key in sorted(selected, key=lambda key: key.to_user_string()):
        name = key.to_user_string()
        if key not in built:
            return f"{name} was never built"
        if built[key].code_version != code_versions.get(key):
            return f"{name} changed since its last build"
        if key.path[-1] not in relations:
            return f"{name} is not in the warehouse"
    for check, result in sorted(tests.items(), key=lambda item: item[0].to_user_string()):
        if result is None:
            return f"dbt test {check.name} has never run"
        if not result.passed:
            return f"dbt test {check.name} did not pass in its last run"
    return None


@dataclass(frozen=True)
class Unchanged:
    """What an empty window's dbt step reports beside its build of :data:`REBUILT_WHOLE`."""

    built: Mapping[dg.AssetKey, Built]  # in dependency order
    tests: Mapping[dg.AssetCheckKey, Tested]
    window: str

    def events(self, dbt_events: Iterable[Any]) -> Iterator[Any]:
        """The events of dbt's build of :data:`REBUILT_WHOLE` (a second's build, gathered first: a
        multi-asset yields its materializations upstream first), with every other selected model and
        dbt test as its last build left it."""
        rebuilt: dict[dg.AssetKey, Any] = {}
        others: list[Any] = []
        for event in dbt_events:
            if isinstance(event, dg.MaterializeResult) and event.asset_key is not None:
                rebuilt[event.asset_key] = event
            else:
                others.append(event)
        for key, last in self.built.items():
            yield rebuilt.pop(key, None) or dg.MaterializeResult(
                asset_key=key,
                data_version=dg.DataVersion(last.data_version) if last.data_version else None,
                metadata={"dbt": f"not run: nothing arrived in {self.window}", CARRIED_OVER: last.run_id},
            )
        yield from rebuilt.values()
        yield from others
        produced = {
            dg.AssetCheckKey(event.asset_key, event.check_name or "")
            for event in others
            if isinstance(event, dg.AssetCheckResult) and event.asset_key is not None
        }
        for check, test in sorted(self.tests.items(), key=lambda item: item[0].to_user_string()):
            if check in produced:
                continue
            yield dg.AssetCheckResult(
                asset_key=check.asset_key,
                check_name=check.name,
                passed=test.passed,
                severity=test.severity,
                description=f"not run: nothing arrived in {self.window}; the model is as it was in run "
                f"{test.run_id}, where this test passed",
                metadata={CARRIED_OVER: test.run_id},
            )


def _last_builds(instance: dg.DagsterInstance, keys: Set[dg.AssetKey]) -> dict[dg.AssetKey, Built]:
    built = {}
    for key, entry in instance.get_latest_materialization_events(list(keys)).items():
        if entry is not None and entry.asset_materialization is not None:
            tags = entry.asset_materialization.tags or {}
            built[key] = Built(tags.get(CODE_VERSION_TAG), tags.get(DATA_VERSION_TAG), entry.run_id)
    return built


def _last_tests(instance: dg.DagsterInstance, checks: Set[dg.AssetCheckKey]) -> dict[dg.AssetCheckKey, Tested | None]:
    """Each test's last completed result (this run's are only planned yet)."""
    tests: dict[dg.AssetCheckKey, Tested | None] = {}
    for check in checks:
        history = instance.event_log_storage.get_asset_check_execution_history(check, limit=1, status=_COMPLETED)
        evaluation = history[0].event.asset_check_evaluation if history and history[0].event else None
        tests[check] = (
            Tested(evaluation.passed, evaluation.severity, history[0].run_id) if evaluation is not None else None
        )
    return tests


def unchanged_window(
    context: dg.AssetExecutionContext, paths: MeterlinePaths, settings: Settings
) -> tuple[Unchanged | None, str | None]:
    """What to report instead of a full dbt build of the run's window; else None, and why a window
    where nothing arrived still needs one (None when something arrived: the usual night)."""
    window = context.partition_time_window
    arrived = rows_in_days(settings.raw, days_in_window(window))
    selected = set(context.selected_asset_keys)
    checks = set(context.selected_asset_check_keys)
    relations: set[str] = set()
    built: dict[dg.AssetKey, Built] = {}
    tests: dict[dg.AssetCheckKey, Tested | None] = {}
    if not arrived and settings.engine == "duckdb":  # else reason_to_build needs none of these
        built = _last_builds(context.instance, selected)
        tests = _last_tests(context.instance, checks)
        with paths.connect_warehouse(read_only=True) as con:
            relations = {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}
    reason = reason_to_build(
        engine=settings.engine,
        arrived_rows=arrived,
        selected=selected,
        code_versions=context.assets_def.code_versions_by_key,
        built=built,
        relations=relations,
        tests=tests,
    )
    if reason is not None:
        return None, (reason if not arrived else None)
    span = f"arrival days {window.start.date()} .. {window.end.date()} (end excluded)"
    deps = context.assets_def.asset_deps
    order = TopologicalSorter({key: deps.get(key, set()) & selected for key in selected}).static_order()
    ordered = {key: built[key] for key in order}
    return Unchanged(ordered, {check: test for check, test in tests.items() if test is not None}, span), None
