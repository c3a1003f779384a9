"""The Parquet raw layer: one folder per arrival day, the same rows as the warehouse, replaced whole."""

from __future__ import annotations

from datetime import date

import duckdb

from meterline.ingest import ingest_day
from meterline.raw_layer import DAY_TABLES, INCOMING, day_dir, table_glob, write_day
from tests.helpers import Installation, usage_record

DAY = date(2026, 11, 5)


def _ingest(inst: Installation) -> None:
    with duckdb.connect(str(inst.warehouse)) as con:
        ingest_day(con, inst.landing, DAY)
        write_day(con, inst.root / "raw", DAY)


def _layer(inst: Installation, table: str) -> list[tuple]:
    with duckdb.connect() as con:
        return sorted(
            con.execute(f"select * from read_parquet('{table_glob(inst.root / 'raw', table)}')").fetchall(), key=repr
        )


def _warehouse(inst: Installation, table: str) -> list[tuple]:
    return sorted(inst.warehouse_rows(f"select * from raw.{table}"), key=repr)


def test_a_day_folder_holds_the_warehouse_rows_of_every_raw_table(installation: Installation) -> None:
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


def test_a_rerun_replaces_the_day_folder_whole(installation: Installation) -> None:
    wrong = installation.write_jsonl(DAY.isoformat(), "wrong.jsonl", [usage_record("w1", "2026-11-02T01:00:00Z")])
    installation.write_jsonl(DAY.isoformat(), "a.jsonl", [usage_record("r1", "2026-11-05T01:00:00Z")])
    _ingest(installation)
    wrong.unlink()
    _ingest(installation)
    assert [row[3] for row in _layer(installation, "usage_records")] == ["r1"]
    for table in DAY_TABLES:
        assert _layer(installation, table) == _warehouse(installation, table), table
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
    assert [c[0] for c in columns][:4] == ["arrival_date", "source_file", "line_number", "request_id"]
    assert [row[2] for row in _layer(installation, "arrival_manifest")] == [0]
