"""Ingest one arrival day of raw usage files into the warehouse's raw layer.

Every file of ``$METERLINE_LANDING/date=D/`` is read by DuckDB (no Python
loop over rows). Each record keeps its arrival day, file name and line
number. Records that break a rule of raw_usage.md go to ``raw.usage_rejects``
with the reason of the first rule they fail; the rest go, typed, to
``raw.usage_records``. Re-running a day REPLACES that day's rows in one
transaction, so a rerun is idempotent and picks up files added since.

Tables written (all keyed by ``arrival_date``):
- ``raw.usage_records``   valid records, typed, created_at in UTC, region NULL when not reported
- ``raw.usage_rejects``   rejected records with reason, detail and raw text
- ``raw.arrival_manifest`` files and records read per arrival day
- ``raw.arrival_event_days`` event days each arrival day's records touched,
  now or in any earlier ingestion of that day (so a rerun also recomputes
  the event days whose records have since disappeared)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from orchestration.contract import USAGE_COUNTERS
from orchestration.errors import UsageError

FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
REQUIRED_TEXT_FIELDS = (
    "request_id",
    "created_at",
    "account_id",
    "api_key_id",
    "model",
    "provider",
    "billing_mode",
)
TEXT_FIELDS = (
    "request_id",
    "created_at",
    "account_id",
    "api_key_id",
    "api_key_name",
    "model",
    "provider",
    "endpoint",
    "billing_mode",
    "region",
)
# RFC 3339 date-time with a zone; hour 24 and dates like Feb 30 are rejected
# by the pattern and by the cast respectively.
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"

SCHEMA_SQL = """
create schema if not exists raw;
create table if not exists raw.usage_records (
    arrival_date date not null,
    source_file varchar not null,
    line_number bigint not null,
    request_id varchar not null,
    created_at timestamp not null,
    account_id varchar not null,
    api_key_id varchar not null,
    api_key_name varchar,
    model varchar not null,
    provider varchar not null,
    endpoint varchar,
    billing_mode varchar not null,
    input_tokens bigint not null,
    cached_input_tokens bigint not null,
    cache_write_tokens bigint not null,
    output_tokens bigint not null,
    reasoning_tokens bigint not null,
    images bigint not null,
    web_search_calls bigint not null,
    region varchar
);
-- region (raw_usage.md, optional) came later: a warehouse created before it gains the column, last.
alter table raw.usage_records add column if not exists region varchar;
create table if not exists raw.usage_rejects (
    arrival_date date not null,
    source_file varchar not null,
    line_number bigint not null,
    request_id varchar,
    reason varchar not null,
    detail varchar,
    raw_record varchar
);
create table if not exists raw.arrival_manifest (
    arrival_date date primary key,
    files bigint not null,
    records_read bigint not null,
    ingested_at timestamp not null
);
create table if not exists raw.arrival_event_days (
    arrival_date date not null,
    event_date date not null,
    primary key (arrival_date, event_date)
);
"""


@dataclass(frozen=True)
class IngestResult:
    arrival_date: date
    files: int
    records_read: int
    valid: int
    rejected: int


def day_folder(landing: Path, arrival_date: date) -> Path:
    return landing / f"date={arrival_date.isoformat()}"


def landing_files(landing: Path, arrival_date: date) -> list[Path]:
    """The day's usage files in delivery order (by file name); a missing folder is an empty day."""
    folder = day_folder(landing, arrival_date)
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.name.endswith(FILE_SUFFIXES)),
        key=lambda p: p.name,
    )


# The columns of temp table ``classified``: what the raw tables need, nothing more. The raw text
# is kept for rejected records only (a day's text is the biggest thing ingestion touches).
CLASSIFIED_SQL = f"""
create or replace temp table classified (
    source_file varchar, line_number bigint, request_id varchar, created_at_utc timestamp,
    {", ".join(f"{f} varchar" for f in TEXT_FIELDS if f not in ("request_id", "created_at"))},
    {", ".join(f"{c} bigint" for c in USAGE_COUNTERS)},
    reason varchar, detail varchar, raw_record varchar
)
"""


