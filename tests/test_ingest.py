"""Ingestion of one arrival day: formats, line numbers, UTC, every ingestion reason code."""

from __future__ import annotations

import json
from datetime import date, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from meterline.errors import UsageError
from meterline.ingest import ingest_day
from tests.helpers import Installation, usage_record

DAY = "2026-11-05"


def _ingest(inst: Installation, day: str = DAY):
    with duckdb.connect(str(inst.warehouse)) as con:
        return ingest_day(con, inst.landing, inst.root / "raw", date.fromisoformat(day))


def _rejects(inst: Installation) -> dict[int, tuple]:
    rows = inst.warehouse_rows(
        "select line_number, request_id, reason, detail, raw_record from raw.usage_rejects order by line_number"
    )
    return {row[0]: row[1:] for row in rows}


def test_every_ingestion_reason_code_with_the_first_failing_rule(installation: Installation) -> None:
    base = usage_record("ok", "2026-11-05T10:00:00Z")
    cases: list[tuple[object, str]] = [
        ("this is not json", "malformed_record"),
        ("[1, 2, 3]", "malformed_record"),
        ('{"request_id": "truncated"', "malformed_record"),
        ({**base, "request_id": ""}, "missing_field"),  # line 4
        ({k: v for k, v in base.items() if k != "account_id"}, "missing_field"),
        ({**base, "api_key_id": None}, "missing_field"),
        ({k: v for k, v in base.items() if k != "usage"}, "missing_field"),
        # missing_field comes before bad_timestamp when both fail
        ({**base, "model": "", "created_at": "yesterday"}, "missing_field"),
        ({**base, "created_at": "2026-11-05T10:00:00"}, "bad_timestamp"),
        ({**base, "created_at": "2026-02-30T10:00:00Z"}, "bad_timestamp"),
        ({**base, "created_at": "2026-11-05T24:00:00Z"}, "bad_timestamp"),
        ({**base, "created_at": "not a date"}, "bad_timestamp"),
        ({**base, "billing_mode": "free"}, "bad_billing_mode"),
        ({**base, "usage": {"input_tokens": -1}}, "negative_usage"),
        ({**base, "usage": {"input_tokens": 1.5}}, "negative_usage"),
        ({**base, "usage": {"output_tokens": "12"}}, "negative_usage"),
        # negative_usage comes before inconsistent_usage
        ({**base, "usage": {"input_tokens": 1, "cached_input_tokens": 5, "images": -2}}, "negative_usage"),
        (
            {**base, "usage": {"input_tokens": 10, "cached_input_tokens": 6, "cache_write_tokens": 5}},
            "inconsistent_usage",
        ),
        ({**base, "usage": {"output_tokens": 10, "reasoning_tokens": 11}}, "inconsistent_usage"),
    ]
    installation.write_jsonl(DAY, "mixed.jsonl", [*(case for case, _ in cases), base])

    result = _ingest(installation)

    rejects = _rejects(installation)
    assert {line: row[1] for line, row in rejects.items()} == {
        line: reason for line, (_, reason) in enumerate(cases, 1)
    }
    assert result.records_read == len(cases) + 1 and result.valid == 1
    assert rejects[1][3] == "this is not json"  # the raw line, verbatim
    assert "account_id" in rejects[5][2]  # the detail names the field
    assert installation.warehouse_rows("select request_id from raw.usage_records") == [("ok",)]


def test_offsets_are_converted_to_utc_near_midnight_and_month_end(installation: Installation) -> None:
    installation.write_jsonl(
        DAY,
        "tz.jsonl",
        [
            usage_record("east", "2026-12-01T01:30:00+08:00"),  # 2026-11-30 17:30 UTC
            usage_record("west", "2026-10-31T23:30:00-05:00"),  # 2026-11-01 04:30 UTC
            usage_record("zulu", "2026-11-30T23:59:59.999Z"),
        ],
    )
    _ingest(installation)
    rows = dict(installation.warehouse_rows("select request_id, created_at from raw.usage_records"))
    assert rows == {
        "east": datetime(2026, 11, 30, 17, 30),
        "west": datetime(2026, 11, 1, 4, 30),
        "zulu": datetime(2026, 11, 30, 23, 59, 59, 999000),
    }


