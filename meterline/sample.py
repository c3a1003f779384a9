"""Write a realistic sample landing folder in the shape of ../shared/contracts/raw_usage.md.

`generate_landing` writes, for each arrival day, ``date=YYYY-MM-DD/usage-YYYYMMDD-NN.<ext>``: six files, in name
order ``.jsonl``, ``.jsonl.gz``, ``.parquet``, ``.jsonl``, ``.jsonl.gz``, ``.parquet``, holding ``rows_per_day``
records (lines) together. A day's records come from ``numpy.random.default_rng([seed, day number])`` and are built
as whole columns (numpy for the numbers, pyarrow compute for the text), so the same arguments give byte-identical
files. Re-running into the same folder overwrites the files of those days.
The Parquet files have the record's fields as columns (``usage`` a struct of int64 counters, null where left out;
``created_at`` the RFC 3339 text) plus one unknown column, ``latency_ms``.

Shares (of a day's records unless said otherwise):

- routes: (provider, model) pairs of the price catalog priced before the earliest possible created_at, up to 20
  LLM, 6 Embedding and 6 Vision ones (models served by two providers mixed in first); model type LLM 85 %,
  Embedding 10 %, Vision 5 %, within a type by 1/rank popularity; 0.5 % of the valid records name a route that
  is not in the catalog (`unpriced`).
- endpoint: LLM -> chat.completions 60 %, responses 20 %, messages 17 %, rerank, audio.speech, moderations (an
  `other` endpoint) and none at all 0.75 % each; Embedding -> embeddings; Vision -> images.generations 80 %,
  images.edits 20 %.
- 18 API keys of 5 accounts, by 1/rank popularity; the busiest key is renamed at the middle of the generated
  period (records made from then on carry the new name). billing_mode payg 80 %, subscription 20 %.
- usage: LLM calls have input and output tokens, 35 % of them cached input tokens, 10 % cache-write tokens
  (both inside input_tokens), 25 % reasoning tokens (inside output_tokens), 2 % of the chat calls web searches;
  embeddings only input tokens; image calls a short prompt and 1, 2 or 4 images. Half the records leave out their
  zero counters.
- created_at: 96.7 % made on the arrival day, 3 % the day before, 0.3 % two or three days before; the time of day
  is 55 % flat, 43 % around 14:00 UTC and 2 % within 90 s of a midnight; 30 % carry milliseconds; zones Z 60 %,
  +00:00 5 %, +08:00 10 %, -05:00 10 %, +05:30 8 %, +09:00 4 %, -08:00 3 %.
- unknown extra fields (latency_ms, metadata) on 5 %.
- re-deliveries 0.5 %: copies of earlier valid requests in a later file, of the same day or (from the second day,
  half of them) of the day before; 40 % are corrections with more input (and output) tokens.
- invalid lines 1 %, in the JSONL files only: each breaks exactly one quarantine rule, cycling through the reasons
  (all but `unpriced`) and, within a reason, through its variants.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import chain, zip_longest
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from meterline.catalog import read_catalog
from meterline.contract import BILLING_MODES
from meterline.errors import UsageError
from meterline.settings import Settings

Frame = dict[str, np.ndarray]  # one numpy column per attribute of a record, one row per record

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
EPOCH = date(1970, 1, 1)

FILE_FORMATS = ("jsonl", "jsonl.gz", "parquet", "jsonl", "jsonl.gz", "parquet")
TEXT_FILES = np.array([number for number, fmt in enumerate(FILE_FORMATS) if fmt != "parquet"])
GZIP_LEVEL = 1  # fast; the size barely differs from level 6 for these lines
# Records turned into JSON text at once: an Arrow string array holds at most 2 GiB, which the texts built for a
# 20M-record day's file (~3.3M records, 1.3 GB of lines) outgrew.
JSON_CHUNK_ROWS = 1_000_000


def _by_rank(n: int) -> np.ndarray:
    """`n` shares falling as 1/rank (the most popular first), summing to 1."""
    weights = 1 / np.arange(1, n + 1)
    return weights / weights.sum()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    account_id: str
    name: str | None


API_KEYS = (
    ApiKey("key_7f3a9c01", "acct_northwind", "prod-eu"),
    ApiKey("key_2b81d4e7", "acct_northwind", "backend-prod"),
    ApiKey("key_c40f1a92", "acct_globex", "数据团队"),
    ApiKey("key_91e6b3d5", "acct_initech", "O'Brien's key"),
    ApiKey("key_5d27f0a8", "acct_globex", None),
    ApiKey("key_e8a1c6f3", "acct_umbrella", "Équipe données (Paris)"),
    ApiKey("key_3c9d72b0", "acct_hooli", 'support-bot "v2"'),
    ApiKey("key_a6f0e415", "acct_initech", "staging, do not use"),
    ApiKey("key_0e4b8d2c", "acct_umbrella", "Тестовый ключ"),
    ApiKey("key_f19c5a7e", "acct_hooli", "🚀 launch week"),
    ApiKey("key_6a2e9f13", "acct_northwind", "C:\\ci\\nightly"),
    ApiKey("key_b7d3014a", "acct_globex", "データ分析"),
    ApiKey("key_48c1e9b6", "acct_initech", None),
    ApiKey("key_d52a7c08", "acct_umbrella", "research sandbox"),
    ApiKey("key_8e0f3b69", "acct_hooli", "mobile-ios"),
    ApiKey("key_17b9d4e2", "acct_northwind", "analytics; batch"),
    ApiKey("key_c8e25f71", "acct_globex", "legacy key (rotated 2025)"),
    ApiKey("key_4f6a0d3b", "acct_umbrella", "ml-platform"),
)
KEY_SHARES = _by_rank(len(API_KEYS))
RENAMED_KEY = 0  # index into API_KEYS
RENAMED_TO = 'Prod, "EU" – Zürich'

# RFC 3339 zone suffix -> minutes east of UTC, share of records.
ZONES = {"Z": (0, 0.60), "+00:00": (0, 0.05), "+08:00": (480, 0.10), "-05:00": (-300, 0.10),
         "+05:30": (330, 0.08), "+09:00": (540, 0.04), "-08:00": (-480, 0.03)}  # fmt: skip
ZONE_SUFFIXES = pa.array(list(ZONES))
ZONE_OFFSETS_MS = np.array([minutes * 60_000 for minutes, _ in ZONES.values()])
ZONE_SHARES = [share for _, share in ZONES.values()]

TYPE_SHARES = {"LLM": 0.85, "Embedding": 0.10, "Vision": 0.05}
ROUTES_PER_TYPE = {"LLM": 20, "Embedding": 6, "Vision": 6}
TYPES = tuple(TYPE_SHARES)
LLM, VISION = TYPES.index("LLM"), TYPES.index("Vision")
ENDPOINT_SHARES: dict[str, dict[str | None, float]] = {
    "LLM": {"chat.completions": 0.60, "responses": 0.20, "messages": 0.17, "rerank": 0.0075,
            "audio.speech": 0.0075, "moderations": 0.0075, None: 0.0075},
    "Embedding": {"embeddings": 1.0},
    "Vision": {"images.generations": 0.80, "images.edits": 0.20},
}  # fmt: skip
ENDPOINTS = tuple(dict.fromkeys(chain.from_iterable(ENDPOINT_SHARES.values())))
CHAT_ENDPOINTS = [ENDPOINTS.index(name) for name in ("chat.completions", "responses", "messages")]
UNPRICED_SHARE = 0.005
PAYG_SHARE = 0.80

COUNTERS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
            "images", "web_search_calls")  # fmt: skip
INPUT_LOG_MEAN = np.array([7.0, 5.5, 3.8])  # of log(input_tokens), per model type
INPUT_LOG_SIGMA = np.array([1.1, 1.2, 0.6])
CACHED_SHARE = 0.35
CACHE_WRITE_SHARE = 0.10
REASONING_SHARE = 0.25
WEB_SEARCH_SHARE = 0.02
OMIT_ZEROS_SHARE = 0.5

DAYS_BEFORE_SHARES = (0.967, 0.03, 0.002, 0.001)  # made 0, 1, 2 or 3 days before the arrival day
TIME_OF_DAY_SHARES = (0.55, 0.43, 0.02)  # flat, busy afternoon, near a midnight
PRECISE_SHARE = 0.30
EXTRA_FIELDS_SHARE = 0.05
METADATA_JSON = '{"sdk":"meterline-gateway/2.3","retry":false}'
REDELIVERY_SHARE = 0.005
CORRECTION_SHARE = 0.40
INVALID_SHARE = 0.01

REQUIRED_FIELDS = ("request_id", "created_at", "account_id", "api_key_id", "model", "provider", "billing_mode",
                   "usage")  # fmt: skip
MISSING_AS = (None, "null", '""')  # a missing required field is left out, null or empty
MALFORMED_SHAPES = ("not_json", "json_array", "truncated")


@dataclass(frozen=True, order=True)
class Route:
    """A (provider, model) pair that serves requests, with the model type its catalog rows give."""

    provider: str
    model: str
    model_type: str


@dataclass(frozen=True)
class Defect:
    """How one invalid line breaks its rule: a malformed `shape`, or the JSON text written for `field`
    (None: the field is left out)."""

    reason: str
    shape: str | None = None
    field: str | None = None
    json: str | None = None


@dataclass(frozen=True)
class Vocabulary:
    """The values of one text field, as Parquet values and as JSON texts (null: absent), looked up by index."""

    raw: pa.Array
    json: pa.Array

    @classmethod
    def of(cls, values: Sequence[str | None]) -> Vocabulary:
        texts = [None if value is None else json.dumps(value, ensure_ascii=False) for value in values]
        return cls(pa.array(values, pa.string()), pa.array(texts, pa.string()))


@dataclass(frozen=True)
class Plan:
    """What every day shares: the routes (the `priced` ones first, then unpriced ones) with the priced ones'
    shares and every route's type, the text vocabularies and the instant the renamed key changes its name."""

    seed: int
    priced: int
    route_shares: np.ndarray
    route_types: np.ndarray
    vocabularies: dict[str, Vocabulary]
    rename_ms: int


