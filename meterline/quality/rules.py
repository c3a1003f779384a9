"""The SQL data-quality checks: exact, set-level rules run in DuckDB on the warehouse.

Each check takes an open DuckDB connection to what the engine built (the DuckDB
warehouse, or views over the Spark tables: ``MeterlinePaths.built_warehouse``)
and the run's :class:`Scope`, and returns a :class:`CheckResult` (offending
rows included). Money is
compared as DECIMAL in SQL, never as floats. Blocking checks (a failure stops
the run, nothing is published): the price catalog rules of pricing.md, the
raw records' rules of raw_usage.md, conservation per arrival day (raw_usage.md), unique ``request_id`` in
``fct_cost``, no negative cost, each aggregate mart reconciling with
``fct_cost``, and each ``provider_alternatives_<grain>`` row staying within the
marts' same (period, account, model, provider) with exact savings. Warnings
(published, but reported): unpriced records, a quarantine share above a
threshold, a day's spend jumping over its trailing 7-day mean, and requests of
a region priced by a region-less row although the catalog prices other regions.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import duckdb

from meterline.catalog import catalog_problems
from meterline.contract import BILLING_MODES, COSTS, MART_GRAINS, MART_REQUIRED, MEASURES, REQUIRED_TEXT, USAGE_COUNTERS
from meterline.quality.results import (
    BLOCKING,
    MAX_OFFENDING_ROWS,
    WARNING,
    CheckResult,
    Scope,
    rows_as_dicts,
)
from meterline.raw_layer import DAY_COLUMNS

CATALOG_ASSET = "raw/price_catalog"
RAW_USAGE_ASSET = "raw/usage_records"
FCT_COST = "fct_cost"
QUARANTINE_ASSET = "rejected_usage"
# Spend-jump scopes: the daily mart holding one row per (day, key) and the key's columns.
SPEND_SCOPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "account": ("cost_overview_daily", ("account_id",)),
    "api_key": ("cost_by_api_key_daily", ("account_id", "api_key_id")),
}
TRAILING_DAYS = 7


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or {})
    columns = [d[0] for d in cursor.description]
    return rows_as_dicts(columns, cursor.fetchall())


def _pop_total(rows: list[dict[str, Any]], column: str) -> int:
    """The count a query repeats on every offending row (a window total over all of them, before the
    limit), taken off the rows: the first row's value, 0 when there are none."""
    total = rows[0][column] if rows else 0
    for row in rows:
        del row[column]
    return total


def rebuilt_event_days(con: duckdb.DuckDBPyConnection) -> tuple[date, ...]:
    """The UTC event days the last dbt build rebuilt (intermediate.int_batch_event_days)."""
    rows = con.execute("select event_date from intermediate.int_batch_event_days order by 1").fetchall()
    return tuple(day for (day,) in rows)


def price_catalog_rules(con: duckdb.DuckDBPyConnection) -> CheckResult:
    """pricing.md: no negative or non-numeric price, no unknown model_type, no repeated
    (provider, model, region, effective_from). Reads the catalog loaded in raw.price_catalog(_text)."""
    problems = catalog_problems(con)
    rows = con.execute("select count(*) from raw.price_catalog_text").fetchall()[0][0]
    if rows == 0:
        summary = (
            "the price catalog holds no price rows (a header alone): nothing could be costed, so nothing "
            "is published; point $METERLINE_PRICES at the catalog CSV with its rows"
        )
    elif problems:
        summary = (
            f"{len(problems)} of {rows} catalog rows break pricing.md (first on line "
            f"{problems[0]['line_number']}: {problems[0]['problem']}); fix $METERLINE_PRICES"
        )
    else:
        summary = f"{rows} catalog rows, all valid"
    return CheckResult(
        name="price_catalog_rules",
        asset=CATALOG_ASSET,
        severity=BLOCKING,
        passed=not problems and rows > 0,
        observed=len(problems),
        summary=summary,
        offending_rows=problems[:MAX_OFFENDING_ROWS],
        details={"catalog_rows": rows},
    )


