"""`meterline generate`: the sample landing folder follows ../shared/contracts/raw_usage.md."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from meterline.errors import UsageError
from meterline.sample import generate_landing
from orchestration.cli import main

DAYS = 3
ROWS_PER_DAY = 1500
REQUIRED_FIELDS = ("request_id", "created_at", "account_id", "api_key_id", "model", "provider", "billing_mode",
                   "usage")  # fmt: skip
COUNTERS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
            "images", "web_search_calls")  # fmt: skip
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
CATALOG = """\
provider,model,model_type,effective_from,input_per_mtok,cached_input_per_mtok,cache_write_per_mtok,output_per_mtok,\
per_request,per_image,per_web_search
openai,openai/gpt-5,LLM,2025-01-01,1.25,0.125,,10,,,0.01
azure,openai/gpt-5,LLM,2025-01-01,1.25,0.125,,10,,,
openai,openai/gpt-5,LLM,2026-11-02T12:00:00Z,1.5,0.15,,12,,,0.01
anthropic,anthropic/claude-sonnet-4-5,LLM,2025-06-01,3,0.3,3.75,15,,,
amazon-bedrock,anthropic/claude-sonnet-4-5,LLM,2025-06-01,3,0.3,3.75,15,,,
google-vertex,google/gemini-3-pro-preview,LLM,2025-06-01,2,0.2,,12,,,
google-ai-studio,google/gemini-3-pro-preview,LLM,2025-06-01,2,0.2,,12,,,
mistral,mistral/mistral-large,LLM,2025-06-01,2,,,6,,,
openai,openai/text-embedding-3-small,Embedding,2025-01-01,0.02,,,0,,,
google-vertex,google/text-embedding-005,Embedding,2025-01-01,0.025,,,0,,,
openai,openai/gpt-image-1,Vision,2025-01-01,5,,,40,,0.04,
google-vertex,google/imagen-4,Vision,2025-01-01,0,,,0,,0.04,
openai,openai/tts-1,Audio,2025-01-01,15,,,0,,,
xai,xai/grok-9,LLM,2026-12-01,3,,,15,,,
"""
LISTED = {tuple(line.split(",")[:2]) for line in CATALOG.splitlines()[1:]}


@dataclass(frozen=True)
class Delivery:
    """One landed line (or Parquet row): where it is, its text and the JSON value it holds (None: not JSON)."""

    arrival: date
    file: str
    line_number: int
    text: str
    record: Any

    @property
    def order(self) -> tuple[date, str, int]:
        return (self.arrival, self.file, self.line_number)


@dataclass(frozen=True)
class Sample:
    out: Path
    summary: str
    deliveries: list[Delivery]

    @property
    def valid(self) -> list[dict[str, Any]]:
        return [d.record for d in self.deliveries if not failed_rules(d.record)]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalog") / "prices.csv"
    path.write_text(CATALOG, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, catalog: Path) -> Sample:
    out = tmp_path_factory.mktemp("landing") / "usage"
    summary = generate_landing(out, DAYS, ROWS_PER_DAY, seed=7, catalog=catalog)
    return Sample(out, summary, read_landing(out))


def read_landing(out: Path) -> list[Delivery]:
    deliveries = []
    for path in sorted(out.glob("date=*/*")):
        arrival = date.fromisoformat(path.parent.name.removeprefix("date="))
        if path.name.endswith(".parquet"):
            rows = [_without_nulls(row) for row in pq.read_table(path).to_pylist()]
            texts = [json.dumps(row, ensure_ascii=False) for row in rows]
        else:
            data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
            texts = data.decode("utf-8").splitlines()
            rows = [_json_or_none(text) for text in texts]
        deliveries += [
            Delivery(arrival, path.name, n, t, r) for n, (t, r) in enumerate(zip(texts, rows, strict=True), 1)
        ]
    return deliveries


def _without_nulls(row: dict[str, Any]) -> dict[str, Any]:
    """A Parquet row as its JSON line would be: a null counter, endpoint or extra field is left out."""
    row["usage"] = {name: value for name, value in row["usage"].items() if value is not None}
    return {name: value for name, value in row.items() if value is not None or name == "api_key_name"}


def _contract_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The fields of raw_usage.md but usage; extra fields differ (a Parquet row has no `metadata`)."""
    return {name: record.get(name) for name in (*REQUIRED_FIELDS, "api_key_name", "endpoint") if name != "usage"}


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def failed_rules(record: Any) -> list[str]:
    """Every quarantine rule of raw_usage.md (but `unpriced`) the record breaks, not only the first."""
    if not isinstance(record, dict):
        return ["malformed_record"]
    failed = []
    if any(record.get(field) in (None, "") for field in REQUIRED_FIELDS):
        failed.append("missing_field")
    if record.get("created_at") not in (None, "") and utc(record["created_at"]) is None:
        failed.append("bad_timestamp")
    if record.get("billing_mode") not in (None, "", "payg", "subscription"):
        failed.append("bad_billing_mode")
    usage = record.get("usage")
    if isinstance(usage, dict):
        counters = [usage.get(name, 0) for name in COUNTERS]
        if any(type(value) is not int or value < 0 for value in counters):
            failed.append("negative_usage")
        inp, cached, cache_write, out, reasoning, _, _ = (float(value) for value in counters)
        if cached + cache_write > inp or reasoning > out:
            failed.append("inconsistent_usage")
    return failed