def generate_landing(
    out: Path,
    days: int,
    rows_per_day: int,
    seed: int = 42,
    start: date = date(2026, 11, 1),
    catalog: Path | None = None,
) -> str:
    """Write `days` arrival days of about `rows_per_day` records each from `start` into `out`; return a summary."""
    _check_arguments(out, days, rows_per_day, seed)
    plan = _plan(catalog or Settings.from_env().prices, seed, start, days)
    records = invalid = 0
    previous: Frame | None = None
    for day_number in range(days):
        arrival = start + timedelta(days=day_number)
        rng = np.random.default_rng([seed, day_number])
        defects = _defects(arrival)
        copies = round(rows_per_day * REDELIVERY_SHARE)
        fresh = _fresh_records(rng, _defect_ids(rows_per_day - copies, day_number, defects), arrival, plan)
        day = _in_file_order(_concat_frames([fresh, _redeliveries(rng, copies, fresh, previous)]))
        _write_day(out / f"date={arrival.isoformat()}", arrival, day, plan, _defect_table(defects))
        records += len(day["file"])
        invalid += int((day["defect"] >= 0).sum())
        previous = fresh
    return (
        f"generated {days} arrival day(s): {days * len(FILE_FORMATS)} files, {records} records "
        f"({invalid} invalid lines) in {out}"
    )