# raw_usage.md's rules of a valid record, as SQL that is true when a record of raw.usage_records breaks
# one (ingestion quarantines such a record: usage_records_rules proves that none got through).
RECORD_RULES = {
    "required fields present": " or ".join(
        [*(f"{field} is null or length({field}) = 0" for field in REQUIRED_TEXT), "created_at is null"]
    ),
    "billing_mode payg or subscription": "billing_mode not in ("
    + ", ".join(f"'{mode}'" for mode in BILLING_MODES)
    + ")",
    "counters present and >= 0": " or ".join(f"{counter} is null or {counter} < 0" for counter in USAGE_COUNTERS),
    "input_tokens >= cached_input_tokens + cache_write_tokens": "input_tokens < cached_input_tokens + cache_write_tokens",
    "output_tokens >= reasoning_tokens": "output_tokens < reasoning_tokens",
}
# The types the raw layer writes a record's checked fields with (as DuckDB names them): each field must be there.
_WRITTEN = dict(DAY_COLUMNS["usage_records"])
RECORD_TYPES = {field: _WRITTEN[field].upper() for field in (*REQUIRED_TEXT, "created_at", *USAGE_COUNTERS)}


def usage_records_rules(con: duckdb.DuckDBPyConnection, scope: Scope) -> CheckResult:
    """raw_usage.md on the raw records of the run's arrival days, which ingestion kept as valid: the
    required fields present and typed, billing_mode payg or subscription, every counter present and
    >= 0, input_tokens >= cached + cache-write tokens, output_tokens >= reasoning_tokens. One scan of
    the days' records (a second, for the offending records, only when some break a rule); a field of
    another type than the raw layer writes fails the check before any record is read."""
    params = {"days": list(scope.arrival_days)}
    records = "from raw.usage_records where arrival_date in (select unnest($days::date[]))"
    types = dict(con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'usage_records'"
    ).fetchall())  # fmt: skip
    mistyped = sorted(f"{field} is {types.get(field, 'missing')}, not {want}"
                      for field, want in RECORD_TYPES.items() if types.get(field) != want)  # fmt: skip
    if mistyped:
        return CheckResult(
            name="usage_records_rules",
            asset=RAW_USAGE_ASSET,
            severity=BLOCKING,
            passed=False,
            observed=len(mistyped),
            summary=f"raw.usage_records holds fields of other types than the raw layer writes ({'; '.join(mistyped)}): "
            "the record rules were not checked",
            details={"failed_rules": [{"rule": "fields typed", "unexpected_count": len(mistyped), "types": mistyped}]},
        )
    broken = {rule: f"coalesce({sql}, false)" for rule, sql in RECORD_RULES.items()}
    counts = _query(
        con,
        "select count(*) as records, "
        + ", ".join(f"count(*) filter (where {sql}) as rule_{n}" for n, sql in enumerate(broken.values()))
        + f" {records}",
        params,
    )[0]
    per_rule = [{"rule": rule, "unexpected_count": counts[f"rule_{n}"]} for n, rule in enumerate(RECORD_RULES)]
    failed = [entry for entry in per_rule if entry["unexpected_count"]]
    offending: list[dict[str, Any]] = []
    if failed:
        problem = " ".join(f"when {sql} then '{rule}'" for rule, sql in broken.items())
        offending = _query(
            con,
            f"""
            select arrival_date, source_file, line_number, request_id, case {problem} end as problem,
                   count(*) over () as offending
            {records} and ({" or ".join(broken.values())})
            order by arrival_date, source_file, line_number
            limit {MAX_OFFENDING_ROWS}
            """,
            params,
        )
    count = _pop_total(offending, "offending")
    if failed:
        first = "; ".join(f"{entry['rule']}: {entry['unexpected_count']}" for entry in failed[:3])
        summary = f"{count} of {counts['records']} raw records break raw_usage.md ({first})"
    else:
        summary = f"{len(per_rule)} record rules and the fields' types met on {counts['records']} raw records"
    return CheckResult(
        name="usage_records_rules",
        asset=RAW_USAGE_ASSET,
        severity=BLOCKING,
        passed=not failed,
        observed=count,
        summary=summary,
        offending_rows=offending,
        details={"records": counts["records"], "rules": per_rule, "failed_rules": failed},
    )