def test_the_three_formats_keep_file_name_and_line_number(installation: Installation) -> None:
    installation.write_jsonl(
        DAY, "a.jsonl", [usage_record("a1", "2026-11-05T01:00:00Z"), "", usage_record("a2", "2026-11-05T01:00:00Z")]
    )
    installation.write_jsonl(DAY, "b.jsonl.gz", [usage_record("b1", "2026-11-05T01:00:00Z")])
    installation.write_parquet(
        DAY,
        "c.parquet",
        [usage_record("c1", "2026-11-05T01:00:00Z"), usage_record("c2", "2026-11-05T01:00:00Z", billing_mode="bogus")],
    )
    (installation.day_folder(DAY) / "notes.txt").write_text("not a usage file")

    result = _ingest(installation)

    assert result.files == 3 and result.records_read == 5
    assert installation.warehouse_rows(
        "select source_file, line_number, request_id from raw.usage_records order by 1, 2"
    ) == [("a.jsonl", 1, "a1"), ("a.jsonl", 3, "a2"), ("b.jsonl.gz", 1, "b1"), ("c.parquet", 1, "c1")]
    (source_file, line, reason, raw) = installation.warehouse_rows(
        "select source_file, line_number, reason, raw_record from raw.usage_rejects"
    )[0]
    assert (source_file, line, reason) == ("c.parquet", 2, "bad_billing_mode")
    assert json.loads(raw)["request_id"] == "c2"  # a Parquet row is kept as JSON


def test_a_parquet_file_of_many_row_groups_numbers_each_row_by_its_place_in_the_file(
    installation: Installation,
) -> None:
    """Rows are classified on every core, row groups in any order: each line number is still the
    row's place in the file, and a rejected row keeps its own fields as JSON."""
    records = [usage_record(f"r{n}", "2026-11-05T01:00:00Z") for n in range(1, 5001)]
    records[4321] = {**records[4321], "billing_mode": "bogus"}  # line 4322
    path = installation.day_folder(DAY) / "many.parquet"
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=700)
    assert pq.ParquetFile(path).num_row_groups == 8

    result = _ingest(installation)

    assert (result.valid, result.rejected) == (4999, 1)
    assert installation.warehouse_rows(
        "select count(*) from raw.usage_records where request_id <> 'r' || line_number"
    ) == [(0,)]
    [(line, reason, raw)] = installation.warehouse_rows("select line_number, reason, raw_record from raw.usage_rejects")
    assert (line, reason) == (4322, "bad_billing_mode")
    assert json.loads(raw) == {**records[4321], "date": DAY}  # its fields, and the folder's date=


