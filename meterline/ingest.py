"""Ingest one arrival day of raw usage files into the raw layer (meterline/raw_layer.py).

Every file of ``$METERLINE_LANDING/date=D/`` is read by DuckDB (no Python
loop over rows). Each record keeps its arrival day, file name and line
number. Records that break a rule of raw_usage.md go to ``usage_rejects``
with the reason of the first rule they fail; the rest go, typed, to
``usage_records``. Re-running a day REPLACES that day's folder of the layer
whole, so a rerun is idempotent and picks up files added since.

Tables written (one Parquet file each in ``$METERLINE_RAW/arrival_date=D/``, read in the
warehouse as views ``raw.<table>``):
- ``usage_records``      valid records, typed, created_at in UTC, region NULL when not reported
- ``usage_rejects``      rejected records with reason, detail and raw text
- ``arrival_manifest``   files and records read per arrival day
- ``arrival_event_days`` event days each arrival day's records touched,
  now or in any earlier ingestion of that day (so a rerun also recomputes
  the event days whose records have since disappeared)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from meterline import raw_layer
from meterline.contract import USAGE_COUNTERS
from meterline.errors import UsageError

FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
DAY_FOLDER = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
# The longest line read as a record (DuckDB's max_line_size): a longer line is quarantined as
# malformed_record, its raw_record holding its first RAW_TEXT_KEPT characters.
MAX_LINE_BYTES = 2 * 1024 * 1024
RAW_TEXT_KEPT = 10_000
# created_at must fall in these UTC years once converted (a date beyond cannot be an event day).
UTC_YEARS = (1, 9999)
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


@dataclass(frozen=True)
class IngestResult:
    arrival_date: date
    files: int
    records_read: int
    valid: int
    rejected: int
    # Usage files not read, each with why (links leaving the landing folder, dangling links).
    skipped: tuple[str, ...] = field(default=())


def day_folder(landing: Path, arrival_date: date) -> Path:
    return landing / f"date={arrival_date.isoformat()}"


def _leaves(path: Path, landing: Path) -> str | None:
    """Why ``path`` (a link, or what a link points into) is not read: None when it stays in the
    landing folder and exists."""
    target = path.resolve()
    if not target.is_relative_to(landing.resolve()):
        return f"links outside the landing folder (to {target})"
    if not target.exists():
        return f"is a dangling link (to {target})"
    return None


def landing_entries(landing: Path, arrival_date: date) -> tuple[list[Path], list[str]]:
    """The day's usage files in delivery order (by file name), and the ones skipped with why.

    Symbolic links are followed only while they stay inside the landing folder: a link (or a day
    folder) pointing outside it, and a dangling link, are skipped and reported, never read. A
    missing folder is an empty day."""
    folder = day_folder(landing, arrival_date)
    if not folder.is_dir():
        return [], []
    if why := _leaves(folder, landing):
        return [], [f"{folder} {why}: skipped, not read"]
    files, skipped = [], []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if not path.name.endswith(FILE_SUFFIXES):
            continue
        if path.is_symlink() and (why := _leaves(path, landing)):
            skipped.append(f"{path} {why}: skipped, not read")
        elif path.is_file():
            files.append(path)
    return files, skipped


def landing_files(landing: Path, arrival_date: date) -> list[Path]:
    """The day's usage files in delivery order (by file name); a missing folder is an empty day."""
    return landing_entries(landing, arrival_date)[0]


def unreadable_folders(landing: Path) -> list[str]:
    """Sub-folders of the landing folder holding usage files under a name that is not an arrival
    day (``date=2026-13-45``, ``date=garbage``, ``2026-11-05``): no run ever reads them."""
    if not landing.is_dir():
        return []
    found = []
    for entry in sorted(landing.iterdir(), key=lambda p: p.name):
        if not entry.is_dir() or day_of_folder(entry.name) is not None:
            continue
        if any(p.name.endswith(FILE_SUFFIXES) for p in entry.iterdir()):
            found.append(
                f"{entry} holds usage files but is not named date=YYYY-MM-DD with a real date: "
                "no run reads it; rename it to the files' arrival day"
            )
    return found


