"""The Great Expectations suite on fct_cost's rebuilt event days (the raw records' rules are SQL:
``meterline.quality.rules.usage_records_rules``).

GX validates pandas batches backed by Arrow, fetched from DuckDB holding only
the columns a suite needs (GX 1.24's SQL datasource fails on DuckDB). A large
scope is validated in chunks of :data:`CHUNK_ROWS` rows, streamed from one scan of the
suite's query. Each chunk's validation result is
stored in the run's GX project under the report folder and rendered into its
Data Docs; the chunk results are merged into one :class:`CheckResult`.
Row-by-row rules live here; set-level rules (request_id's uniqueness among them) and
money rules are exact SQL (meterline.quality.rules).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from meterline.contract import BILLING_MODES, ENDPOINTS, MODEL_TYPES, PURPOSES, REQUIRED_TEXT
from meterline.contract import USAGE_COUNTERS as COUNTERS
from meterline.quality.report import DATA_DOCS_DIR, GX_DIR, locked
from meterline.quality.results import BLOCKING, MAX_OFFENDING_ROWS, CheckResult, Scope
from meterline.quality.rules import COSTS, period_filter

CHUNK_ROWS = 1_000_000
T = TypeVar("T")
KEY_COLUMN = "request_id"
# Part of input_tokens: cached + cache-write tokens (raw_usage.md), computed in SQL for GX.
PROMPT_PARTS = "cached_input_tokens + cache_write_tokens as cached_and_cache_write_tokens"
# GX sees each cost as its exact sign (-1, 0, 1, NULL when missing): whether a cost is there is all
# the suite asks of it (a negative cost is no_negative_cost's rule), and numpy integers are what GX
# compares fastest (see _pandas_type). The money itself is compared exactly in SQL
# (total_is_sum_of_parts here, reconciliation in meterline.quality.rules); its type is enforced by
# the dbt contract of fct_cost.
COST_SIGNS = tuple(f"{cost}_sign" for cost in COSTS)
# A chunk is validated for pass/fail only (BOOLEAN_ONLY: no unexpected rows are gathered, ~40%
# faster); a chunk that fails is validated again with DETAILS, which counts and names its
# offending rows, and that result replaces the first in the GX project.
PASS_FAIL_FORMAT = {"result_format": "BOOLEAN_ONLY"}
DETAILS_FORMAT = {
    "result_format": "SUMMARY",
    "unexpected_index_column_names": [KEY_COLUMN],
    "partial_unexpected_count": MAX_OFFENDING_ROWS,
}


@dataclass(frozen=True)
class Suite:
    name: str  # the GX suite and the Dagster check name
    asset: str
    sql: str  # the suite's columns for the scope ($days)
    days: Callable[[Scope], tuple]  # the days bound to $days
    expectations: Callable[[], list[Any]]  # built on demand: importing GX takes seconds


def _fct_cost_expectations() -> list[Any]:
    import great_expectations.expectations as gxe

    text = (*REQUIRED_TEXT, "model_type", "purpose", "endpoint")
    return [
        *(
            gxe.ExpectColumnValuesToNotBeNull(column=c)
            for c in (*text, "created_at", "price_effective_from", *COST_SIGNS)
        ),
        gxe.ExpectColumnValuesToBeInSet(column="billing_mode", value_set=list(BILLING_MODES)),
        gxe.ExpectColumnValuesToBeInSet(column="purpose", value_set=list(PURPOSES)),
        gxe.ExpectColumnValuesToBeInSet(column="model_type", value_set=list(MODEL_TYPES)),
        gxe.ExpectColumnValuesToBeInSet(column="endpoint", value_set=list(ENDPOINTS)),
        gxe.ExpectColumnValuesToBeInSet(column="request_count", value_set=[1]),
        *(gxe.ExpectColumnValuesToBeOfType(column=column, type_="int") for column in COUNTERS),
        # A cost's sign is no_negative_cost's rule (SQL, exact, with the offending requests); the suite
        # checks that every cost is there.
        *(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0) for column in COUNTERS),
        gxe.ExpectColumnValuesToBeInSet(column="total_is_sum_of_parts", value_set=[True]),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="created_at", column_B="price_effective_from", or_equal=True
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="input_tokens", column_B="cached_and_cache_write_tokens", or_equal=True
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="output_tokens", column_B="reasoning_tokens", or_equal=True
        ),
    ]


FCT_COST = Suite(
    name="fct_cost_suite",
    asset="fct_cost",
    sql=f"""
        select {", ".join(REQUIRED_TEXT)}, model_type, purpose, endpoint, created_at, price_effective_from,
               request_count, {", ".join(COUNTERS)}, {PROMPT_PARTS},
               {", ".join(f"sign({cost})::bigint as {cost}_sign" for cost in COSTS)},
               total_cost = input_cost + output_cost + other_cost as total_is_sum_of_parts
        from marts.fct_cost
        where {period_filter("created_at", "hourly")}
    """,
    days=lambda scope: scope.event_days,
    expectations=_fct_cost_expectations,
)


def _context(folder: Path) -> Any:
    """The run's GX file project in ``folder/gx``, its Data Docs in ``folder/data_docs``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every pandas batch below HASH_THRESHOLD bytes (a batch marker, hashing each
    # value: ~60% of validating a 1M-row chunk) and skips it above; meterline's chunks skip it too.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="file", project_root_dir=str(folder))
    if "meterline" not in context.list_data_docs_sites():
        context.add_data_docs_site(
            "meterline",
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": f"../{DATA_DOCS_DIR}/",
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        context.delete_data_docs_site("local_site")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def _validation_definition(context: Any, suite: Suite) -> Any:
    import great_expectations as gx

    source = context.data_sources.add_or_update_pandas("meterline")
    asset = next((a for a in source.assets if a.name == suite.name), None) or source.add_dataframe_asset(suite.name)
    batch = next((b for b in asset.batch_definitions if b.name == "batch"), None)
    batch = batch or asset.add_batch_definition_whole_dataframe("batch")
    expectation_suite = context.suites.add_or_update(
        gx.ExpectationSuite(name=suite.name, expectations=suite.expectations())
    )
    return context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=expectation_suite)
    )