def _how_missing(record: dict[str, Any], field: str) -> str | None:
    if field not in record:
        return "absent"
    if record[field] is None:
        return "null"
    return "empty" if record[field] == "" else None


def utc(created_at: str) -> datetime | None:
    if not RFC3339.fullmatch(created_at):
        return None
    try:
        return datetime.fromisoformat(created_at).astimezone(UTC)
    except ValueError:
        return None


def test_each_arrival_day_has_jsonl_gzip_and_parquet_files(sample: Sample) -> None:
    days = sorted(path.name for path in sample.out.iterdir())
    assert days == ["date=2026-11-01", "date=2026-11-02", "date=2026-11-03"]
    for day in days:
        names = sorted(path.name for path in (sample.out / day).iterdir())
        assert len(names) == 6
        assert {name.split(".", 1)[1] for name in names} == {"jsonl", "jsonl.gz", "parquet"}
    parquet = pq.read_schema(next(sample.out.glob("date=*/*.parquet")))
    assert str(parquet.field("created_at").type) == "string"
    assert {str(field.type) for field in parquet.field("usage").type} == {"int64"}


def test_summary_counts_the_records_and_invalid_lines(sample: Sample) -> None:
    invalid = sum(1 for d in sample.deliveries if failed_rules(d.record))
    assert len(sample.deliveries) == DAYS * ROWS_PER_DAY
    assert f"{DAYS * ROWS_PER_DAY} records ({invalid} invalid lines)" in sample.summary
    assert 0.008 <= invalid / len(sample.deliveries) <= 0.012


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path, catalog: Path) -> None:
    def files(seed: int, name: str) -> dict[str, bytes]:
        out = tmp_path / name
        generate_landing(out, 2, 800, seed=seed, catalog=catalog)
        return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*.*"))}

    first = files(11, "a")
    assert first == files(11, "b")
    other = files(12, "c")
    assert other.keys() == first.keys()
    assert all(other[name] != first[name] for name in first)


