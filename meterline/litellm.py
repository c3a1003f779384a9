"""Convert LiteLLM's public price list into the price catalog CSV of ../shared/contracts/pricing.md.

LiteLLM's ``model_prices_and_context_window.json`` maps a model key to an entry with ``litellm_provider``, ``mode``
and prices per token. One catalog row is written per (provider, model):

- provider: only the upstreams the usage records name (``PROVIDERS``); entries of other LiteLLM providers are skipped.
- model: ``vendor/name`` (see `model_slug`).
- prices: per token x 1,000,000 in exact decimals; ``input_cost_per_token`` -> input_per_mtok,
  ``output_cost_per_token`` (else ``output_cost_per_image_token``) -> output_per_mtok,
  ``cache_read_input_token_cost`` -> cached_input_per_mtok,
  ``cache_creation_input_token_cost`` -> cache_write_per_mtok, ``output_cost_per_image`` -> per_image,
  ``input_cost_per_request`` + ``output_cost_per_request`` + ``input_cost_per_query`` (a rerank query is one
  request) -> per_request, ``search_context_cost_per_query`` (its medium context size when given by size)
  -> per_web_search. Long-context tiers, batch/flex/priority prices and per second/character/pixel prices are not
  carried over: the catalog has no place for them.
- An entry is skipped when it bills none of input/output tokens, images or requests at a non-zero price (it is
  priced only per second, character or pixel, or it is a free placeholder), or when a price is not a non-negative
  number.
- region: a key that carries a region gives a region row (pricing.md): Bedrock's cross-region inference profiles
  (``us.``, ``eu.``, ``apac.``, ``jp.``, ``au.``, ``in.``, ``us-gov.``, ``global.`` before the vendor) and
  ``bedrock/<aws-region>/`` keys, Azure's ``azure/<zone>/`` keys (``eu``, ``us``, ``apac``, ``us-gov``, ``global``,
  ``global-standard``), and any routing segment of another provider's key that names a geography or a cloud region
  (``REGION_SEGMENT``). The region is that segment as written; an AWS region wins over a profile prefix in the same
  key. A key without one gives the region-less row.
- Several keys can give the same (provider, model, region), such as ``bedrock/us.anthropic...`` and
  ``us.anthropic...``: the shortest key wins (then the first in key order), i.e. the plain entry over its pinned or
  sized variants.
- A (provider, model) that LiteLLM lists only with regions (no key without one) gets no region-less row: no price of
  one region is passed off as every region's. Its requests that report no region, or another region, are
  ``unpriced`` (quarantined and costed by a rerun once a price exists) rather than costed at a guessed price.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from meterline.catalog import CATALOG_COLUMNS, PRICE_DEFAULTS, REGION
from meterline.errors import UsageError
from meterline.settings import FIRST_ARRIVAL_DAY

PER_MTOK = Decimal(1_000_000)

# LiteLLM provider -> provider name in the usage records. Any "vertex_ai-*" provider is google-vertex too.
PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google-ai-studio",
    "vertex_ai": "google-vertex",
    "azure": "azure",
    "azure_text": "azure",
    "bedrock": "amazon-bedrock",
    "bedrock_converse": "amazon-bedrock",
    "bedrock_mantle": "amazon-bedrock",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "xai": "xai",
}
VERTEX_PROVIDER_PREFIX = "vertex_ai-"

# The vendor of a model whose key names none: the maker the provider itself serves.
HOUSE_VENDORS = {
    "openai": "openai",
    "azure": "openai",
    "anthropic": "anthropic",
    "google-vertex": "google",
    "google-ai-studio": "google",
    "amazon-bedrock": "amazon",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "xai": "xai",
}

# Model family (the name's leading letters) -> vendor; it decides before any vendor named in the key.
FAMILY_VENDORS = {
    "claude": "anthropic",
    "gemini": "google",
    "gemma": "google",
    "gpt": "openai",
    "grok": "xai",
    "deepseek": "deepseek",
    "llama": "meta",
    "jamba": "ai21",
    **dict.fromkeys(
        ("mistral", "mixtral", "ministral", "magistral", "codestral", "devstral", "pixtral", "voxtral"), "mistral"
    ),
}

# Vendors recognised in a key (vertex_ai/meta/..., Bedrock's anthropic.claude-...), and other spellings of them.
VENDORS = frozenset(
    {
        "openai",
        "anthropic",
        "google",
        "deepseek",
        "mistral",
        "xai",
        "meta",
        "amazon",
        "cohere",
        "ai21",
        "qwen",
        "zai",
        "minimax",
        "moonshotai",
        "nvidia",
        "stability",
        "twelvelabs",
        "writer",
    }
)
VENDOR_SPELLINGS = {
    "deepseek-ai": "deepseek",
    "mistralai": "mistral",
    "zai-org": "zai",
    "minimaxai": "minimax",
    "moonshot": "moonshotai",
}

MODEL_TYPES_BY_MODE = {
    "chat": "LLM",
    "completion": "LLM",
    "responses": "LLM",
    "embedding": "Embedding",
    "image_generation": "Vision",
    "image_edit": "Vision",
    "audio_speech": "Audio",
    "audio_transcription": "Audio",
    "rerank": "Rerank",
}

PER_REQUEST_FIELDS = ("input_cost_per_request", "output_cost_per_request", "input_cost_per_query")
BILLED_COLUMNS = ("input_per_mtok", "output_per_mtok", "per_request", "per_image")
NOT_A_MODEL = "sample_spec"

# Bedrock's API revision at the end of a model id: ":0", with the "-v1" before it when that follows a number
# (claude-sonnet-4-5-20250929-v1:0, mistral-large-2402-v1:0); after a letter "-v1" is part of the name (nova-pro-v1:0).
_BEDROCK_REVISION = re.compile(r"(?:(?<=\d)-v\d+)?:\d+$")
_FAMILY = re.compile(r"[a-z]+")
# A routing segment naming where a request is served: a geography (Bedrock's profile prefixes, Azure's data zones and
# global deployments), an AWS region (us-east-1, us-gov-west-1) or a Google Cloud region (us-central1, europe-west4).
REGION_SEGMENT = re.compile(
    r"(?:us|eu|apac|jp|au|in|ca|uk|us-gov|global|global-standard"
    r"|[a-z]{2}(?:-gov)?-[a-z]+-\d+|[a-z]+-[a-z]+\d+)"
)


class _BadPrice(ValueError):
    """A price field that is not a non-negative number."""


def import_litellm_prices(source: Path, out: Path, *, effective_from: str = FIRST_ARRIVAL_DAY) -> int:
    """Write the catalog CSV for LiteLLM's price list at `source` to `out`; return the number of rows written.

    Every row takes `effective_from`, so the catalog prices every partition from that day on.
    """
    rows = _catalog_rows(_read_entries(source), effective_from)
    _write_csv(out, rows)
    return len(rows)


def _catalog_rows(entries: dict[str, Any], effective_from: str) -> list[dict[str, str]]:
    """The catalog rows of LiteLLM entries, one per (provider, model, region), sorted by provider, model and region
    (the region-less row first)."""
    chosen: dict[tuple[str, str, str], dict[str, str]] = {}
    for key in sorted(entries, key=lambda key: (len(key), key)):
        row = _catalog_row(key, entries[key], effective_from)
        if row is not None:
            chosen.setdefault((row["provider"], row["model"], row["region"]), row)
    return [chosen[key] for key in sorted(chosen)]


def key_region(provider: str, key: str) -> str:
    """The region LiteLLM key `key` of catalog `provider` prices, or "" when it names none.

    A routing segment before the model name (``azure/eu/gpt-5``, ``bedrock/us-east-1/...``) that matches
    ``REGION_SEGMENT``; on Bedrock also the profile prefix of the model id (``us.anthropic.claude-...``). An AWS
    region wins over a profile prefix in the same key.
    """
    *prefixes, name = key.split("/")
    segment = next((prefix for prefix in prefixes if REGION_SEGMENT.fullmatch(prefix)), "")
    if segment or provider != "amazon-bedrock":
        return segment
    parts = name.split(".")
    if len(parts) > 2 and _vendor(parts[1]) and REGION_SEGMENT.fullmatch(parts[0]):
        return parts[0]
    return ""


def model_slug(provider: str, key: str) -> str | None:
    """The ``vendor/name`` slug of LiteLLM key `key` served by catalog `provider`; None when the key names no model.

    The name is the key's last ``/`` segment (routing prefixes such as ``azure/eu/``, ``gemini/``, ``vertex_ai/``
    or ``low/1024-x-1024/`` go), without a version pin (``@20250929``) or Vertex's ``-maas`` suffix; on Bedrock also
    without the region and vendor prefixes and the API revision (``us.anthropic.claude-...-v1:0`` -> ``claude-...``).
    The vendor is the name's family (``FAMILY_VENDORS``), else the vendor the key names (``vertex_ai/meta/...``,
    ``anthropic.``), else the provider's own (``HOUSE_VENDORS``).
    """
    *prefixes, name = key.split("/")
    named_vendor = next(filter(None, map(_vendor, reversed(prefixes))), None)
    if provider == "amazon-bedrock":
        bedrock_vendor, name = _split_bedrock_id(name)
        named_vendor = bedrock_vendor or named_vendor
    name = name.split("@", 1)[0].removesuffix("-maas")
    if not name:
        return None
    vendor = _family_vendor(name) or named_vendor or HOUSE_VENDORS[provider]
    return f"{vendor}/{name}"


def _read_entries(source: Path) -> dict[str, Any]:
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"LiteLLM price list not found: {source}") from None
    except OSError as exc:
        raise UsageError(f"cannot read LiteLLM price list {source}: {exc.strerror}") from None
    try:
        entries = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise UsageError(f"LiteLLM price list {source} is not JSON: {exc}") from None
    if not isinstance(entries, dict) or not any(
        isinstance(entry, dict) and "litellm_provider" in entry for entry in entries.values()
    ):
        raise UsageError(
            f"{source} is not LiteLLM's model_prices_and_context_window.json format: "
            "expected an object of model entries with litellm_provider"
        )
    return entries


def _catalog_row(key: str, entry: object, effective_from: str) -> dict[str, str] | None:
    """The catalog row of one LiteLLM entry, or None when the entry is skipped."""
    if key == NOT_A_MODEL or not isinstance(entry, dict):
        return None
    provider = _catalog_provider(entry.get("litellm_provider"))
    if provider is None:
        return None
    model = model_slug(provider, key)
    prices = _prices(entry)
    if model is None or prices is None or not any(prices[column] for column in BILLED_COLUMNS):
        return None
    mode = entry.get("mode")
    return {
        "provider": provider,
        "model": model,
        "model_type": MODEL_TYPES_BY_MODE.get(mode, "Other") if isinstance(mode, str) else "Other",
        "effective_from": effective_from,
        **{column: _cell(column, price) for column, price in prices.items()},
        "region": key_region(provider, key),
    }


def _catalog_provider(litellm_provider: object) -> str | None:
    if not isinstance(litellm_provider, str):
        return None
    if litellm_provider.startswith(VERTEX_PROVIDER_PREFIX):
        return PROVIDERS["vertex_ai"]
    return PROVIDERS.get(litellm_provider)


def _prices(entry: dict[str, Any]) -> dict[str, Decimal | None] | None:
    """The entry's catalog prices (None where it has none), or None when one is not a non-negative number."""
    try:
        return {
            "input_per_mtok": _per_mtok(entry, "input_cost_per_token"),
            "cached_input_per_mtok": _per_mtok(entry, "cache_read_input_token_cost"),
            "cache_write_per_mtok": _per_mtok(entry, "cache_creation_input_token_cost"),
            "output_per_mtok": _output_per_mtok(entry),
            "per_request": _sum(_number(entry, field) for field in PER_REQUEST_FIELDS),
            "per_image": _number(entry, "output_cost_per_image"),
            "per_web_search": _web_search_fee(entry),
        }
    except _BadPrice:
        return None