def conservation(con: duckdb.DuckDBPyConnection, scope: Scope) -> CheckResult:
    """raw_usage.md, per arrival day D: records read = fct_cost rows from D + superseded
    duplicates of D + quarantined records of D.

    Superseded duplicates of D = valid records of D - requests whose latest delivery is in D. The
    latest delivery is on the request's last arrival day: the requests counted in D are D's distinct
    request_ids but those delivered again on a later arrival day (none on a night's latest day).
    This avoids sorting every delivery, and grouping every delivery of D's requests by request
    (the check on a 1M day: 0.18-0.23 s that way, 0.09-0.12 s this way)."""
    days = _query(
        con,
        """
        with days as (select unnest($days::date[]) as arrival_date),
        delivered as (
            select arrival_date, request_id from raw.usage_records
            where arrival_date in (select arrival_date from days)
        ),
        valid as (
            select arrival_date, count(*) as n, count(distinct request_id) as requests from delivered group by all
        ),
        delivered_later as (
            select d.arrival_date, count(distinct d.request_id) as n
            from delivered d
            join (
                select arrival_date, request_id from raw.usage_records
                where arrival_date > (select min(arrival_date) from days)
            ) l on l.request_id = d.request_id and l.arrival_date > d.arrival_date
            group by all
        ),
        counted_here as (
            select v.arrival_date, v.requests - coalesce(l.n, 0) as n
            from valid v left join delivered_later l using (arrival_date)
        ),
        superseded as (
            select arrival_date, v.n - coalesce(c.n, 0) as n
            from valid v left join counted_here c using (arrival_date)
        ),
        costed as (
            select arrival_date, count(*) as n from marts.fct_cost
            where arrival_date in (select arrival_date from days) group by all
        ),
        quarantined as (
            select arrival_date, count(*) as n from quarantine.rejected_usage
            where arrival_date in (select arrival_date from days) group by all
        )
        select d.arrival_date,
               coalesce(m.records_read, 0) as records_read,
               coalesce(c.n, 0) as costed,
               coalesce(s.n, 0) as superseded,
               coalesce(q.n, 0) as quarantined,
               coalesce(m.records_read, 0) - coalesce(c.n, 0) - coalesce(s.n, 0) - coalesce(q.n, 0) as unaccounted
        from days d
        left join raw.arrival_manifest m using (arrival_date)
        left join costed c using (arrival_date)
        left join superseded s using (arrival_date)
        left join quarantined q using (arrival_date)
        order by d.arrival_date
        """,
        {"days": list(scope.arrival_days)},
    )
    unbalanced = [day for day in days if day["unaccounted"] != 0]
    if unbalanced:
        first = unbalanced[0]
        summary = (
            f"{len(unbalanced)} of {len(days)} arrival days do not balance; {first['arrival_date']}: "
            f"{first['records_read']} read <> {first['costed']} costed + {first['superseded']} superseded "
            f"+ {first['quarantined']} quarantined"
        )
    else:
        summary = f"{len(days)} arrival days balance: read = costed + superseded + quarantined"
    return CheckResult(
        name="conservation",
        asset=FCT_COST,
        severity=BLOCKING,
        passed=not unbalanced,
        observed=len(unbalanced),
        summary=summary,
        offending_rows=unbalanced[:MAX_OFFENDING_ROWS],
        details={"days": days},
    )


def request_id_unique(con: duckdb.DuckDBPyConnection, scope: Scope) -> CheckResult:
    """Every request_id of the rebuilt event days appears once in the whole of fct_cost."""
    rows = _query(
        con,
        f"""
        with duplicated as (
            select request_id, count(*) over () as duplicated_ids
            from marts.fct_cost
            where request_id in (
                select request_id from marts.fct_cost
                where {period_filter("created_at", "hourly")}
            )
            group by request_id
            having count(*) > 1
        )
        select request_id, count(*) as copies,
               list(distinct cast(created_at as date) order by cast(created_at as date)) as event_days,
               list(distinct arrival_date order by arrival_date) as arrival_days,
               any_value(duplicated_ids) as duplicated_ids
        from marts.fct_cost join duplicated using (request_id)
        group by request_id
        order by request_id
        limit {MAX_OFFENDING_ROWS}
        """,
        {"days": list(scope.event_days)},
    )
    duplicated = _pop_total(rows, "duplicated_ids")
    summary = (
        f"{duplicated} request_ids appear more than once in fct_cost (first: {rows[0]['request_id']}, "
        f"{rows[0]['copies']} rows)"
        if rows
        else f"request_id is unique in fct_cost for {len(scope.event_days)} rebuilt event days"
    )
    return CheckResult(
        name="request_id_unique",
        asset=FCT_COST,
        severity=BLOCKING,
        passed=not rows,
        observed=duplicated,
        summary=summary,
        offending_rows=rows,
        details={"event_days": list(scope.event_days)},
    )