def test_a_file_written_in_chunks_is_byte_identical_and_gzip_as_gzip_compress_writes(
    tmp_path: Path, catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 20M-record day's file is more text than one Arrow string array holds: it is written in chunks of
    records, and neither the lines nor the gzip stream may show where a chunk ended."""
    import meterline.sample

    def files(name: str) -> dict[str, bytes]:
        out = tmp_path / name
        generate_landing(out, 1, 3000, seed=5, catalog=catalog)
        return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*.jsonl*"))}

    whole = files("whole")
    monkeypatch.setattr(meterline.sample, "JSON_CHUNK_ROWS", 97)
    assert files("chunked") == whole
    for name, data in whole.items():
        if name.endswith(".gz"):
            assert data == gzip.compress(gzip.decompress(data), 1, mtime=0)  # the bytes of one-shot gzip


def test_every_reason_but_unpriced_is_present_and_each_invalid_line_breaks_one_rule(sample: Sample) -> None:
    broken = [(d, failed_rules(d.record)) for d in sample.deliveries if failed_rules(d.record)]
    assert all(len(rules) == 1 for _, rules in broken), [(d.text, rules) for d, rules in broken if len(rules) > 1]
    reasons = Counter(rules[0] for _, rules in broken)
    expected = {"malformed_record", "missing_field", "bad_timestamp", "bad_billing_mode", "negative_usage",
                "inconsistent_usage"}  # fmt: skip
    assert set(reasons) == expected
    assert all(d.file.endswith((".jsonl", ".jsonl.gz")) for d, _ in broken)
    texts = {d.text for d, _ in broken}
    assert any(text.startswith("[") for text in texts)  # a JSON array
    assert any(text.startswith("{") and _json_or_none(text) is None for text in texts)  # truncated
    missing = [d.record for d, rules in broken if rules == ["missing_field"]]
    how = {(field, _how_missing(record, field)) for record in missing for field in REQUIRED_FIELDS}
    assert {field for field, style in how if style} == set(REQUIRED_FIELDS)
    assert {style for _, style in how} >= {"absent", "null", "empty"}


def test_valid_records_carry_the_required_fields_and_consistent_usage(sample: Sample) -> None:
    valid = sample.valid
    assert all(isinstance(record[field], str) for record in valid for field in REQUIRED_FIELDS if field != "usage")
    assert all(record["billing_mode"] in ("payg", "subscription") for record in valid)
    payg = sum(record["billing_mode"] == "payg" for record in valid) / len(valid)
    assert 0.75 <= payg <= 0.85
    usages = [record["usage"] for record in valid]
    assert any(u.get("cached_input_tokens", 0) > 0 and u.get("cache_write_tokens", 0) > 0 for u in usages)
    assert any(u.get("reasoning_tokens", 0) > 0 for u in usages)
    assert any(u.get("web_search_calls", 0) > 0 for u in usages)
    assert any(set(u) < set(COUNTERS) for u in usages)  # a missing counter means 0
    for record in valid:
        images = record["usage"].get("images", 0)
        assert (images > 0) == (record.get("endpoint") in ("images.generations", "images.edits"))


def test_routes_come_from_the_catalog_with_a_few_unpriced(sample: Sample) -> None:
    valid = sample.valid
    routes = Counter((record["provider"], record["model"]) for record in valid)
    unpriced = sum(count for route, count in routes.items() if route not in LISTED)
    assert 0.002 <= unpriced / len(valid) <= 0.01
    assert ("xai", "xai/grok-9") not in routes  # priced only from 2026-12-01
    assert ("openai", "openai/tts-1") not in routes  # an Audio model
    assert len({provider for provider, _ in routes}) >= 3
    providers_of = defaultdict(set)
    for provider, model in routes:
        providers_of[model].add(provider)
    assert any(len(providers) >= 2 for providers in providers_of.values())
    endpoints = Counter(record.get("endpoint") for record in valid)
    assert {"chat.completions", "responses", "messages", "embeddings", "images.generations", None} <= set(endpoints)
    assert all(record["model"].count("/") >= 1 for record in valid)


def test_accounts_keys_and_extra_fields(sample: Sample) -> None:
    valid = sample.valid
    assert len({record["account_id"] for record in valid}) >= 4
    assert len({record["api_key_id"] for record in valid}) >= 15
    assert all(record["api_key_id"].startswith("key_") for record in valid)
    assert any(record["api_key_name"] is None for record in valid)
    assert any("latency_ms" in record and "metadata" in record for record in valid)


def test_created_at_has_zones_milliseconds_late_and_near_midnight_records(sample: Sample) -> None:
    valid = [d for d in sample.deliveries if not failed_rules(d.record)]
    texts = [d.record["created_at"] for d in valid]
    assert {"Z", "+08:00", "-05:00", "+05:30"} <= {re.search(r"(Z|[+-]\d\d:\d\d)$", t).group(1) for t in texts}
    assert any("." in text for text in texts)
    days_late = Counter((d.arrival - utc(d.record["created_at"]).date()).days for d in valid)
    assert set(days_late) <= {0, 1, 2, 3}
    assert 0.02 <= days_late[1] / len(valid) <= 0.04
    assert days_late[2] + days_late[3] > 0
    assert any(utc(t).month == 10 for t in texts)  # made in October, landed in November
    seconds = [utc(t) - utc(t).replace(hour=0, minute=0, second=0, microsecond=0) for t in texts]
    assert any(s < timedelta(seconds=90) or s > timedelta(hours=24, seconds=-90) for s in seconds)


def test_redeliveries_land_in_a_later_file_as_copies_or_corrections(sample: Sample) -> None:
    by_id = defaultdict(list)
    for d in sample.deliveries:
        if not failed_rules(d.record):
            by_id[d.record["request_id"]].append(d)
    repeated = [sorted(ds, key=lambda d: d.order) for ds in by_id.values() if len(ds) > 1]
    assert 0.003 <= len(repeated) / len(sample.deliveries) <= 0.007
    identical = corrected = 0
    for first, *later in repeated:
        for copy in later:
            assert (copy.arrival, copy.file) > (first.arrival, first.file)
            assert (copy.arrival - first.arrival).days <= 1
            assert _contract_fields(copy.record) == _contract_fields(first.record)
            if copy.record["usage"] == first.record["usage"]:
                identical += 1
            else:
                corrected += 1
                assert copy.record["usage"]["input_tokens"] > first.record["usage"]["input_tokens"]
    assert identical > 0 and corrected > 0
    assert any(later.arrival > first.arrival for first, later, *_ in repeated)


def test_names_with_quotes_commas_and_non_ascii_survive_in_json_and_parquet(sample: Sample) -> None:
    wanted = {'Prod, "EU" – Zürich', "数据团队", "O'Brien's key", "C:\\ci\\nightly"}
    glob = str(sample.out / "date=*" / "*")
    parquet = duckdb.sql(f"SELECT DISTINCT api_key_name FROM read_parquet('{glob}.parquet')").fetchall()
    in_parquet = {row[0] for row in parquet}
    in_json = {
        row[0]
        for row in duckdb.sql(
            f"""SELECT DISTINCT json ->> 'api_key_name'
                FROM read_ndjson_objects(['{glob}.jsonl', '{glob}.jsonl.gz'], ignore_errors = true)"""
        ).fetchall()
    }
    assert wanted <= in_parquet and wanted <= in_json


def test_a_key_is_renamed_part_way_through_the_period(sample: Sample) -> None:
    names = defaultdict(list)
    for record in sample.valid:
        if record["api_key_id"] == "key_7f3a9c01":
            names[record["api_key_name"]].append(utc(record["created_at"]))
    assert set(names) == {"prod-eu", 'Prod, "EU" – Zürich'}
    assert max(names["prod-eu"]) < min(names['Prod, "EU" – Zürich'])


def test_rerun_overwrites_the_same_files(tmp_path: Path, catalog: Path) -> None:
    generate_landing(tmp_path, 1, 300, catalog=catalog)
    before = sorted(tmp_path.rglob("*.*"))
    generate_landing(tmp_path, 1, 600, catalog=catalog)
    assert sorted(tmp_path.rglob("*.*")) == before
    assert len(read_landing(tmp_path)) == 600


def test_bad_arguments_are_usage_errors_naming_the_problem(tmp_path: Path, catalog: Path) -> None:
    not_a_folder = tmp_path / "landing.txt"
    not_a_folder.write_text("x")
    with pytest.raises(UsageError, match="landing.txt"):
        generate_landing(not_a_folder, 1, 10, catalog=catalog)
    with pytest.raises(UsageError, match="days"):
        generate_landing(tmp_path / "out", 0, 10, catalog=catalog)
    with pytest.raises(UsageError, match="rows_per_day"):
        generate_landing(tmp_path / "out", 1, -5, catalog=catalog)
    with pytest.raises(UsageError, match="missing.csv"):
        generate_landing(tmp_path / "out", 1, 10, catalog=tmp_path / "missing.csv")


def test_cli_generate_writes_the_landing_folder(
    tmp_path: Path, catalog: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("METERLINE_PRICES", str(catalog))
    argv = ["generate", "--days", "2", "--rows-per-day", "200", "--out", str(tmp_path), "--start", "2026-12-30"]
    assert main(argv) == 0
    assert "400 records" in capsys.readouterr().out
    assert sorted(path.name for path in tmp_path.iterdir()) == ["date=2026-12-30", "date=2026-12-31"]


def test_cli_rejects_zero_days_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--days", "0", "--rows-per-day", "10", "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--days" in error
    assert not any(tmp_path.iterdir())