def _check_arguments(out: Path, days: int, rows_per_day: int, seed: int) -> None:
    for name, value in (("days", days), ("rows_per_day", rows_per_day)):
        if value <= 0:
            raise UsageError(f"{name} must be a positive integer, got {value}")
    if seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"output path {out} exists and is not a folder; pass a folder for the landing files")


# --- what every day shares -------------------------------------------------------------------------------------


def _plan(catalog: Path, seed: int, start: date, days: int) -> Plan:
    earliest = start - timedelta(days=len(DAYS_BEFORE_SHARES) - 1)
    priced = _pick_routes(_catalog_routes(catalog), earliest, np.random.default_rng(seed))
    if not priced:
        raise UsageError(
            f"price catalog {catalog} has no LLM, Embedding or Vision price in force on {earliest}; "
            "pass a later start day or another catalog"
        )
    routes = [*priced, *_unpriced_routes(priced[0])]
    vocabularies = {
        "account_id": [key.account_id for key in API_KEYS],
        "api_key_id": [key.key_id for key in API_KEYS],
        "api_key_name": [*(key.name for key in API_KEYS), RENAMED_TO],
        "model": [route.model for route in routes],
        "provider": [route.provider for route in routes],
        "endpoint": ENDPOINTS,
        "billing_mode": BILLING_MODES,
    }
    return Plan(
        seed=seed,
        priced=len(priced),
        route_shares=_route_shares(priced),
        route_types=np.array([TYPES.index(route.model_type) for route in routes]),
        vocabularies={field: Vocabulary.of(values) for field, values in vocabularies.items()},
        rename_ms=_day_ms(start) + days * DAY_MS // 2,
    )