def no_negative_cost(con: duckdb.DuckDBPyConnection, scope: Scope) -> CheckResult:
    """No cost in fct_cost (input, output, other, total) is below zero on the rebuilt event days."""
    negative = " or ".join(f"{cost} < 0" for cost in COSTS)
    rows = _query(
        con,
        f"""
        select request_id, created_at, provider, model, {", ".join(COSTS)}, count(*) over () as negative_rows
        from marts.fct_cost
        where {period_filter("created_at", "hourly")} and ({negative})
        order by created_at, request_id
        limit {MAX_OFFENDING_ROWS}
        """,
        {"days": list(scope.event_days)},
    )
    count = _pop_total(rows, "negative_rows")
    summary = (
        f"{count} fct_cost rows have a negative cost (first: {rows[0]['request_id']}, "
        f"total_cost {rows[0]['total_cost']})"
        if rows
        else f"no negative cost in fct_cost for {len(scope.event_days)} rebuilt event days"
    )
    return CheckResult(
        name="no_negative_cost",
        asset=FCT_COST,
        severity=BLOCKING,
        passed=not rows,
        observed=count,
        summary=summary,
        offending_rows=rows,
    )


def period_filter(column: str, grain: str) -> str:
    """SQL restricting ``column`` (a timestamp) to the partitions a run republishes at ``grain``
    (meterline/publish.py): its event days for hourly tables, their months for daily and
    monthly ones ($days, $months)."""
    if grain == "hourly":
        return f"{_within(column, '$days', '1 day')} and cast({column} as date) in (select unnest($days::date[]))"
    return (
        f"{_within(column, '$months', '1 month')} "
        f"and cast(date_trunc('month', {column}) as date) in (select unnest($months::date[]))"
    )


def _within(column: str, periods: str, length: str) -> str:
    """SQL: ``column`` (a timestamp) from the first of the dates in list parameter ``periods`` to
    the end of the last (each ``length`` long). Implied by the exact filter beside it; DuckDB
    compares it with each row group's bounds and skips the groups of other days, so a check's
    scan of fct_cost or a mart does not grow with the history (none: no row)."""
    return f"{column} >= list_min({periods}::date[]) and {column} < list_max({periods}::date[]) + interval {length}"


GRAIN_UNITS = {"hourly": "hour", "daily": "day", "monthly": "month"}


def _scope_params(scope: Scope, grain: str) -> dict[str, Any]:
    if grain == "hourly":
        return {"days": list(scope.event_days)}
    return {"months": sorted({day.replace(day=1) for day in scope.event_days})}


def one_row_per_group(con: duckdb.DuckDBPyConnection, scope: Scope, table: str) -> CheckResult:
    """marts.md, for an aggregate mart: one row per period and group (its family's dimensions,
    MART_GRAINS) over the periods the run republishes, and no row anywhere without its period or
    account (a row without a period is in no period a run republishes: the whole table is read
    for those, one column each, which DuckDB answers from its statistics)."""
    family, grain = table.rsplit("_", 1)
    group = ", ".join(("period_start", *MART_GRAINS[family]))
    missing = " or ".join(f"{column} is null" for column in MART_REQUIRED)
    rows = _query(
        con,
        f"""
        with problems as (
            select cast(period_start as varchar) as period_start, 'more than one row for ({group})' as problem,
                   count(*) as rows_found, concat_ws(' / ', {", ".join(MART_GRAINS[family])}) as group_values
            from marts.{table}
            where {period_filter("period_start", grain)}
            group by {group}
            having count(*) > 1
            union all
            select cast(period_start as varchar), 'a NULL in {" or ".join(MART_REQUIRED)}', count(*), null
            from marts.{table}
            where {missing}
            group by 1
        )
        select *, sum(rows_found) over () as problem_rows from problems
        order by period_start nulls first, group_values
        limit {MAX_OFFENDING_ROWS}
        """,
        _scope_params(scope, grain),
    )
    count = _pop_total(rows, "problem_rows")
    summary = (
        f"{count} rows of {table} break its grain (first: {rows[0]['period_start']} {rows[0]['problem']}"
        f"{': ' + rows[0]['group_values'] if rows[0]['group_values'] else ''})"
        if rows
        else f"{table} has one row per ({group}) in the republished periods, none without {' or '.join(MART_REQUIRED)}"
    )
    return CheckResult(
        name="one_row_per_group",
        asset=table,
        severity=BLOCKING,
        passed=not rows,
        observed=count,
        summary=summary,
        offending_rows=rows,
    )


