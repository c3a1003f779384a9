"""The ``price_catalog`` asset: the catalog CSV at $METERLINE_PRICES, typed, in the warehouse."""


import dagster as dg

from orchestration.catalog import read_catalog
from orchestration.raw_layer import write_catalog
from orchestration.resources import MeterlinePaths


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