def _catalog_routes(catalog: Path) -> dict[Route, datetime]:
    """Each (provider, model, model_type) of the catalog with the first instant (UTC) it is priced from, by its
    region-less rows (the records generated report no region)."""
    with duckdb.connect() as con:
        read_catalog(con, catalog)
        rows = con.execute(
            """SELECT provider, model, model_type, min(effective_from) FROM raw.price_catalog
               WHERE effective_from IS NOT NULL AND region IS NULL GROUP BY ALL"""
        ).fetchall()
    return {Route(provider, model, model_type): since for provider, model, model_type, since in rows}


def _pick_routes(catalog: dict[Route, datetime], earliest: date, rng: np.random.Generator) -> list[Route]:
    """Up to ROUTES_PER_TYPE routes of each type priced before `earliest`, a model on at most two providers.
    Models served by several providers (the most providers first, as the popular ones) alternate with the others,
    so some are picked whenever the catalog has them."""
    in_force = sorted(route for route, since in catalog.items() if since.date() < earliest)
    picked: list[Route] = []
    for model_type, quota in ROUTES_PER_TYPE.items():
        providers: dict[str, list[str]] = {}
        for route in in_force:
            if route.model_type == model_type:
                providers.setdefault(route.model, []).append(route.provider)
        models = [list(providers)[i] for i in rng.permutation(len(providers))]
        shared = sorted((model for model in models if len(providers[model]) > 1), key=lambda m: -len(providers[m]))
        single = [model for model in models if len(providers[model]) == 1]
        ordered = [model for pair in zip_longest(shared, single) for model in pair if model is not None]
        typed = [Route(provider, model, model_type) for model in ordered for provider in providers[model][:2]]
        picked += typed[:quota]
    return picked


def _unpriced_routes(known: Route) -> list[Route]:
    """Routes no catalog lists: a known model on a made-up provider, a made-up model on a known provider."""
    return [Route("meterline-labs", known.model, "LLM"), Route(known.provider, "meterline-labs/unreleased", "LLM")]


def _route_shares(priced: list[Route]) -> np.ndarray:
    """Each priced route's share: its type's share (over the types present), split by 1/rank within the type."""
    types = np.array([route.model_type for route in priced])
    shares = np.zeros(len(priced))
    for kind, share in TYPE_SHARES.items():
        rows = types == kind
        shares[rows] = share * _by_rank(int(rows.sum()))
    return shares / shares.sum()


