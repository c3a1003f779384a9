"""The Parquet raw layer: one folder per arrival day, replaced whole, the one copy of the raw
records that the warehouse reads through views."""

from __future__ import annotations

import os
from datetime import date

import duckdb

from meterline.ingest import ingest_day
from meterline.raw_layer import DAY_COLUMNS, DAY_TABLES, INCOMING, OLD_SUFFIX, day_dir, open_layer, table_glob
from tests.helpers import Installation, usage_record

DAY = date(2026, 11, 5)


def _ingest(inst: Installation, day: date = DAY) -> None:
    with duckdb.connect(str(inst.warehouse)) as con:
        ingest_day(con, inst.landing, inst.root / "raw", day)


def _layer(inst: Installation, table: str) -> list[tuple]:
    with duckdb.connect() as con:
        return sorted(
            con.execute(f"select * from read_parquet('{table_glob(inst.root / 'raw', table)}')").fetchall(), key=repr
        )


def _warehouse(inst: Installation, table: str) -> list[tuple]:
    return sorted(inst.warehouse_rows(f"select * from raw.{table}"), key=repr)


def _raw_relations(inst: Installation) -> dict[str, str]:
    return dict(
        inst.warehouse_rows(
            "select table_name, table_type from information_schema.tables where table_schema = 'raw' order by 1"
        )
    )


def test_the_warehouse_reads_the_day_folders_and_holds_no_copy(installation: Installation) -> None:
    installation.write_jsonl(
        DAY.isoformat(),
        "a.jsonl",
        [usage_record("r1", "2026-11-04T23:00:00+00:00"), usage_record("r2", "2026-11-05T01:00:00Z"), "not json"],
    )
    _ingest(installation)
    folder = day_dir(installation.root / "raw", DAY)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{t}.parquet" for t in DAY_TABLES)
    for table in DAY_TABLES:
        assert _layer(installation, table) == _warehouse(installation, table), table
    assert len(_layer(installation, "usage_records")) == 2 and len(_layer(installation, "usage_rejects")) == 1
    assert _raw_relations(installation) == {table: "VIEW" for table in DAY_TABLES}
    # A second day is read beside the first, without anything registered again.
    installation.write_jsonl("2026-11-06", "b.jsonl", [usage_record("r3", "2026-11-06T01:00:00Z")])
    _ingest(installation, date(2026, 11, 6))
    assert [row[3] for row in _warehouse(installation, "usage_records")] == ["r1", "r2", "r3"]


def test_a_rerun_replaces_the_day_folder_whole(installation: Installation) -> None:
    wrong = installation.write_jsonl(DAY.isoformat(), "wrong.jsonl", [usage_record("w1", "2026-11-02T01:00:00Z")])
    installation.write_jsonl(DAY.isoformat(), "a.jsonl", [usage_record("r1", "2026-11-05T01:00:00Z")])
    _ingest(installation)
    wrong.unlink()
    _ingest(installation)
    assert [row[3] for row in _layer(installation, "usage_records")] == ["r1"]
    assert [row[3] for row in _warehouse(installation, "usage_records")] == ["r1"]
    # the event day the removed file touched stays listed, so the engines rebuild it
    assert {str(row[1]) for row in _layer(installation, "arrival_event_days")} == {"2026-11-02", "2026-11-05"}
    assert list((installation.root / "raw" / INCOMING).iterdir()) == []


def test_an_empty_day_has_files_with_every_column(installation: Installation) -> None:
    _ingest(installation)
    with duckdb.connect() as con:
        columns = con.execute(
            f"describe select * from read_parquet('{table_glob(installation.root / 'raw', 'usage_records')}')"
        ).fetchall()
    assert _layer(installation, "usage_records") == []
    assert [(name, kind.lower()) for name, kind, *_ in columns] == list(DAY_COLUMNS["usage_records"])
    assert [row[2] for row in _layer(installation, "arrival_manifest")] == [0]


def test_a_layer_without_days_reads_as_tables_without_rows(installation: Installation) -> None:
    with duckdb.connect(str(installation.warehouse)) as con:
        open_layer(con, installation.root / "raw")
        described = con.execute("select column_name, data_type from information_schema.columns "
                                "where table_name = 'usage_records' order by ordinal_position").fetchall()  # fmt: skip
    assert _warehouse(installation, "usage_records") == []
    assert [(name, kind.lower()) for name, kind in described] == list(DAY_COLUMNS["usage_records"])


def test_a_day_folder_moved_aside_by_a_killed_swap_is_put_back(installation: Installation) -> None:
    installation.write_jsonl(DAY.isoformat(), "a.jsonl", [usage_record("r1", "2026-11-05T01:00:00Z")])
    _ingest(installation)
    raw = installation.root / "raw"
    # Killed between the swap's two renames: the old folder aside, the new one still incoming.
    folder = day_dir(raw, DAY)
    os.replace(folder, raw / INCOMING / f"{folder.name}{OLD_SUFFIX}")
    (raw / INCOMING / "half-written").mkdir()
    (raw / INCOMING / "half-written" / "usage_records.parquet").write_bytes(b"PAR1")
    with duckdb.connect(str(installation.warehouse)) as con:
        open_layer(con, raw)
    assert [row[3] for row in _warehouse(installation, "usage_records")] == ["r1"]
    assert list((raw / INCOMING).iterdir()) == []


def test_a_warehouse_from_before_moves_its_raw_tables_into_the_layer(installation: Installation) -> None:
    """Before, the raw records were tables of the warehouse (and before regions, without region)."""
    old = date(2026, 11, 4)
    with duckdb.connect(str(installation.warehouse)) as con:
        con.execute("create schema raw")
        for table, columns in DAY_COLUMNS.items():
            kept = [f"{name} {kind}" for name, kind in columns if name != "region"]
            con.execute(f"create table raw.{table} ({', '.join(kept)})")
        con.execute(
            "insert into raw.usage_records values (?, 'old.jsonl', 1, 'old', '2026-11-04 10:00:00', 'acct', 'key', "
            "null, 'openai/gpt-test', 'openai', null, 'payg', 10, 0, 0, 2, 0, 0, 0)",
            [old],
        )
        con.execute(
            "insert into raw.usage_rejects values (?, 'old.jsonl', 2, null, 'malformed_record', 'x', 'x')", [old]
        )
        con.execute("insert into raw.arrival_manifest values (?, 1, 2, '2026-11-04 12:00:00')", [old])
        con.execute("insert into raw.arrival_event_days values (?, '2026-11-03'), (?, '2026-11-04')", [old, old])
    installation.write_jsonl(DAY.isoformat(), "a.jsonl", [usage_record("new", "2026-11-05T01:00:00Z", region="eu")])
    _ingest(installation)
    assert _raw_relations(installation) == {table: "VIEW" for table in DAY_TABLES}
    assert installation.warehouse_rows(
        "select arrival_date::varchar, request_id, region, input_tokens from raw.usage_records order by 1"
    ) == [("2026-11-04", "old", None, 10), ("2026-11-05", "new", "eu", 1000)]
    assert installation.warehouse_rows(
        "select arrival_date::varchar, records_read from raw.arrival_manifest order by 1"
    ) == [
        ("2026-11-04", 2),
        ("2026-11-05", 1),
    ]
    assert installation.warehouse_rows("select reason from raw.usage_rejects") == [("malformed_record",)]
    assert installation.warehouse_rows(
        "select event_date::varchar from raw.arrival_event_days where arrival_date = '2026-11-04' order by 1"
    ) == [("2026-11-03",), ("2026-11-04",)]