def reconciliation(con: duckdb.DuckDBPyConnection, scope: Scope, tables: list[str]) -> list[CheckResult]:
    """marts.md, for each aggregate mart in ``tables``: over the periods the run republishes, the sum
    of each measure per period equals the same sum over fct_cost (payg), and total_cost = input_cost
    + output_cost + other_cost on every row. fct_cost is read once: its payg sums per hour over the
    months the run republishes (temp table hourly_totals), which add up, exactly, to each grain's."""
    if not tables:
        return []
    con.execute(
        f"""
        create or replace temp table hourly_totals as
        select date_trunc('hour', created_at) as period_start, {_sums()}
        from marts.fct_cost
        where billing_mode = 'payg' and {period_filter("created_at", "monthly")}
        group by 1
        """,
        _scope_params(scope, "monthly"),
    )
    results = []
    for grain, unit in GRAIN_UNITS.items():
        grain_tables = [table for table in tables if table.rsplit("_", 1)[1] == grain]
        if not grain_tables:
            continue
        params = _scope_params(scope, grain)
        con.execute(
            f"""
            create or replace temp table expected_totals as
            select date_trunc('{unit}', period_start) as period_start, {_sums()}
            from hourly_totals
            where {period_filter("period_start", grain)}
            group by 1
            """,
            params,
        )
        results += [_reconcile(con, table, grain, params) for table in grain_tables]
    con.execute("drop table if exists expected_totals")
    con.execute("drop table if exists hourly_totals")
    return results


def _sums() -> str:
    return ", ".join(f"sum({m}) as {m}" for m in MEASURES)


def _reconcile(con: duckdb.DuckDBPyConnection, table: str, grain: str, params: dict[str, Any]) -> CheckResult:
    """``table`` against temp table expected_totals (fct_cost's payg sums per period)."""
    in_scope = period_filter("period_start", grain)
    mismatches = " union all ".join(
        f"""select period_start, '{m}' as measure, coalesce(e_{m}, 0)::varchar as expected,
                   coalesce(a_{m}, 0)::varchar as actual
            from joined where coalesce(e_{m}, 0) <> coalesce(a_{m}, 0)"""
        for m in MEASURES
    )
    rows = _query(
        con,
        f"""
        with actual as (
            select period_start, {_sums()} from marts.{table} where {in_scope} group by 1
        ),
        joined as (
            select coalesce(e.period_start, a.period_start) as period_start,
                   {", ".join(f"e.{m} as e_{m}, a.{m} as a_{m}" for m in MEASURES)}
            from expected_totals e full join actual a on e.period_start = a.period_start
        ),
        problems as (
            {mismatches}
            union all
            select period_start, 'total_cost <> input_cost + output_cost + other_cost on a row' as measure,
                   (input_cost + output_cost + other_cost)::varchar as expected, total_cost::varchar as actual
            from marts.{table}
            where {in_scope} and total_cost <> input_cost + output_cost + other_cost
        )
        select *, count(*) over () as problem_count from problems
        order by period_start, measure
        limit {MAX_OFFENDING_ROWS}
        """,
        params,
    )
    count = _pop_total(rows, "problem_count")
    periods = con.execute(
        f"select count(*) from (select period_start from expected_totals "
        f"union select period_start from marts.{table} where {in_scope})",
        params,
    ).fetchall()[0][0]
    summary = (
        f"{count} differences from fct_cost (payg) in {table} (first: {rows[0]['period_start']} "
        f"{rows[0]['measure']}: expected {rows[0]['expected']}, found {rows[0]['actual']})"
        if rows
        else f"{table} equals fct_cost (payg) exactly in every measure for {periods} {GRAIN_UNITS[grain]}s"
    )
    return CheckResult(
        name="reconciles_with_fct_cost",
        asset=table,
        severity=BLOCKING,
        passed=not rows,
        observed=count,
        summary=summary,
        offending_rows=rows,
        details={"periods_compared": periods},
    )