def _defects(arrival: date) -> list[Defect]:
    """Reason by reason (in the contract's order, `unpriced` aside), the ways a line breaks that rule and no
    other: the usage of a usage defect stays consistent, a negative or non-integer counter included."""
    day = arrival.isoformat()
    return [
        *(Defect("malformed_record", shape=shape) for shape in MALFORMED_SHAPES),
        *(
            Defect("missing_field", field=field, json=text)
            for field, text in _field_and_style_pairs(REQUIRED_FIELDS, MISSING_AS)
            if (field, text) != ("usage", '""')
        ),
        *(
            Defect("bad_timestamp", field="created_at", json=text)
            for text in (f'"{day}T09:30:00"', f'"{arrival.year}-02-30T09:30:00Z"', '"not a date"')
        ),
        *(Defect("bad_billing_mode", field="billing_mode", json=text) for text in ('"prepaid"', '"free_tier"')),
        *(
            Defect("negative_usage", field="usage", json=text)
            for text in (
                '{"input_tokens":350,"output_tokens":120,"reasoning_tokens":-16}',
                '{"input_tokens":350,"cached_input_tokens":-40,"output_tokens":120}',
                '{"input_tokens":350,"output_tokens":1.5}',
                '{"input_tokens":"12","output_tokens":40}',
            )
        ),
        *(
            Defect("inconsistent_usage", field="usage", json=text)
            for text in (
                '{"input_tokens":100,"cached_input_tokens":80,"cache_write_tokens":40,"output_tokens":20}',
                '{"input_tokens":100,"cached_input_tokens":120,"output_tokens":20}',
                '{"input_tokens":100,"output_tokens":20,"reasoning_tokens":35}',
            )
        ),
    ]


def _field_and_style_pairs(fields: Sequence[str], styles: Sequence[str | None]) -> list[tuple[str, str | None]]:
    """Every (field, style) pair, ordered so that both change from one pair to the next (len(fields) and
    len(styles) are coprime): the first few missing_field lines already cover every field and every style."""
    return [(fields[k % len(fields)], styles[k % len(styles)]) for k in range(len(fields) * len(styles))]


# --- the records of one arrival day ----------------------------------------------------------------------------


def _fresh_records(rng: np.random.Generator, defect: np.ndarray, arrival: date, plan: Plan) -> Frame:
    """New requests landing on `arrival`, one per `defect` id (-1: a valid record)."""
    n = len(defect)
    route = _routes(rng, n, plan, defect < 0)
    kind = plan.route_types[route]
    endpoint = _endpoints(rng, kind)
    return {
        "rid_day": np.full(n, int(f"{arrival:%Y%m%d}")),
        "rid_n": np.arange(n),
        "defect": defect,
        "route": route,
        "endpoint": endpoint,
        **_event_times(rng, n, arrival),
        **_usage(rng, kind, endpoint),
        "key": rng.choice(len(API_KEYS), n, p=KEY_SHARES),
        "billing": (rng.random(n) >= PAYG_SHARE).astype(np.int64),
        "omit_zeros": rng.random(n) < OMIT_ZEROS_SHARE,
        "extra": rng.random(n) < EXTRA_FIELDS_SHARE,
        "latency_ms": rng.integers(80, 30_000, n),
        "file": np.where(defect >= 0, rng.choice(TEXT_FILES, n), rng.integers(0, len(FILE_FORMATS), n)),
    }


def _defect_ids(n: int, day_number: int, defects: list[Defect]) -> np.ndarray:
    """For `n` records, -1 for a valid one; the first INVALID_SHARE of them get an index into `defects`, cycling
    through the reasons and, from one cycle (and day) to the next, through each reason's variants."""
    sizes = list(Counter(defect.reason for defect in defects).values())
    invalid = round(n * INVALID_SHARE)
    serial = np.arange(invalid) + day_number * invalid
    reason = serial % len(sizes)
    variant = serial // len(sizes) % np.array(sizes)[reason]
    ids = np.full(n, -1)
    ids[:invalid] = np.concatenate([[0], np.cumsum(sizes)[:-1]])[reason] + variant
    return ids