def _number(entry: dict[str, Any], field: str) -> Decimal | None:
    """A price field as an exact Decimal; None when absent; _BadPrice when not a non-negative number."""
    value = entry.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _BadPrice(field)
    number = Decimal(str(value))
    if number < 0:
        raise _BadPrice(field)
    return number


def _per_mtok(entry: dict[str, Any], field: str) -> Decimal | None:
    per_token = _number(entry, field)
    return None if per_token is None else per_token * PER_MTOK


def _output_per_mtok(entry: dict[str, Any]) -> Decimal | None:
    """Per output token; an image model without one (gpt-image-1) prices its output as image tokens."""
    per_token = _per_mtok(entry, "output_cost_per_token")
    return _per_mtok(entry, "output_cost_per_image_token") if per_token is None else per_token


def _sum(values: Iterable[Decimal | None]) -> Decimal | None:
    present = [value for value in values if value is not None]
    return sum(present, Decimal(0)) if present else None


def _web_search_fee(entry: dict[str, Any]) -> Decimal | None:
    """``search_context_cost_per_query``: a number, or by context size, where the medium size is taken."""
    by_size = entry.get("search_context_cost_per_query")
    if isinstance(by_size, dict):
        return _number(by_size, "search_context_size_medium")
    return _number(entry, "search_context_cost_per_query")