def _classify_files(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    """Fill temp table ``classified`` with one row per non-blank line / Parquet row, file by file.
    Numbering a file's lines is sequential, so they are numbered into temp table ``landed_lines``
    first; classifying them (the JSON work) then runs on every core."""
    con.execute(CLASSIFIED_SQL)
    for path in files:
        if path.name.endswith(".parquet"):
            source = "select to_json(r)::varchar as line from read_parquet($path) r"
        else:
            # One VARCHAR column per physical line: no delimiter, quote or escape can split it.
            source = (
                "select line from read_csv($path, columns={'line': 'VARCHAR'}, header=false, "
                "delim=chr(1), quote='', escape='', auto_detect=false, strict_mode=false)"
            )
        try:
            con.execute(
                f"""
                create or replace temp table landed_lines as
                select $name as source_file, line_number, line as raw_record from (
                    select row_number() over () as line_number, line from ({source})
                ) where line is not null and (starts_with(line, '{{') or trim(line) <> '')  -- trim: the rare rest
                """,
                {"path": str(path), "name": path.name},
            )
            con.execute(f"insert into classified {_classify_sql()}")
        except duckdb.Error as exc:
            raise UsageError(
                f"cannot read landing file {path}: {exc}. "
                "Fix or remove the file, then re-run this arrival day."
            ) from exc
    con.execute("drop table if exists landed_lines")


def _classify_sql() -> str:
    """SQL over temp table ``landed_lines`` (source_file, line_number, raw_record) giving the
    columns of ``classified``: the typed fields, the first failing rule and its detail."""
    # One parse of each line into its fields (text fields as text, scalars as their JSON text),
    # then one parse of the small usage object.
    record_shape = "{" + ", ".join([*(f'"{f}": "VARCHAR"' for f in TEXT_FIELDS), '"usage": "JSON"']) + "}"
    usage_shape = "{" + ", ".join(f'"{c}": "JSON"' for c in USAGE_COUNTERS) + "}"
    # Empty means absent; a region of blanks only is not reported either (raw_usage.md: missing, null or empty).
    text_cols = ",\n".join(
        f"case when trim(f.{name}) <> '' then f.{name} end as {name}" if name == "region" else f"nullif(f.{name}, '') as {name}"
        for name in TEXT_FIELDS
    )
    counter_cols = ",\n".join(f"u.{c} as raw_{c}, json_type(u.{c}) as type_{c}" for c in USAGE_COUNTERS)
    missing = " ,".join(f"case when {f} is null then '{f}' end" for f in REQUIRED_TEXT_FIELDS)
    counter_values = ",\n".join(
        f"case when type_{c} in ('BIGINT', 'UBIGINT') then try_cast(raw_{c} as bigint) "
        f"when type_{c} is null or type_{c} = 'NULL' then 0 end as {c}"
        for c in USAGE_COUNTERS
    )
    bad_counters = ", ".join(
        f"case when {c} is null or {c} < 0 then 'usage.{c} = ' || raw_{c} end" for c in USAGE_COUNTERS
    )
    return f"""
    with parsed as (
        select source_file, line_number, raw_record,
               coalesce(case when json_valid(raw_record)
                             then starts_with(raw_record, '{{') or json_type(raw_record) = 'OBJECT' end, false)
                   as is_object
        from landed_lines
    ), extracted as (
        select *, case when is_object then from_json(raw_record, '{record_shape}') end as f
        from parsed
    ), fields as (
        select source_file, line_number, raw_record, is_object,
               {text_cols},
               f.usage as usage_json,
               json_type(f.usage) as usage_type
        from extracted
    ), counters as (
        select *,
               case when usage_type = 'OBJECT' then from_json(usage_json, '{usage_shape}') end as u
        from fields
    ), typed as (
        select * exclude (u),
               {counter_cols}
        from counters
    ), valued as (
        select *,
               {counter_values},
               concat_ws(', ', {missing},
                         case when usage_type is null or usage_type = 'NULL' then 'usage'
                              when usage_type <> 'OBJECT' then 'usage (not an object)' end) as missing_fields,
               case when regexp_matches(created_at, '{RFC3339}')
                    then timezone('UTC', try_cast(upper(created_at) as timestamptz)) end as created_at_utc
        from typed
    ), checked as (
        select *,
               concat_ws(', ', {bad_counters}) as bad_counters
        from valued
    ), reasoned as (
    select *,
        case
            when not is_object then 'malformed_record'
            when missing_fields <> '' then 'missing_field'
            when created_at_utc is null then 'bad_timestamp'
            when billing_mode not in ('payg', 'subscription') then 'bad_billing_mode'
            when bad_counters <> '' then 'negative_usage'
            when cached_input_tokens + cache_write_tokens > input_tokens
              or reasoning_tokens > output_tokens then 'inconsistent_usage'
        end as reason,
        case
            when not is_object then 'not a JSON object'
            when missing_fields <> '' then 'missing or empty: ' || missing_fields
            when created_at_utc is null then 'created_at is not RFC 3339 with a zone: ' || created_at
            when billing_mode not in ('payg', 'subscription') then 'billing_mode is not payg or subscription: ' || billing_mode
            when bad_counters <> '' then 'not a non-negative integer: ' || bad_counters
            when cached_input_tokens + cache_write_tokens > input_tokens
                then format('cached_input_tokens + cache_write_tokens ({{}}) > input_tokens ({{}})',
                            cached_input_tokens + cache_write_tokens, input_tokens)
            when reasoning_tokens > output_tokens
                then format('reasoning_tokens ({{}}) > output_tokens ({{}})', reasoning_tokens, output_tokens)
        end as detail
    from checked
    )
    select source_file, line_number, request_id, created_at_utc,
           {", ".join(f for f in TEXT_FIELDS if f not in ("request_id", "created_at"))},
           {", ".join(USAGE_COUNTERS)}, reason, detail,
           case when reason is not null then raw_record end as raw_record
    from reasoned
    """


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCHEMA_SQL)