def _routes(rng: np.random.Generator, n: int, plan: Plan, may_be_unpriced: np.ndarray) -> np.ndarray:
    route = rng.choice(plan.priced, n, p=plan.route_shares)
    unpriced = (rng.random(n) < UNPRICED_SHARE) & may_be_unpriced
    route[unpriced] = rng.integers(plan.priced, len(plan.route_types), int(unpriced.sum()))
    return route


def _endpoints(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    endpoint = np.empty(len(kind), np.int64)
    for model_type, shares in ENDPOINT_SHARES.items():
        rows = kind == TYPES.index(model_type)
        choices = [ENDPOINTS.index(name) for name in shares]
        endpoint[rows] = rng.choice(choices, int(rows.sum()), p=list(shares.values()))
    return endpoint


def _event_times(rng: np.random.Generator, n: int, arrival: date) -> Frame:
    """created_at as UTC epoch milliseconds (whole seconds unless `precise`) and the zone it is written in."""
    days_before = rng.choice(len(DAYS_BEFORE_SHARES), n, p=DAYS_BEFORE_SHARES)
    event_ms = _day_ms(arrival) - days_before * DAY_MS + _times_of_day(rng, n)
    precise = rng.random(n) < PRECISE_SHARE
    return {
        "event_ms": np.where(precise, event_ms, event_ms - event_ms % 1000),
        "precise": precise,
        "zone": rng.choice(len(ZONES), n, p=ZONE_SHARES),
    }


def _times_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Milliseconds after 00:00 UTC: flat traffic, a busy afternoon, and some within 90 s of a midnight."""
    flat = rng.integers(0, DAY_MS, n)
    busy = rng.normal(14 * HOUR_MS, 4 * HOUR_MS, n).astype(np.int64) % DAY_MS
    near_midnight = rng.integers(-90_000, 90_000, n) % DAY_MS
    return np.choose(rng.choice(3, n, p=TIME_OF_DAY_SHARES), (flat, busy, near_midnight))


def _usage(rng: np.random.Generator, kind: np.ndarray, endpoint: np.ndarray) -> Frame:
    """Consistent counters: cached + cache-write <= input, reasoning <= output."""
    n = len(kind)
    llm = kind == LLM
    input_tokens = np.ceil(rng.lognormal(INPUT_LOG_MEAN[kind], INPUT_LOG_SIGMA[kind])).astype(np.int64)
    output_tokens = np.where(llm, np.ceil(rng.lognormal(5.5, 1.0, n)), 0).astype(np.int64)
    cached = np.where(llm & (rng.random(n) < CACHED_SHARE), input_tokens * rng.uniform(0.2, 0.95, n), 0)
    cached = cached.astype(np.int64)
    cache_write = np.where(
        llm & (rng.random(n) < CACHE_WRITE_SHARE), (input_tokens - cached) * rng.uniform(0.1, 0.9, n), 0
    ).astype(np.int64)
    reasoning = np.where(
        llm & (rng.random(n) < REASONING_SHARE), np.maximum(1, output_tokens * rng.uniform(0.2, 0.9, n)), 0
    ).astype(np.int64)
    images = np.where(kind == VISION, rng.choice([1, 2, 4], n, p=[0.7, 0.2, 0.1]), 0)
    searches = np.isin(endpoint, CHAT_ENDPOINTS) & (rng.random(n) < WEB_SEARCH_SHARE)
    values = (input_tokens, cached, cache_write, output_tokens, reasoning, images,
              np.where(searches, rng.integers(1, 6, n), 0))  # fmt: skip
    return dict(zip(COUNTERS, values, strict=True))


def _redeliveries(rng: np.random.Generator, n: int, today: Frame, yesterday: Frame | None) -> Frame:
    """`n` copies of valid requests, each in a later file than its original: an earlier file of today or (half
    of them, when there is a day before) yesterday's; CORRECTION_SHARE of them with more tokens."""
    from_yesterday = 0 if yesterday is None else n // 2
    last_file = len(FILE_FORMATS) - 1
    same_day = _sample(rng, today, (today["defect"] < 0) & (today["file"] < last_file), n - from_yesterday)
    same_day["file"] = rng.integers(same_day["file"] + 1, len(FILE_FORMATS))
    parts = [same_day]
    if yesterday is not None:
        next_day = _sample(rng, yesterday, yesterday["defect"] < 0, from_yesterday)
        next_day["file"] = rng.integers(0, len(FILE_FORMATS), len(next_day["file"]))
        parts.append(next_day)
    copies = _concat_frames(parts)
    count = len(copies["file"])
    bump = np.where(rng.random(count) < CORRECTION_SHARE, rng.integers(1, 500, count), 0)
    copies["input_tokens"] = copies["input_tokens"] + bump
    copies["output_tokens"] = copies["output_tokens"] + np.where(copies["output_tokens"] > 0, bump, 0)
    return copies


def _sample(rng: np.random.Generator, frame: Frame, eligible: np.ndarray, size: int) -> Frame:
    rows = np.flatnonzero(eligible)
    return _take(frame, rng.choice(rows, min(size, rows.size), replace=False))


def _in_file_order(frame: Frame) -> Frame:
    return _take(frame, np.lexsort((frame["event_ms"], frame["file"])))


def _take(frame: Frame, rows: np.ndarray | slice) -> Frame:
    return {name: column[rows] for name, column in frame.items()}


def _concat_frames(frames: list[Frame]) -> Frame:
    return {name: np.concatenate([frame[name] for frame in frames]) for name in frames[0]}


def _day_ms(day: date) -> int:
    return (day - EPOCH).days * DAY_MS


# --- writing ---------------------------------------------------------------------------------------------------


def _write_day(folder: Path, arrival: date, day: Frame, plan: Plan, defects: pa.RecordBatch) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.searchsorted(day["file"], np.arange(len(FILE_FORMATS) + 1))
    for number, fmt in enumerate(FILE_FORMATS):
        rows = _take(day, slice(bounds[number], bounds[number + 1]))
        path = folder / f"usage-{arrival:%Y%m%d}-{number:02d}.{fmt}"
        if fmt == "parquet":
            pq.write_table(_parquet_table(rows, plan), path, compression="zstd")
        else:
            chunks = (
                _take(rows, slice(start, start + JSON_CHUNK_ROWS))
                for start in range(0, len(rows["file"]), JSON_CHUNK_ROWS)
            )
            _write_text(
                path, (_joined_lines(_json_lines(chunk, plan, defects)) for chunk in chunks), fmt.endswith(".gz")
            )


def _write_text(path: Path, parts: Iterator[pa.Buffer], compress: bool) -> None:
    """Write `parts` one after the other, gzip-compressed as ``gzip.compress(text, mtime=0)`` would (zlib's gzip
    format: the same seed gives the same bytes) without holding the whole text: a file's text can exceed 2 GiB."""
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if compress else None
    with path.open("wb") as out:
        for part in parts:
            out.write(packer.compress(part) if packer else part)
        if packer:
            out.write(packer.flush())


def _defect_table(defects: list[Defect]) -> pa.RecordBatch:
    columns = ("shape", "field", "json")
    return pa.record_batch({name: pa.array([getattr(d, name) for d in defects], pa.string()) for name in columns})


def _parquet_table(rows: Frame, plan: Plan) -> pa.Table:
    counters = _counters(rows)
    return pa.table(
        {
            "request_id": _request_ids(rows, plan.seed),
            "created_at": _created_at(rows),
            **{field: plan.vocabularies[field].raw.take(index) for field, index in _text_indices(rows, plan).items()},
            "usage": pa.StructArray.from_arrays(list(counters.values()), list(counters)),
            "latency_ms": pa.array(rows["latency_ms"], mask=~rows["extra"]),
        }
    )


def _json_lines(rows: Frame, plan: Plan, defects: pa.RecordBatch) -> pa.Array:
    """One JSON text per record; an invalid record (its defect row) gets its field replaced or its shape broken."""
    request_ids = _request_ids(rows, plan.seed)
    values = {
        "request_id": _concat('"', request_ids, '"'),
        "created_at": _concat('"', _created_at(rows), '"'),
        **{field: plan.vocabularies[field].json.take(index) for field, index in _text_indices(rows, plan).items()},
        "usage": _concat("{", _join_members(_counters(rows)), "}"),
        "latency_ms": pa.array(rows["latency_ms"], mask=~rows["extra"]).cast(pa.string()),
        "metadata": pc.if_else(pa.array(rows["extra"]), METADATA_JSON, pa.scalar(None, pa.string())),
    }
    values["api_key_name"] = values["api_key_name"].fill_null("null")  # a null name is written; no endpoint is not
    defect = defects.take(pa.array(rows["defect"], mask=rows["defect"] < 0))
    for field in values:
        values[field] = pc.if_else(_is(defect["field"], field), defect["json"], values[field])
    record = _concat("{", _join_members(values), "}")
    broken = {
        "not_json": _concat("upstream timeout after 30s request_id=", request_ids),
        "json_array": _concat("[", record, "]"),
        "truncated": pc.utf8_slice_codeunits(record, 0, 80),  # every record is longer: it never closes
    }
    for shape in MALFORMED_SHAPES:
        record = pc.if_else(_is(defect["shape"], shape), broken[shape], record)
    return record


def _text_indices(rows: Frame, plan: Plan) -> dict[str, np.ndarray]:
    """Per text field, the index of each record's value in its vocabulary (in the order of the record's fields)."""
    renamed = (rows["key"] == RENAMED_KEY) & (rows["event_ms"] >= plan.rename_ms)
    return {
        "account_id": rows["key"],
        "api_key_id": rows["key"],
        "api_key_name": np.where(renamed, len(API_KEYS), rows["key"]),
        "model": rows["route"],
        "provider": rows["route"],
        "endpoint": rows["endpoint"],
        "billing_mode": rows["billing"],
    }


def _request_ids(rows: Frame, seed: int) -> pa.Array:
    """``req_<seed>_<YYYYMMDD of first arrival>_<serial>``: unique per request, shared by its re-deliveries."""
    serial = pc.utf8_lpad(pa.array(rows["rid_n"]).cast(pa.string()), 7, "0")
    return _concat(f"req_{seed}_", pa.array(rows["rid_day"]).cast(pa.string()), "_", serial)


def _created_at(rows: Frame) -> pa.Array:
    """RFC 3339 in the record's zone: local time, milliseconds when precise, then the zone suffix."""
    local_ms = rows["event_ms"] + ZONE_OFFSETS_MS[rows["zone"]]
    seconds = pc.strftime(pa.array(local_ms // 1000, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
    millis = _concat(".", pc.utf8_lpad(pa.array(local_ms % 1000).cast(pa.string()), 3, "0"))
    return _concat(seconds, pc.if_else(pa.array(rows["precise"]), millis, ""), ZONE_SUFFIXES.take(rows["zone"]))


def _counters(rows: Frame) -> dict[str, pa.Array]:
    """The usage counters, null where the record leaves a zero counter out."""
    return {name: pa.array(rows[name], mask=rows["omit_zeros"] & (rows[name] == 0)) for name in COUNTERS}


def _join_members(values: dict[str, pa.Array]) -> pa.Array:
    """`"name":value` pairs joined by commas; a null value leaves its member out."""
    members = [_concat(f'"{name}":', value.cast(pa.string())) for name, value in values.items()]
    return pc.binary_join_element_wise(*members, ",", null_handling="skip")


def _concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise string concatenation; null when any part is null."""
    return pc.binary_join_element_wise(*parts, "")


def _is(column: pa.Array, value: str) -> pa.Array:
    return pc.fill_null(pc.equal(column, value), False)


def _joined_lines(lines: pa.Array) -> pa.Buffer:
    """The lines, each ended by a newline, as one buffer."""
    ended = _concat(lines, "\n")
    return pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(ended)], pa.int32()), ended), "")[0].as_buffer()
