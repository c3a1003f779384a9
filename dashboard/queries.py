"""Read-only access to the published serving file: every query the cost analysis page runs.

Table and column names come only from the fixed whitelists below; filter values are always bound
parameters, never pasted into the SQL. Money stays exact: rows are fetched as Python ``Decimal`` (a
DuckDB ``.df()`` would turn DECIMAL into float) and the averages are recomputed here from the sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from types import TracebackType
from typing import Self

import duckdb
import pandas as pd

from dashboard.periods import GRAINS, Window
from meterline.contract import MEASURES

DIMENSIONS = ("account_id", "api_key_id", "api_key_name", "model", "provider", "model_type", "purpose")
# The aggregate marts and their dimensions (marts.md), smallest first. A query reads the first one holding
# every column it groups or filters by; only cost_cube holds them all (API key and model filters need it).
MARTS: dict[str, tuple[str, ...]] = {
    "cost_overview": ("account_id",),
    "cost_by_model": ("account_id", "model"),
    "cost_by_type": ("account_id", "model_type", "purpose"),
    "cost_by_provider": ("account_id", "provider"),
    "cost_by_api_key": ("account_id", "api_key_id", "api_key_name"),
    "provider_model_details": ("account_id", "provider", "model"),
    "cost_cube": DIMENSIONS,
}
ALTERNATIVE_GRAINS = ("daily", "monthly")  # provider_alternatives_<grain> has no hourly table
AVERAGE_SCALE = Decimal("1e-18")  # the scale of the marts' averages (exact_divide in dbt_project/macros/money.sql)


class ServingUnreadable(Exception):
    """The serving file cannot be read as a publication: `problem` says what is wrong, for the page (it names
    no path: DuckDB's own message, with the paths of the Parquet files behind the views, is the cause)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _unreadable(error: duckdb.Error) -> ServingUnreadable:
    """What a DuckDB error met while reading a publication means for its reader."""
    if isinstance(error, duckdb.CatalogException):
        return ServingUnreadable("does not hold the published tables (schema marts, meta.publication)")
    if isinstance(error, duckdb.IOException):
        return ServingUnreadable("refers to Parquet files that are missing (moved or deleted)")
    if isinstance(error, duckdb.InvalidInputException):
        return ServingUnreadable("refers to Parquet files that are damaged (not valid Parquet)")
    return ServingUnreadable(f"could not be read ({type(error).__name__})")


@dataclass(frozen=True)
class Filters:
    """What the page's filters select: a grain (table suffix), one account or all, API keys and models
    (empty: all of them)."""

    grain: str
    account: str | None = None
    api_key_ids: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    def columns(self) -> set[str]:
        """The columns these filters need in the table they read."""
        wanted = {
            "account_id": self.account is not None,
            "api_key_id": bool(self.api_key_ids),
            "model": bool(self.models),
        }
        return {column for column, needed in wanted.items() if needed}


def choose_mart(columns: set[str]) -> str:
    """The smallest mart that has every one of `columns`."""
    for mart, dimensions in MARTS.items():
        if columns <= set(dimensions):
            return mart
    raise ValueError(f"no mart has the columns {sorted(columns)}")


def table_name(mart: str, grain: str) -> str:
    """``marts.<mart>_<grain>``, from the whitelists only."""
    if mart not in MARTS or grain not in GRAINS.values():
        raise ValueError(f"not a published table: {mart}_{grain}")
    return f"marts.{mart}_{grain}"


def exact_divide(numerator: Decimal, denominator: int) -> Decimal | None:
    """`numerator / denominator` rounded half up to 18 decimal places, as the marts do; None when dividing by 0."""
    if denominator == 0:
        return None
    with localcontext() as context:
        context.prec = 80
        return (numerator / denominator).quantize(AVERAGE_SCALE, rounding=ROUND_HALF_UP)


def with_averages(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus avg_cost_per_request and avg_cost_per_1k_tokens, recomputed from its summed measures."""
    sums = zip(frame["total_cost"], frame["request_count"], frame["input_tokens"], frame["output_tokens"], strict=True)
    per_request, per_1k_tokens = [], []
    for total, requests, input_tokens, output_tokens in sums:
        per_request.append(exact_divide(total, int(requests)))
        per_1k_tokens.append(exact_divide(total * 1000, int(input_tokens) + int(output_tokens)))
    return frame.assign(
        avg_cost_per_request=pd.Series(per_request, index=frame.index, dtype=object),
        avg_cost_per_1k_tokens=pd.Series(per_1k_tokens, index=frame.index, dtype=object),
    )


class ServingReader:
    """A read-only connection to the serving file. Open one per page run: a connection keeps reading the
    version it opened, and a new publication replaces the file atomically."""

    def __init__(self, path: Path) -> None:
        try:
            self._con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as error:
            raise ServingUnreadable("is not a DuckDB database (damaged, or replaced by another file)") from error
        # costs() answers per (filters, window, by) for this reader's life (one page run, one publication):
        # two sections asking the same (the cost-over-time chart stacked by model, and cost by model) query once.
        self._costs: dict[tuple[Filters, Window, tuple[str, ...]], pd.DataFrame] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._con.close()

    def _rows(self, sql: str, params: list[object] | None = None) -> tuple[list[tuple], list[str]]:
        """The rows and column names of `sql`; a failure to read the publication is a ServingUnreadable."""
        try:
            cursor = self._con.execute(sql, params or [])
            return cursor.fetchall(), [column[0] for column in cursor.description]
        except duckdb.Error as error:
            raise _unreadable(error) from error

    def _frame(self, sql: str, params: list[object]) -> pd.DataFrame:
        rows, columns = self._rows(sql, params)
        return pd.DataFrame.from_records(rows, columns=columns)

    def costs(self, filters: Filters, window: Window, by: tuple[str, ...] = ()) -> pd.DataFrame:
        """Every measure summed over `window` per group of `by` (``period_start`` and/or dimensions), largest
        total first (by period first when grouped by period), with the averages; no rows when nothing matches."""
        if window.grain != filters.grain:
            raise ValueError(f"window grain {window.grain} is not the filters' grain {filters.grain}")
        if (filters, window, by) not in self._costs:
            self._costs[(filters, window, by)] = self._costs_query(filters, window, by)
        return self._costs[(filters, window, by)].copy()

    def _costs_query(self, filters: Filters, window: Window, by: tuple[str, ...]) -> pd.DataFrame:
        if unknown := set(by) - {"period_start", *DIMENSIONS}:
            raise ValueError(f"cannot group by {sorted(unknown)}")
        conditions, params = ["period_start >= ?", "period_start < ?"], [window.first, window.end]
        if filters.account is not None:
            conditions.append("account_id = ?")
            params.append(filters.account)
        if filters.api_key_ids:
            conditions.append("list_contains(?::VARCHAR[], api_key_id)")
            params.append(list(filters.api_key_ids))
        if filters.models:
            conditions.append("list_contains(?::VARCHAR[], model)")
            params.append(list(filters.models))
        mart = choose_mart({*by, *filters.columns()} - {"period_start"})
        dimensions = [column for column in by if column != "period_start"]
        order = [*(["period_start"] if "period_start" in by else []), "total_cost DESC", *dimensions]
        sums = ", ".join(f"sum({measure}) AS {measure}" for measure in MEASURES)
        sql = (
            f"SELECT {', '.join([*by, sums])} FROM {table_name(mart, filters.grain)} "
            f"WHERE {' AND '.join(conditions)} {'GROUP BY ' + ', '.join(by) if by else ''} "
            f"HAVING count(*) > 0 ORDER BY {', '.join(order)}"
        )
        return with_averages(self._frame(sql, params))

    def period_bounds(self, grain: str) -> tuple[datetime, datetime] | None:
        """The first and the last period with data at `grain`; None when the marts are empty."""
        sql = f"SELECT min(period_start), max(period_start) FROM {table_name('cost_overview', grain)}"
        first, last = self._rows(sql)[0][0]
        return None if first is None else (first, last)

    def accounts(self) -> list[str]:
        sql = f"SELECT DISTINCT account_id FROM {table_name('cost_overview', 'monthly')} ORDER BY 1"
        return [account for (account,) in self._rows(sql)[0]]

    def _used(
        self, column: str, account: str | None, window: Window | None, other: tuple[str, tuple[str, ...]]
    ) -> list:
        """Distinct `column` (api_key_id with its name, or model) with usage of `account` (None: all) in
        `window` (None: at any time), among the rows whose `other` column is one of its values (when any)."""
        other_column, other_values = other
        grain = window.grain if window is not None else "monthly"
        mart = "cost_cube" if other_values else ("cost_by_api_key" if column == "api_key_id" else "cost_by_model")
        selected = "api_key_id, api_key_name" if column == "api_key_id" else "model"
        order = "api_key_name, api_key_id" if column == "api_key_id" else "model"
        conditions, params = ["(? IS NULL OR account_id = ?)"], [account, account]
        if window is not None:
            conditions.append("period_start >= ? AND period_start < ?")
            params += [window.first, window.end]
        if other_values:
            conditions.append(f"list_contains(?::VARCHAR[], {other_column})")
            params.append(list(other_values))
        where = " AND ".join(conditions)
        sql = f"SELECT DISTINCT {selected} FROM {table_name(mart, grain)} WHERE {where} ORDER BY {order}"
        return self._rows(sql, params)[0]

    def api_keys(
        self, account: str | None, window: Window | None = None, models: tuple[str, ...] = ()
    ) -> list[tuple[str, str | None]]:
        """(api_key_id, api_key_name) of every key with usage (of `account`, in `window`, of `models`, when
        given), by name."""
        return self._used("api_key_id", account, window, ("model", models))

    def models(self, account: str | None, window: Window | None = None, api_key_ids: tuple[str, ...] = ()) -> list[str]:
        """Every model with usage (of `account`, in `window`, through `api_key_ids`, when given), by name."""
        return [model for (model,) in self._used("model", account, window, ("api_key_id", api_key_ids))]

    def has_table(self, name: str) -> bool:
        """Whether schema marts of the serving file has table or view `name`."""
        sql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts' AND table_name = ?"
        return self._rows(sql, [name])[0][0][0] > 0

    def alternatives(self, filters: Filters, window: Window) -> pd.DataFrame | None:
        """``provider_alternatives_<grain>`` summed over `window` per model, provider and alternative provider
        (marts.md), largest savings first; None when the serving file has no such table at this grain."""
        name = f"provider_alternatives_{window.grain}"
        if window.grain not in ALTERNATIVE_GRAINS or not self.has_table(name):
            return None
        conditions, params = ["period_start >= ?", "period_start < ?"], [window.first, window.end]
        if filters.account is not None:
            conditions.append("account_id = ?")
            params.append(filters.account)
        if filters.models:
            conditions.append("list_contains(?::VARCHAR[], model)")
            params.append(list(filters.models))
        sql = (
            "SELECT model, provider, alternative_provider, sum(request_count) AS request_count, "
            "sum(actual_cost) AS actual_cost, sum(alternative_cost) AS alternative_cost, sum(savings) AS savings "
            f"FROM marts.{name} WHERE {' AND '.join(conditions)} GROUP BY ALL "
            "ORDER BY savings DESC, model, provider, alternative_provider"
        )
        return self._frame(sql, params)

    def published_at(self) -> datetime | None:
        """When the version being read was published (UTC)."""
        return self._rows("SELECT max(published_at) FROM meta.publication")[0][0][0]