def ingest_day(con: duckdb.DuckDBPyConnection, landing: Path, arrival_date: date) -> IngestResult:
    """Replace arrival day ``arrival_date``'s raw rows with what its folder holds now."""
    ensure_schema(con)
    files = landing_files(landing, arrival_date)
    _classify_files(con, files)
    day = {"day": arrival_date}
    counter_list = ", ".join(USAGE_COUNTERS)
    con.execute("begin transaction")
    try:
        con.execute(
            """
            insert into raw.arrival_event_days
            select distinct $day, cast(created_at as date) from raw.usage_records where arrival_date = $day
            on conflict do nothing
            """,
            day,
        )
        con.execute("delete from raw.usage_records where arrival_date = $day", day)
        con.execute("delete from raw.usage_rejects where arrival_date = $day", day)
        con.execute(
            f"""
            insert into raw.usage_records
            select $day, source_file, line_number, request_id, created_at_utc, account_id, api_key_id,
                   api_key_name, model, provider, endpoint, billing_mode, {counter_list}, region
            from classified where reason is null
            """,
            day,
        )
        con.execute(
            """
            insert into raw.usage_rejects
            select $day, source_file, line_number, request_id, reason, detail, raw_record
            from classified where reason is not null
            """,
            day,
        )
        con.execute(
            """
            insert into raw.arrival_event_days
            select distinct $day, cast(created_at_utc as date) from classified where reason is null
            on conflict do nothing
            """,
            day,
        )
        con.execute(
            """
            insert or replace into raw.arrival_manifest
            select $day, $files, count(*), now()::timestamp from classified
            """,
            {**day, "files": len(files)},
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    valid, rejected = con.execute(
        "select count(*) filter (where reason is null), count(*) filter (where reason is not null) from classified"
    ).fetchall()[0]
    return IngestResult(arrival_date, len(files), valid + rejected, valid, rejected)