def unpriced_records(con: duckdb.DuckDBPyConnection, scope: Scope) -> CheckResult:
    """Warning: counted records of the rebuilt event days that the catalog cannot price, per
    (provider, model): the pairs that need a catalog row."""
    rows = _query(
        con,
        """
        select json_extract_string(raw_record, '$.provider') as provider,
               json_extract_string(raw_record, '$.model') as model,
               count(*) as records,
               min(event_date) as first_event_day,
               max(event_date) as last_event_day
        from intermediate.int_unpriced_usage
        where event_date in (select unnest($days::date[]))
        group by all
        order by records desc, provider, model
        """,
        {"days": list(scope.event_days)},
    )
    count = sum(row["records"] for row in rows)
    pairs = ", ".join(f"{row['provider']} {row['model']}" for row in rows[:5])
    summary = (
        f"{count} records have no price in force: add catalog rows for {len(rows)} provider/model pairs "
        f"({pairs}{', ...' if len(rows) > 5 else ''})"
        if rows
        else "every counted record of the rebuilt event days has a price"
    )
    return CheckResult(
        name="unpriced_records",
        asset=QUARANTINE_ASSET,
        severity=WARNING,
        passed=not rows,
        observed=count,
        summary=summary,
        offending_rows=rows[:MAX_OFFENDING_ROWS],
    )


def unpriced_share(con: duckdb.DuckDBPyConnection, scope: Scope, max_share: float) -> CheckResult:
    """Blocking: over the rebuilt event days, the share of counted requests (costed in fct_cost, or
    unpriced) that no catalog row prices must not exceed ``max_share``. A catalog that lost the rows
    of the traffic would otherwise replace good published figures with (almost) nothing."""
    [row] = _query(
        con,
        f"""
        select (select count(*) from intermediate.int_unpriced_usage
                where event_date in (select unnest($days::date[]))) as unpriced,
               (select count(*) from marts.fct_cost
                where {period_filter("created_at", "hourly")}) as costed
        """,
        {"days": list(scope.event_days)},
    )
    unpriced, counted = row["unpriced"], row["unpriced"] + row["costed"]
    share = Decimal(unpriced) / counted if counted else Decimal(0)
    above = share > Decimal(str(max_share))
    summary = (
        f"{unpriced} of {counted} counted requests ({share:.1%}) of the rebuilt event days have no price in "
        f"force, more than METERLINE_UNPRICED_SHARE_MAX ({max_share:g}): nothing is published. Add the "
        "missing rows to the catalog $METERLINE_PRICES (see unpriced_records), or raise "
        "METERLINE_UNPRICED_SHARE_MAX to publish anyway"
        if above
        else f"{unpriced} of {counted} counted requests ({share:.1%}) unpriced, within {max_share:g}"
    )
    return CheckResult(
        name="unpriced_share",
        asset=FCT_COST,
        severity=BLOCKING,
        passed=not above,
        observed=float(round(share, 6)),
        summary=summary,
        details={"unpriced": unpriced, "counted": counted, "max_share": max_share},
    )


def quarantine_share(con: duckdb.DuckDBPyConnection, scope: Scope, max_share: float) -> CheckResult:
    """Warning: an arrival day whose quarantined records exceed ``max_share`` of the records read."""
    days = _query(
        con,
        """
        with days as (select unnest($days::date[]) as arrival_date),
        reasons as (
            select arrival_date, reason, count(*) as n from quarantine.rejected_usage
            where arrival_date in (select arrival_date from days) group by all
        ),
        per_day as (
            select arrival_date, sum(n) as quarantined,
                   string_agg(reason || ' ' || n, ', ' order by n desc, reason) as reasons
            from reasons group by all
        )
        select d.arrival_date,
               coalesce(m.records_read, 0) as records_read,
               coalesce(q.quarantined, 0) as quarantined,
               round(coalesce(q.quarantined, 0) / nullif(m.records_read, 0), 6) as share,
               coalesce(q.quarantined, 0) > cast($max_share as decimal(18, 9)) * coalesce(m.records_read, 0)
                   as above,
               q.reasons
        from days d
        left join raw.arrival_manifest m using (arrival_date)
        left join per_day q using (arrival_date)
        order by d.arrival_date
        """,
        {"days": list(scope.arrival_days), "max_share": str(Decimal(str(max_share)))},
    )
    above = [day for day in days if day.pop("above")]
    highest = max((day["share"] or 0.0 for day in days), default=0.0)
    summary = (
        f"{len(above)} arrival days quarantined more than {max_share:.2%} of their records "
        f"({above[0]['arrival_date']}: {above[0]['share']:.2%}; {above[0]['reasons']})"
        if above
        else f"every arrival day quarantined at most {max_share:.2%} of its records (highest {highest:.2%})"
    )
    return CheckResult(
        name="quarantine_share",
        asset=QUARANTINE_ASSET,
        severity=WARNING,
        passed=not above,
        observed=highest,
        summary=summary,
        offending_rows=above[:MAX_OFFENDING_ROWS],
        details={"max_share": max_share, "days": days},
    )