def _count(con: duckdb.DuckDBPyConnection, suite: Suite, days: list) -> int:
    return con.execute(f"select count(*) from ({suite.sql})", {"days": days}).fetchall()[0][0]


def _batches(con: duckdb.DuckDBPyConnection, suite: Suite, days: list, chunk_rows: int) -> Iterator[Any]:
    """The suite's rows as pandas frames of ``chunk_rows`` rows (the last one smaller), from one
    streamed scan of the query."""
    import pyarrow as pa

    reader = con.sql(suite.sql, params={"days": days}).to_arrow_reader(chunk_rows)
    pending: list[Any] = []  # DuckDB's batches (a row group each, at most) not yet in a chunk
    held = 0
    for batch in reader:
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            rows = pa.Table.from_batches(pending, schema=reader.schema)
            yield rows.slice(0, chunk_rows).to_pandas(types_mapper=_pandas_type)
            rest = rows.slice(chunk_rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending, schema=reader.schema).to_pandas(types_mapper=_pandas_type)


def _pandas_type(arrow_type: Any) -> Any:
    """Arrow-backed columns, except integers: GX compares numpy ints vectorized, but runs a
    Python function per value on any other dtype (10 of 16 s of a 1M-row chunk)."""
    import pandas as pd
    import pyarrow as pa

    return None if pa.types.is_integer(arrow_type) else pd.ArrowDtype(arrow_type)


class _Merged:
    """Per-expectation totals over the chunks of one validation."""

    def __init__(self) -> None:
        self.expectations: dict[str, dict[str, Any]] = {}
        self.offending: list[dict[str, Any]] = []

    def add(self, validation: Any, rows: int) -> None:
        """Add one chunk's validation of ``rows`` rows (a pass/fail-only result counts every row)."""
        for result in validation.results:
            config = result.expectation_config
            columns = {k: v for k, v in config.kwargs.items() if k in ("column", "column_A", "column_B")}
            label = f"{config.type}({', '.join(str(v) for v in columns.values())})"
            entry = self.expectations.setdefault(
                label, {"expectation": label, "success": True, "element_count": 0, "unexpected_count": 0}
            )
            details = result.result or {}
            entry["success"] = entry["success"] and bool(result.success)
            entry["element_count"] += details.get("element_count", rows)
            entry["unexpected_count"] += details.get("unexpected_count") or 0
            if result.exception_info and result.exception_info.get("raised_exception"):
                entry["error"] = result.exception_info.get("exception_message")
            if not result.success and "observed_value" in details:
                entry["observed_value"] = details["observed_value"]
            for row in details.get("partial_unexpected_index_list") or []:
                if len(self.offending) < MAX_OFFENDING_ROWS:
                    self.offending.append({"expectation": label, **row})

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [entry for entry in self.expectations.values() if not entry["success"]]


def import_ahead() -> threading.Thread:
    """Start importing Great Expectations in a daemon thread and return it.

    The import is ~2.4 s of Python that every run with rows pays before fct_cost's suite. Started
    while dbt builds (dbt is a process of its own; this process only relays its events), it costs
    little wall time, and the suite then finds GX loaded. The caller joins the thread before its
    own thread does anything that may import a module: two threads importing modules that import
    each other (sqlalchemy.orm's, which GX imports) can each get the other's half-initialized module
    and fail. An import that fails here is left for the suite's own import to raise, with its
    traceback.

    sqlalchemy.orm itself is imported here, in the caller's thread, before the thread starts (~0.16
    s): a run of the test suite once failed in the dbt step on a half-initialized
    ``sqlalchemy.orm.exc`` although the dbt step imports nothing while the thread runs. Where the
    other import came from was not found, so the package whose modules import each other is loaded
    whole before anything runs beside it."""
    import sqlalchemy.orm  # noqa: F401

    thread = threading.Thread(target=_import_gx, name="meterline-import-gx", daemon=True)
    thread.start()
    return thread


