"""The ``raw`` group: the price catalog and the arrival days of landing files, in the Parquet raw
layer (read in the warehouse through views)."""

from collections.abc import Iterator

import dagster as dg

from meterline.catalog import read_catalog
from meterline.errors import UsageError
from meterline.ingest import day_folder, ingest_day, unreadable_folders
from meterline.raw_layer import write_catalog
from orchestration.partitions import arrival_days, days_in_window
from orchestration.resources import TRANSIENT_IO_RETRY, MeterlinePaths

RAW_TABLES = {
    "usage_records": "Valid usage records of each arrival day, typed, created_at in UTC.",
    "usage_rejects": "Records of each arrival day that failed a rule of raw_usage.md, with the reason.",
    "arrival_manifest": "Files and records read per arrival day.",
    "arrival_event_days": "The event days each arrival day's records touched, now or before a rerun.",
}


@dg.multi_asset(
    name="raw_usage",
    specs=[
        dg.AssetSpec(["raw", table], description=text, group_name="raw", kinds={"parquet"})
        for table, text in RAW_TABLES.items()
    ],
    partitions_def=arrival_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=TRANSIENT_IO_RETRY,
    description=(
        "Every file of $METERLINE_LANDING/date=D/ parsed and validated by DuckDB into the Parquet "
        "raw layer $METERLINE_RAW/arrival_date=D/, the one copy that both engines and the checks read "
        "(the warehouse's raw.* are views over it); a rerun replaces the day's folder whole."
    ),
)
def raw_usage(context: dg.AssetExecutionContext, paths: MeterlinePaths) -> Iterator[dg.MaterializeResult]:
    settings = paths.settings()
    if not settings.landing.is_dir():
        raise dg.Failure(
            f"the landing folder {settings.landing} does not exist. Set METERLINE_LANDING to the "
            "folder holding date=YYYY-MM-DD/ subfolders (raw_usage.md), or create it.",
            allow_retries=False,
        )
    days = days_in_window(context.partition_time_window)
    for warning in unreadable_folders(settings.landing):
        context.log.warning(warning)
    totals = {"files": 0, "records_read": 0, "valid": 0, "rejected": 0}
    # Every day is tried: one run names every unreadable file of its window, not one per run.
    unreadable: list[str] = []
    with paths.connect_warehouse() as con:
        for number, day in enumerate(days, 1):
            try:
                result = ingest_day(con, settings.landing, settings.raw, day)
            except UsageError as exc:
                unreadable.append(str(exc))
                continue
            for skipped in result.skipped:
                context.log.warning(f"arrival day {day}: {skipped}")
            context.log.info(
                f"[{number}/{len(days)}] arrival day {day}: {result.files} files, "
                f"{result.records_read} records read, {result.valid} accepted, {result.rejected} rejected"
                + ("" if day_folder(settings.landing, day).is_dir() else " (no folder: empty day)")
            )
            for key in totals:
                totals[key] += getattr(result, key)
    if unreadable:
        # The message's last line is what `meterline materialize` prints: every bad file, and the fix.
        raise UsageError(" ".join(unreadable))
    for table in RAW_TABLES:
        yield dg.MaterializeResult(asset_key=["raw", table], metadata={**totals, "arrival_days": len(days)})


@dg.asset(
    key=["raw", "price_catalog"],
    group_name="raw",
    kinds={"duckdb", "csv"},
    description=(
        "The price catalog of pricing.md from $METERLINE_PRICES, reloaded on every run "
        "(warehouse table and $METERLINE_RAW/price_catalog.parquet)."
    ),
)
def price_catalog(context: dg.AssetExecutionContext, paths: MeterlinePaths) -> dg.MaterializeResult:
    settings = paths.settings()
    with paths.connect_warehouse() as con:
        read_catalog(con, settings.prices)
        write_catalog(con, settings.raw)
        rows = con.execute("select count(*) from raw.price_catalog").fetchall()[0][0]
    context.log.info(f"price catalog {settings.prices}: {rows} rows")
    return dg.MaterializeResult(metadata={"path": str(settings.prices), "rows": rows})