def spend_jump(con: duckdb.DuckDBPyConnection, scope: Scope, factor: float, by: str) -> CheckResult:
    """Warning: a rebuilt event day whose payg spend of an account (``by='account'``) or API key
    (``by='api_key'``) is more than ``factor`` times its mean daily spend over the previous 7 days.
    Days without spend count as 0; days before the first spend of the account or key, or before
    the first arrival day ingested (which hold only late records), do not count."""
    table, keys = SPEND_SCOPES[by]
    key_list = ", ".join(keys)
    rows = (
        []
        if not scope.event_days
        else _query(
            con,
            f"""
        with daily as (
            select {key_list}, cast(period_start as date) as day, sum(total_cost) as spend
            from marts.{table}
            where cast(period_start as date) between $first - {TRAILING_DAYS} and $last
              and cast(period_start as date) >= (select min(arrival_date) from raw.arrival_manifest)
            group by all
        ),
        history as (
            select *,
                   sum(spend) over (
                       partition by {key_list} order by day
                       range between interval {TRAILING_DAYS} days preceding and interval 1 day preceding
                   ) as trailing_spend,
                   least({TRAILING_DAYS}, day - min(day) over (partition by {key_list})) as trailing_days
            from daily
        )
        select {key_list}, day, spend,
               round(trailing_spend / trailing_days, 6) as trailing_mean,
               round(spend * trailing_days / trailing_spend, 2) as jump,
               count(*) over () as jumps
        from history
        where day in (select unnest($days::date[]))
          and trailing_days > 0 and trailing_spend > 0
          and spend * trailing_days > cast($factor as decimal(18, 6)) * trailing_spend
        order by jump desc, {key_list}, day
        limit {MAX_OFFENDING_ROWS}
        """,
            {
                "days": list(scope.event_days),
                "first": min(scope.event_days, default=None),
                "last": max(scope.event_days, default=None),
                "factor": str(Decimal(str(factor))),
            },
        )
    )
    count = _pop_total(rows, "jumps")
    who = "account" if by == "account" else "API key"
    if rows:
        top = rows[0]
        summary = (
            f"{count} ({who}, day) pairs spent more than {factor:g}x their trailing {TRAILING_DAYS}-day mean "
            f"(top: {' '.join(str(top[k]) for k in keys)} on {top['day']}: {top['spend']} vs mean "
            f"{top['trailing_mean']}, {top['jump']}x)"
        )
    else:
        summary = f"no {who} spent more than {factor:g}x its trailing {TRAILING_DAYS}-day mean on a rebuilt day"
    return CheckResult(
        name=f"spend_jump_per_{by}",
        asset=table,
        severity=WARNING,
        passed=not rows,
        observed=count,
        summary=summary,
        offending_rows=rows,
        details={"factor": factor, "trailing_days": TRAILING_DAYS},
    )


# marts.md, "Cheaper providers": provider_alternatives_<grain> -> the mart holding the same
# (period, account, model, provider) with its request_count and total_cost.
ALTERNATIVES_MARTS = {
    "provider_alternatives_daily": "provider_model_details_daily",
    "provider_alternatives_monthly": "provider_model_details_monthly",
}