def _import_gx() -> None:
    try:
        import great_expectations  # noqa: F401
        import great_expectations.expectations  # noqa: F401
        from great_expectations.core.run_identifier import RunIdentifier  # noqa: F401
    except Exception:  # noqa: BLE001, S110 - raised again, with its traceback, by the suite's import
        pass


def validate_beside(
    con: duckdb.DuckDBPyConnection,
    suite: Suite,
    scope: Scope,
    folder: Path,
    work: Callable[[], T],
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[T, CheckResult]:
    """``work()`` (other queries on ``con``) and :func:`validate` of ``suite``: side by side when the
    suite's rows fit in one chunk, one after the other otherwise.

    GX's validation is Python on one core while DuckDB's queries release the GIL: side by side, the
    checks after dbt of a 1M-record day took 1.7-1.8 s instead of ~2.0 s (BENCHMARKS.md). Only one
    chunk's worth: the rules of a large day hold much of DuckDB's memory, and a GX chunk beside them
    took a 20M-record day's run over 4 GB (BENCHMARKS.md). The suite reads through a cursor of its
    own; GX is imported in this thread first, so that the two threads never import at once (see
    :func:`import_ahead`). An exception of either is raised here, after both have ended."""
    rows = _count(con, suite, list(suite.days(scope)))
    if not 0 < rows <= chunk_rows:
        return work(), validate(con, suite, scope, folder, chunk_rows=chunk_rows)
    _import_gx()
    with con.cursor() as cursor, ThreadPoolExecutor(1, thread_name_prefix="meterline-gx") as pool:
        validation = pool.submit(validate, cursor, suite, scope, folder, chunk_rows=chunk_rows)
        return work(), validation.result()


def validate(
    con: duckdb.DuckDBPyConnection,
    suite: Suite,
    scope: Scope,
    folder: Path,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> CheckResult:
    """Validate ``suite`` on its scope's rows, chunk by chunk; store the results and rebuild the
    run's Data Docs in the report ``folder``. Without rows (an empty arrival day) it passes without
    starting GX (its import alone is ~3.5 s, a fifth of such a run)."""
    days = list(suite.days(scope))
    rows = _count(con, suite, days)
    if rows == 0:  # an empty arrival day: nothing for an expectation to hold or break; GX is not started
        return CheckResult(
            name=suite.name,
            asset=suite.asset,
            severity=BLOCKING,
            passed=True,
            observed=0,
            summary="no rows in the run's days: nothing to validate",
            details={"rows": 0, "chunks": 0, "failed_expectations": []},
        )
    from great_expectations.core.run_identifier import RunIdentifier

    chunks = max(1, math.ceil(rows / chunk_rows))
    merged = _Merged()
    run_time = datetime.now(UTC)
    with locked(folder):
        context = _context(folder)
        definition = _validation_definition(context, suite)
        for chunk, batch in enumerate(_batches(con, suite, days, chunk_rows)):
            run_id = RunIdentifier(
                run_name=f"{scope.partition or 'all'} chunk {chunk + 1} of {chunks}", run_time=run_time
            )
            parameters = {"dataframe": batch}
            validation = definition.run(batch_parameters=parameters, result_format=PASS_FAIL_FORMAT, run_id=run_id)
            if not validation.success:
                validation = definition.run(batch_parameters=parameters, result_format=DETAILS_FORMAT, run_id=run_id)
            merged.add(validation, len(batch))
            del batch, parameters
        context.build_data_docs()
    failed = merged.failed
    unexpected = sum(entry["unexpected_count"] for entry in failed)
    first = "; ".join(f"{entry['expectation']}: {entry['unexpected_count']} unexpected" for entry in failed[:3])
    summary = (
        f"{len(failed)} of {len(merged.expectations)} expectations failed on {rows} rows ({first})"
        if failed
        else f"{len(merged.expectations)} expectations met on {rows} rows in {chunks} chunks"
    )
    return CheckResult(
        name=suite.name,
        asset=suite.asset,
        severity=BLOCKING,
        passed=not failed,
        observed=unexpected,
        summary=summary,
        offending_rows=merged.offending,
        details={
            "rows": rows,
            "chunks": chunks,
            "failed_expectations": failed,
            "data_docs": f"{DATA_DOCS_DIR}/index.html",
            "gx_project": GX_DIR,
        },
    )