def day_of_folder(name: str) -> date | None:
    match = DAY_FOLDER.fullmatch(name)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


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


# Lines landed from the day's files are classified together once this many have landed (and at the
# end): one query over several small files keeps both cores busy to its end. A file's lines fill
# DuckDB's row groups of 122,880 rows, and the last, part-filled one of each file ran on one core
# alone: file by file, a 1M-record day of six files took 0.8 s longer (4.2 s against 3.4 s; 1M and
# 500k here measured the same). A file this large is classified on its own, as before: its landed
# text is the biggest thing ingestion holds.
CLASSIFY_LINES = 500_000

LANDED_SQL = """
create or replace temp table landed (
    source_file varchar, line_number bigint, raw_record varchar, read_error varchar
)
"""


def _classify_files(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    """Fill temp table ``classified`` with one row per non-blank line / Parquet row. Each file's
    lines land, numbered, in temp table ``landed`` (numbering a file's lines is sequential); once
    CLASSIFY_LINES have landed, and at the end, they are classified together (the JSON work, on
    every core) and ``landed`` starts empty again.

    A line that is not UTF-8 or is longer than MAX_LINE_BYTES is kept as a malformed_record
    (DuckDB's rejects table gives its line number); an empty (0-byte) file holds no records. A file
    that cannot be read at all fails the day, with every such file of the day in one message."""
    con.execute(CLASSIFIED_SQL)
    con.execute(LANDED_SQL)
    unreadable: list[str] = []
    pending: list[str] = []
    landed = 0
    for path in files:
        if path.stat().st_size == 0:
            continue
        try:
            landed += _land_parquet(con, path) if path.name.endswith(".parquet") else _land_jsonl(con, path)
            pending.append(path.name)
        except duckdb.Error as exc:
            unreadable.append(f"{path.name} ({_first_line(exc)})")
        if landed >= CLASSIFY_LINES:
            _classify_landed(con, pending, unreadable)
            pending, landed = [], 0
    _classify_landed(con, pending, unreadable)
    for leftover in ("landed", "read_lines", "read_rows"):
        con.execute(f"drop table if exists {leftover}")
    if unreadable:
        folder = files[0].parent
        raise UsageError(
            f"cannot read {len(unreadable)} landing file(s) in {folder}: {'; '.join(unreadable)}. "
            "Replace each with a complete .jsonl, .jsonl.gz or .parquet file (or remove it), then re-run "
            "this arrival day."
        )


def _classify_landed(con: duckdb.DuckDBPyConnection, names: list[str], unreadable: list[str]) -> None:
    """Classify the lines in ``landed`` (of the files ``names``) into ``classified``; ``landed`` starts
    empty again."""
    if not names:
        return
    try:
        con.execute(f"insert into classified {_classify_sql()}")
    except duckdb.Error as exc:  # no line is known to fail it (each JSON function is guarded)
        unreadable.append(f"{', '.join(names)} ({_first_line(exc)})")
    # A new table, not DELETE: a temp table's deleted rows keep their memory (DuckDB's own count grew
    # 313 -> 626 -> 939 MB over three batches of 800,000 lines; a new table stays at 313 MB), and at
    # 5M or 20M records a day each file is a batch.
    con.execute(LANDED_SQL)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _land_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The file's rows, typed, in temp table ``read_rows`` (with their row number in the file), then
    each one into ``landed`` as the JSON object of its fields; returns how many. DuckDB reads one
    Parquet row group on one core, and writers often put a whole file in one: made JSON straight
    from the file, every row's JSON work ran on one core; from the table it runs on all."""
    con.execute(
        f"""
        create or replace temp table read_rows as
        select * from read_parquet('{_sql_text(str(path))}', file_row_number = true)
        """
    )
    [(rows,)] = con.execute(
        """
        insert into landed
        select $name, file_row_number + 1,
               to_json(struct_pack(*columns(* exclude (file_row_number))))::varchar, null
        from read_rows
        """,
        {"name": path.name},
    ).fetchall()
    return rows


def _sql_text(text: str) -> str:
    """`text` inside a SQL string literal (a view holds no parameters)."""
    return text.replace("'", "''")


# One VARCHAR column per physical line: no delimiter, quote or escape can split it. Lines DuckDB
# cannot read (not UTF-8, too long) land in its rejects table with their line number.
_READ_LINES = f"""
    read_csv(
        $path, columns={{'line': 'VARCHAR'}}, header=false, delim=chr(1), quote='', escape='',
        auto_detect=false, strict_mode=false, max_line_size={MAX_LINE_BYTES},
        store_rejects=true, rejects_table='landed_rejects', rejects_scan='landed_scans')
"""
# Blank lines hold no record (trim: the rare rest, after the cheap test).
_NOT_BLANK = "line is not null and (starts_with(line, '{') or trim(line) <> '')"


def _land_jsonl(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The file's non-blank lines into ``landed``, each with its line number; returns how many.
    The n-th line read is line n, unless DuckDB could not read some: then the file is read again,
    its lines numbered around those, which land too, each with why."""
    con.execute("drop table if exists landed_rejects")
    con.execute("drop table if exists landed_scans")
    arguments = {"path": str(path), "name": path.name}
    [(rows,)] = con.execute(
        f"""
        insert into landed
        select $name, n, line, null
        from (select row_number() over () as n, line from {_READ_LINES})
        where {_NOT_BLANK}
        """,
        arguments,
    ).fetchall()
    [(rejected,)] = con.execute("select count(*) from landed_rejects").fetchall()
    if rejected == 0:
        return rows
    con.execute("delete from landed where source_file = $name", {"name": path.name})
    con.execute("drop table landed_rejects")
    con.execute("drop table landed_scans")
    con.execute(
        f"create or replace temp table read_lines as select row_number() over () as n, line from {_READ_LINES}",
        {"path": str(path)},
    )
    [(rows,)] = con.execute(
        f"""
        insert into landed
        select $name, numbers.line_number, r.line, null
        from read_lines r join (
            select n as line_number, row_number() over (order by n) as k
            from range(1, (select count(*) from read_lines) + (select count(*) from landed_rejects) + 1) t(n)
            where n not in (select line from landed_rejects)
        ) numbers on r.n = numbers.k
        where {_NOT_BLANK}
        union all
        select $name, line, left(ltrim(csv_line, chr(10) || chr(13)), {RAW_TEXT_KEPT}),
               case when error_type = 'INVALID ENCODING'
                        then 'the line is not valid UTF-8 (raw_record shows the bytes that are not as ?)'
                    when error_type = 'LINE SIZE OVER MAXIMUM'
                        then 'the line is longer than {MAX_LINE_BYTES} bytes (raw_record holds its start)'
                    else 'the line cannot be read: ' || error_message end
        from landed_rejects
        """,
        {"name": path.name},
    ).fetchall()
    return rows


def _classify_sql() -> str:
    """SQL over temp table ``landed`` (source_file, line_number, raw_record, read_error) giving the
    columns of ``classified``: the typed fields, the first failing rule and its detail."""
    # One parse of each line into its fields (text fields as text, scalars as their JSON text),
    # then one parse of the small usage object.
    record_shape = "{" + ", ".join([*(f'"{f}": "VARCHAR"' for f in TEXT_FIELDS), '"usage": "JSON"']) + "}"
    usage_shape = "{" + ", ".join(f'"{c}": "JSON"' for c in USAGE_COUNTERS) + "}"
    # Empty means absent; a region of blanks only is not reported either (raw_usage.md: missing, null or empty).
    text_cols = ",\n".join(
        f"case when trim(f.{name}) <> '' then f.{name} end as {name}"
        if name == "region"
        else f"nullif(f.{name}, '') as {name}"
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
        select source_file, line_number, raw_record, read_error,
               read_error is null and coalesce(case when json_valid(raw_record)
                             then starts_with(raw_record, '{{') or json_type(raw_record) = 'OBJECT' end, false)
                   as is_object
        from landed
    ), extracted as (
        select *, case when is_object then from_json(raw_record, '{record_shape}') end as f
        from parsed
    ), fields as (
        select source_file, line_number, raw_record, read_error, is_object,
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
                    then timezone('UTC', try_cast(upper(created_at) as timestamptz)) end as created_at_any_year
        from typed
    ), in_range as (
        select * exclude (created_at_any_year),
               case when created_at_any_year >= '{UTC_YEARS[0]:04d}-01-01'::timestamp
                         and created_at_any_year < '{UTC_YEARS[1] + 1}-01-01'::timestamp
                    then created_at_any_year end as created_at_utc,
               created_at_any_year is not null as is_rfc3339
        from valued
    ), checked as (
        select *,
               concat_ws(', ', {bad_counters}) as bad_counters
        from in_range
    ), reasoned as (
    select *,
        case
            when not is_object then 'malformed_record'
            when missing_fields <> '' then 'missing_field'
            when created_at_utc is null then 'bad_timestamp'
            when billing_mode not in ('payg', 'subscription') then 'bad_billing_mode'
            when bad_counters <> '' then 'negative_usage'
            when cached_input_tokens::hugeint + cache_write_tokens > input_tokens
              or reasoning_tokens > output_tokens then 'inconsistent_usage'
        end as reason,
        case
            when read_error is not null then read_error
            when not is_object then 'not a JSON object'
            when missing_fields <> '' then 'missing or empty: ' || missing_fields
            when not is_rfc3339 then 'created_at is not RFC 3339 with a zone: ' || created_at
            when created_at_utc is null
                then 'created_at is outside the years {UTC_YEARS[0]:04d} to {UTC_YEARS[1]} once converted to UTC: ' || created_at
            when billing_mode not in ('payg', 'subscription') then 'billing_mode is not payg or subscription: ' || billing_mode
            when bad_counters <> '' then 'not a non-negative integer: ' || bad_counters
            when cached_input_tokens::hugeint + cache_write_tokens > input_tokens
                then format('cached_input_tokens + cache_write_tokens ({{}}) > input_tokens ({{}})',
                            cached_input_tokens::hugeint + cache_write_tokens, input_tokens)
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


def ingest_day(con: duckdb.DuckDBPyConnection, landing: Path, raw: Path, arrival_date: date) -> IngestResult:
    """Replace arrival day ``arrival_date``'s folder of the raw layer ``raw`` with what its landing
    folder holds now; the warehouse's ``raw`` views then read it."""
    raw_layer.open_layer(con, raw)
    files, skipped = landing_entries(landing, arrival_date)
    _classify_files(con, files)
    fields = ", ".join(f for f in TEXT_FIELDS if f not in ("request_id", "created_at"))
    this_day = "arrival_date = $day"
    # An event day no date can hold (remembered by an ingestion before created_at's UTC year was
    # checked) would fail every later run of the day: forgotten.
    possible = f"year(event_date) between {UTC_YEARS[0]} and {UTC_YEARS[1]}"
    queries = {
        "usage_records": f"""
            select $day as arrival_date, source_file, line_number, request_id, created_at_utc as created_at,
                   {fields}, {", ".join(USAGE_COUNTERS)}
            from classified where reason is null""",
        "usage_rejects": """
            select $day as arrival_date, source_file, line_number, request_id, reason, detail, raw_record
            from classified where reason is not null""",
        "arrival_manifest": """
            select $day as arrival_date, $files as files, count(*) as records_read, now() as ingested_at
            from classified""",
        # The event days of the day's records now, and of every earlier ingestion of the day.
        "arrival_event_days": f"""
            select distinct $day as arrival_date, event_date from (
                select event_date from raw.arrival_event_days where {this_day}
                union all
                select cast(created_at as date) from raw.usage_records where {this_day}
                union all
                select cast(created_at_utc as date) from classified where reason is null
            ) where {possible}
            order by event_date""",
    }
    raw_layer.write_day(con, raw, arrival_date, queries, {"day": arrival_date, "files": len(files)})
    raw_layer.register_views(con, raw)
    valid, rejected = con.execute(
        "select count(*) filter (where reason is null), count(*) filter (where reason is not null) from classified"
    ).fetchall()[0]
    con.execute("drop table classified")
    return IngestResult(arrival_date, len(files), valid + rejected, valid, rejected, tuple(skipped))