def alternatives_within_marts(con: duckdb.DuckDBPyConnection, scope: Scope, table: str) -> CheckResult:
    """marts.md, "Cheaper providers", over the periods the run republishes: each row of ``table``
    counts at most the requests and actual cost of the same (period, account, model, provider) in
    provider_model_details at its grain, has savings = actual_cost - alternative_cost exactly, at
    least one request, and an alternative_provider other than its provider."""
    grain = table.rsplit("_", 1)[1]
    details = ALTERNATIVES_MARTS[table]
    params = {"months": sorted({day.replace(day=1) for day in scope.event_days})}
    problems = [
        f"case when d.request_count is null then 'no row for this (period, account, model, provider) in {details}' end",
        (
            "case when a.request_count > d.request_count then 'request_count ' || a.request_count || ' > '"
            f" || d.request_count || ' in {details}' end"
        ),
        (
            "case when a.actual_cost > d.total_cost then 'actual_cost ' || a.actual_cost || ' > total_cost '"
            f" || d.total_cost || ' in {details}' end"
        ),
        (
            "case when a.savings is distinct from a.actual_cost - a.alternative_cost then 'savings ' || "
            "coalesce(a.savings::varchar, 'NULL') || ' <> actual_cost - alternative_cost ' "
            "|| (a.actual_cost - a.alternative_cost) end"
        ),
        "case when a.request_count is null or a.request_count <= 0 then 'no requests' end",
        "case when a.alternative_provider = a.provider then 'the provider compared with itself' end",
    ]
    rows = _query(
        con,
        f"""
        with problems as (
            select a.period_start, a.account_id, a.model, a.provider, a.alternative_provider,
                   a.request_count, a.actual_cost, a.alternative_cost, a.savings,
                   concat_ws('; ', {", ".join(problems)}) as problem
            from marts.{table} a
            left join marts.{details} d using (period_start, account_id, model, provider)
            where {period_filter("a.period_start", grain)}
        )
        select *, count(*) over () as problem_count from problems
        where problem <> ''
        order by period_start, account_id, model, provider, alternative_provider
        limit {MAX_OFFENDING_ROWS}
        """,
        params,
    )
    count = _pop_total(rows, "problem_count")
    compared = con.execute(
        f"select count(*) from marts.{table} where {period_filter('period_start', grain)}", params
    ).fetchall()[0][0]
    summary = (
        f"{count} of {compared} rows of {table} break marts.md (first: {rows[0]['period_start']} "
        f"{rows[0]['provider']} -> {rows[0]['alternative_provider']} {rows[0]['model']}: {rows[0]['problem']})"
        if rows
        else f"{compared} rows of {table} stay within {details} and their savings are exact"
    )
    return CheckResult(
        name="alternatives_within_marts",
        asset=table,
        severity=BLOCKING,
        passed=not rows,
        observed=count,
        summary=summary,
        offending_rows=rows,
        details={"rows_compared": compared, "compared_with": details},
    )


def regional_price_missing(con: duckdb.DuckDBPyConnection, scope: Scope) -> CheckResult:
    """Warning: (provider, model, region) triples of fct_cost's rebuilt event days whose requests
    reported a region but were priced by a region-less row (no row of their region was in force at
    created_at) although the catalog has region rows for that provider and model: a hint that the
    catalog lacks that region's price (pricing.md). The catalog's region rows include the triple's
    own region when its row takes effect only after the requests."""
    rows = _query(
        con,
        f"""
        with regional as (
            select provider, model, region, min(effective_from) as first_effective_from
            from raw.price_catalog
            where region is not null and effective_from is not null
            group by all
        ),
        fallen_back as (
            select f.provider, f.model, f.region, f.created_at
            from marts.fct_cost f
            where f.region is not null
              and {period_filter("f.created_at", "hourly")}
              and not exists (
                  select 1 from regional g
                  where g.provider = f.provider and g.model = f.model and g.region = f.region
                    and g.first_effective_from <= f.created_at
              )
              and exists (select 1 from regional g where g.provider = f.provider and g.model = f.model)
        )
        select b.provider, b.model, b.region, count(*) as requests,
               min(cast(b.created_at as date)) as first_event_day,
               max(cast(b.created_at as date)) as last_event_day,
               any_value(c.catalog_regions) as catalog_regions
        from fallen_back b
        join (
            select provider, model, string_agg(region, ', ' order by region) as catalog_regions
            from regional group by all
        ) c using (provider, model)
        group by b.provider, b.model, b.region
        order by requests desc, b.provider, b.model, b.region
        """,
        {"days": list(scope.event_days)},
    )
    count = sum(row["requests"] for row in rows)
    triples = ", ".join(f"{row['provider']} {row['model']} {row['region']}" for row in rows[:5])
    summary = (
        f"{count} requests in {len(rows)} (provider, model, region) triples were priced by a region-less row "
        f"although the catalog prices other regions of the model: add their regional rows if they have one "
        f"({triples}{', ...' if len(rows) > 5 else ''})"
        if rows
        else "every request that reports a region of a regionally priced model found its region's row"
    )
    return CheckResult(
        name="regional_price_missing",
        asset=FCT_COST,
        severity=WARNING,
        passed=not rows,
        observed=len(rows),
        summary=summary,
        offending_rows=rows[:MAX_OFFENDING_ROWS],
        details={"triples": [[row["provider"], row["model"], row["region"]] for row in rows]},
    )