def test_files_classified_in_several_batches_give_what_one_batch_gives(
    installation: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines of several files are classified together, CLASSIFY_LINES at a time: a batch ending
    mid-day, a file whose unreadable line makes it land a second time, and a Parquet file
    change nothing that lands."""
    record = usage_record
    installation.write_jsonl(
        DAY, "a.jsonl", [record("a1", f"{DAY}T01:00:00Z"), "", "junk", record("a4", f"{DAY}T02:00:00Z")]
    )
    installation.write_jsonl(DAY, "b.jsonl.gz", [record("b1", f"{DAY}T03:00:00Z", billing_mode="free")])
    installation.write_parquet(
        DAY, "c.parquet", [record("c1", f"{DAY}T04:00:00Z"), record("c2", "2026-11-04T23:00:00Z")]
    )
    path = installation.day_folder(DAY) / "d.jsonl"
    path.write_bytes(
        json.dumps(record("d1", f"{DAY}T05:00:00Z")).encode()
        + b'\n{"request_id": "caf\xe9"}\n'
        + json.dumps(record("d3", f"{DAY}T06:00:00Z")).encode()
        + b"\n"
    )
    tables = {
        "usage_records": "select * exclude (arrival_date) from raw.usage_records",
        "usage_rejects": "select * exclude (arrival_date) from raw.usage_rejects",
        "arrival_event_days": "select event_date from raw.arrival_event_days",
    }

    def landed() -> dict[str, list[tuple]]:
        return {name: sorted(installation.warehouse_rows(sql), key=repr) for name, sql in tables.items()}

    at_once = _ingest(installation)
    expected = landed()
    monkeypatch.setattr("meterline.ingest.CLASSIFY_LINES", 2)  # batches: a; b and c; d
    in_batches = _ingest(installation)

    assert landed() == expected
    assert in_batches == at_once and (at_once.valid, at_once.rejected) == (6, 3)
    assert [row[:2] for row in expected["usage_records"]] == [
        ("a.jsonl", 1), ("a.jsonl", 4), ("c.parquet", 1), ("c.parquet", 2), ("d.jsonl", 1), ("d.jsonl", 3)
    ]  # fmt: skip
    assert {row[:3] for row in expected["usage_rejects"]} == {
        ("a.jsonl", 3, None), ("b.jsonl.gz", 1, "b1"), ("d.jsonl", 2, None)
    }  # fmt: skip


def test_reingesting_a_day_replaces_it_and_picks_up_new_files(installation: Installation) -> None:
    installation.write_jsonl(DAY, "a.jsonl", [usage_record("a1", "2026-11-05T01:00:00Z"), "junk"])
    _ingest(installation)
    _ingest(installation)
    assert installation.warehouse_rows("select count(*) from raw.usage_records") == [(1,)]
    assert installation.warehouse_rows("select count(*) from raw.usage_rejects") == [(1,)]

    installation.write_jsonl(DAY, "b.jsonl", [usage_record("b1", "2026-11-04T23:00:00Z")])
    _ingest(installation)
    assert installation.warehouse_rows("select request_id from raw.usage_records order by 1") == [("a1",), ("b1",)]
    assert installation.warehouse_rows("select records_read from raw.arrival_manifest") == [(3,)]
    assert installation.warehouse_rows("select event_date from raw.arrival_event_days order by 1") == [
        (date(2026, 11, 4),),
        (date(2026, 11, 5),),
    ]


def test_a_missing_day_folder_is_an_empty_day(installation: Installation) -> None:
    result = _ingest(installation, "2026-11-09")
    assert (result.files, result.records_read) == (0, 0)
    assert installation.warehouse_rows("select files, records_read from raw.arrival_manifest") == [(0, 0)]


def test_an_unreadable_file_fails_naming_the_file(installation: Installation) -> None:
    (installation.day_folder(DAY) / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(UsageError, match="broken.parquet"):
        _ingest(installation)


def test_region_is_kept_and_missing_null_or_empty_mean_not_reported(installation: Installation) -> None:
    base = usage_record("x", "2026-11-05T01:00:00Z")
    installation.write_jsonl(DAY, "a.jsonl", [
        {**base, "request_id": "us", "region": "us"},
        {**base, "request_id": "gov", "region": "us-gov-east-1"},
        {**base, "request_id": "missing"},
        {**base, "request_id": "null", "region": None},
        {**base, "request_id": "empty", "region": ""},
        {**base, "request_id": "blank", "region": "  "},
    ])  # fmt: skip
    installation.write_parquet(
        DAY,
        "b.parquet",
        [{**base, "request_id": "parquet", "region": "eu"}, {**base, "request_id": "parquet_null", "region": None}],
    )
    result = _ingest(installation)
    assert result.valid == 8
    assert dict(installation.warehouse_rows("select request_id, region from raw.usage_records")) == {
        "us": "us",
        "gov": "us-gov-east-1",
        "missing": None,
        "null": None,
        "empty": None,
        "blank": None,
        "parquet": "eu",
        "parquet_null": None,
    }