def _cell(column: str, price: Decimal | None) -> str:
    """A price as plain decimal text without exponent or trailing zeros (``1.25``, ``0.075``, ``15``).

    A missing price is empty where the catalog has a default for it, else 0 (the entry bills something else).
    """
    if price is None:
        return "" if PRICE_DEFAULTS[column] is not None else "0"
    return format(price.normalize(), "f")


def _vendor(token: str) -> str | None:
    vendor = VENDOR_SPELLINGS.get(token, token)
    return vendor if vendor in VENDORS else None


def _family_vendor(name: str) -> str | None:
    family = _FAMILY.match(name.lower())
    return FAMILY_VENDORS.get(family.group()) if family else None


def _split_bedrock_id(name: str) -> tuple[str | None, str]:
    """``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` -> ("anthropic", "claude-sonnet-4-5-20250929")."""
    parts = name.split(".")
    # The vendor is the first part, or the second after a region or geography (us., eu., global., us-gov., ...).
    for position in (0, 1):
        vendor = _vendor(parts[position]) if position + 1 < len(parts) else None
        if vendor:
            return vendor, _BEDROCK_REVISION.sub("", ".".join(parts[position + 1 :]))
    return None, _BEDROCK_REVISION.sub("", name)


def _write_csv(out: Path, rows: list[dict[str, str]]) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=(*CATALOG_COLUMNS, REGION), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise UsageError(f"cannot write the price catalog {out}: {exc.strerror}") from None
