"""The LiteLLM price list -> catalog CSV importer and the shipped default catalog."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from meterline.catalog import CATALOG_COLUMNS, REGION
from meterline.contract import MODEL_TYPES
from meterline.errors import UsageError
from meterline.litellm import import_litellm_prices, key_region
from meterline.settings import DEFAULT_PRICES, REPO_ROOT
from orchestration.cli import main

SNAPSHOT = REPO_ROOT.parent / "shared" / "reference" / "litellm_model_prices.json"


def convert(tmp_path: Path, source_text: str, **kwargs: str) -> list[dict[str, str]]:
    """Run the importer on `source_text` (written as is, so prices keep the digits written) and read the CSV back."""
    source = tmp_path / "model_prices.json"
    source.write_text(source_text, encoding="utf-8")
    out = tmp_path / "catalog.csv"
    written = import_litellm_prices(source, out, **kwargs)
    rows = read_csv(out)
    assert written == len(rows)
    return rows


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames or ()) == (*CATALOG_COLUMNS, REGION)
        return list(reader)


def entries_json(entries: dict[str, dict[str, object]]) -> str:
    return json.dumps({"sample_spec": {"litellm_provider": "one of ...", "input_cost_per_token": 0.0}, **entries})


def only_row(rows: list[dict[str, str]]) -> dict[str, str]:
    assert len(rows) == 1, rows
    return rows[0]


def test_per_token_prices_become_exact_per_mtok_decimals(tmp_path: Path) -> None:
    source = """{
      "claude-sonnet-4-5": {"litellm_provider": "anthropic", "mode": "chat",
        "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06},
      "gpt-5": {"litellm_provider": "openai", "mode": "chat",
        "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-07},
      "gpt-odd": {"litellm_provider": "openai", "mode": "chat",
        "input_cost_per_token": 1.1e-07, "output_cost_per_token": 0.000000123456789012345678}
    }"""
    rows = {row["model"]: row for row in convert(tmp_path, source)}

    claude = rows["anthropic/claude-sonnet-4-5"]
    assert (claude["input_per_mtok"], claude["output_per_mtok"]) == ("3", "15")
    assert (claude["cached_input_per_mtok"], claude["cache_write_per_mtok"]) == ("0.3", "3.75")
    gpt = rows["openai/gpt-5"]
    assert (gpt["input_per_mtok"], gpt["cached_input_per_mtok"], gpt["output_per_mtok"]) == ("1.25", "0.125", "10")
    assert gpt["cache_write_per_mtok"] == "", "no cache-write price: empty, meaning the input price"
    odd = rows["openai/gpt-odd"]
    assert odd["input_per_mtok"] == "0.11"  # float arithmetic would give 0.10999999999999999
    assert Decimal(odd["output_per_mtok"]) == Decimal("0.123456789012345678")


def test_image_request_and_web_search_fees(tmp_path: Path) -> None:
    source = entries_json(
        {
            "gemini/gemini-2.5-flash-image": {
                "litellm_provider": "gemini",
                "mode": "image_generation",
                "input_cost_per_token": 3e-07,
                "output_cost_per_token": 2.5e-06,
                "output_cost_per_image": 0.039,
                "search_context_cost_per_query": {
                    "search_context_size_low": 0.01,
                    "search_context_size_medium": 0.035,
                    "search_context_size_high": 0.05,
                },
            },
            "gpt-image-1": {
                "litellm_provider": "openai",
                "mode": "image_generation",
                "input_cost_per_token": 5e-06,
                "output_cost_per_image_token": 4e-05,
            },
            "gpt-search": {
                "litellm_provider": "openai",
                "mode": "chat",
                "input_cost_per_token": 2.5e-06,
                "output_cost_per_token": 1e-05,
                "search_context_cost_per_query": 0.025,
            },
            "vertex_ai/semantic-ranker-default": {
                "litellm_provider": "vertex_ai",
                "mode": "rerank",
                "input_cost_per_token": 0.0,
                "output_cost_per_token": 0.0,
                "input_cost_per_query": 0.001,
            },
        }
    )
    rows = {row["model"]: row for row in convert(tmp_path, source)}

    image = rows["google/gemini-2.5-flash-image"]
    assert (image["per_image"], image["per_web_search"], image["per_request"]) == ("0.039", "0.035", "")
    assert rows["openai/gpt-image-1"]["output_per_mtok"] == "40", "output priced as image tokens"
    assert rows["openai/gpt-search"]["per_web_search"] == "0.025"
    ranker = rows["google/semantic-ranker-default"]
    assert (ranker["per_request"], ranker["input_per_mtok"], ranker["output_per_mtok"]) == ("0.001", "0", "0")


@pytest.mark.parametrize(
    ("mode", "model_type"),
    [
        ("chat", "LLM"),
        ("completion", "LLM"),
        ("responses", "LLM"),
        ("embedding", "Embedding"),
        ("image_generation", "Vision"),
        ("image_edit", "Vision"),
        ("audio_speech", "Audio"),
        ("audio_transcription", "Audio"),
        ("rerank", "Rerank"),
        ("realtime", "Other"),
        (None, "Other"),
        (["chat"], "Other"),
    ],
)
def test_mode_maps_to_model_type(tmp_path: Path, mode: object, model_type: str) -> None:
    entry = {"litellm_provider": "openai", "input_cost_per_token": 1e-06, "mode": mode}
    assert only_row(convert(tmp_path, entries_json({"some-model": entry})))["model_type"] == model_type


@pytest.mark.parametrize(
    ("litellm_provider", "key", "provider", "model"),
    [
        ("openai", "gpt-5", "openai", "openai/gpt-5"),
        ("openai", "openai/sora-2", "openai", "openai/sora-2"),
        ("text-completion-openai", "gpt-3.5-turbo-instruct", "openai", "openai/gpt-3.5-turbo-instruct"),
        ("anthropic", "claude-sonnet-4-5", "anthropic", "anthropic/claude-sonnet-4-5"),
        ("azure", "azure/gpt-5", "azure", "openai/gpt-5"),
        ("azure", "azure/eu/gpt-5-mini", "azure", "openai/gpt-5-mini"),
        ("azure", "azure/mistral-large-2402", "azure", "mistral/mistral-large-2402"),
        ("azure", "azure/low/1024-x-1024/gpt-image-1-mini", "azure", "openai/gpt-image-1-mini"),
        ("gemini", "gemini/gemini-2.5-pro", "google-ai-studio", "google/gemini-2.5-pro"),
        ("vertex_ai-language-models", "gemini-2.5-pro", "google-vertex", "google/gemini-2.5-pro"),
        ("vertex_ai", "vertex_ai/gemini-3-pro-preview", "google-vertex", "google/gemini-3-pro-preview"),
        (
            "vertex_ai-anthropic_models",
            "vertex_ai/claude-sonnet-4-5@20250929",
            "google-vertex",
            "anthropic/claude-sonnet-4-5",
        ),
        (
            "vertex_ai-deepseek_models",
            "vertex_ai/deepseek-ai/deepseek-v3.1-maas",
            "google-vertex",
            "deepseek/deepseek-v3.1",
        ),
        (
            "vertex_ai-llama_models",
            "vertex_ai/meta/llama-3.3-70b-instruct-maas",
            "google-vertex",
            "meta/llama-3.3-70b-instruct",
        ),
        ("vertex_ai-mistral_models", "vertex_ai/mistralai/codestral-2@001", "google-vertex", "mistral/codestral-2"),
        ("vertex_ai", "vertex_ai/xai/grok-4.3", "google-vertex", "xai/grok-4.3"),
        (
            "bedrock_converse",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "amazon-bedrock",
            "anthropic/claude-sonnet-4-5-20250929",
        ),
        (
            "bedrock_converse",
            "us.anthropic.claude-opus-4-1-20250805-v1:0",
            "amazon-bedrock",
            "anthropic/claude-opus-4-1-20250805",
        ),
        ("bedrock_converse", "us-gov.anthropic.claude-sonnet-5", "amazon-bedrock", "anthropic/claude-sonnet-5"),
        (
            "bedrock",
            "bedrock/us-east-1/mistral.mistral-large-2402-v1:0",
            "amazon-bedrock",
            "mistral/mistral-large-2402",
        ),
        ("bedrock", "amazon.nova-pro-v1:0", "amazon-bedrock", "amazon/nova-pro-v1"),
        ("bedrock", "anthropic.claude-v2:1", "amazon-bedrock", "anthropic/claude-v2"),
        ("bedrock", "bedrock/claude_platform/claude-sonnet-4-5", "amazon-bedrock", "anthropic/claude-sonnet-4-5"),
        ("bedrock_converse", "deepseek.v3.2", "amazon-bedrock", "deepseek/v3.2"),
        ("bedrock_mantle", "bedrock_mantle/xai.grok-4.3", "amazon-bedrock", "xai/grok-4.3"),
        ("deepseek", "deepseek/deepseek-chat", "deepseek", "deepseek/deepseek-chat"),
        ("mistral", "mistral/mistral-large-latest", "mistral", "mistral/mistral-large-latest"),
        ("xai", "xai/grok-4", "xai", "xai/grok-4"),
    ],
)
def test_provider_and_vendor_model_slug(
    tmp_path: Path, litellm_provider: str, key: str, provider: str, model: str
) -> None:
    entry = {"litellm_provider": litellm_provider, "mode": "chat", "input_cost_per_token": 1e-06}
    row = only_row(convert(tmp_path, entries_json({key: entry})))
    assert (row["provider"], row["model"]) == (provider, model)


def test_unusable_and_odd_entries_are_skipped_without_crashing(tmp_path: Path) -> None:
    good = {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06}
    source = entries_json(
        {
            "gpt-good": good,
            "whisper-1": {
                "litellm_provider": "openai",
                "mode": "audio_transcription",
                "input_cost_per_second": 0.0001,
                "output_cost_per_second": 0.0001,
            },
            "tts-1": {"litellm_provider": "openai", "mode": "audio_speech", "input_cost_per_character": 1.5e-05},
            "gpt-free": {
                "litellm_provider": "openai",
                "mode": "chat",
                "input_cost_per_token": 0.0,
                "output_cost_per_token": 0,
            },
            "fireworks_ai/llama": {"litellm_provider": "fireworks_ai", "input_cost_per_token": 1e-06},
            "claude-sonnet-latest": {"alias_of": "claude-sonnet-4-6"},
            "gpt-negative": {**good, "output_cost_per_token": -1e-06},
            "gpt-text-price": {**good, "output_cost_per_token": "1e-06"},
            "gpt-bool-price": {**good, "output_cost_per_image": True},
            "gpt-nan": {**good, "cache_read_input_token_cost": float("nan")},
            "gpt-odd-search": {**good, "search_context_cost_per_query": {"search_context_size_medium": "x"}},
            "gpt-list-provider": {**good, "litellm_provider": ["openai"]},
            "azure/": {**good, "litellm_provider": "azure"},
            "not-an-object": [1, 2, 3],
            "a-number": 7,
        }
    )
    assert [row["model"] for row in convert(tmp_path, source)] == ["openai/gpt-good"]


def test_same_provider_model_and_region_keeps_the_shortest_key(tmp_path: Path) -> None:
    def entry(input_cost: float, provider: str = "azure") -> dict[str, object]:
        return {"litellm_provider": provider, "mode": "chat", "input_cost_per_token": input_cost}

    # Listed longest first: the choice does not depend on the order of the source file.
    source = entries_json(
        {
            "azure/us/gpt-5-2025-08-07@pinned": entry(9e-06),
            "azure/us/gpt-5": entry(1.375e-06),
            "azure/eu/gpt-5": entry(1.5e-06),
            "azure/gpt-5@pinned": entry(9e-06),
            "azure/gpt-5": entry(1.25e-06),
        }
    )
    rows = convert(tmp_path, source)
    assert [(row["model"], row["region"], row["input_per_mtok"]) for row in rows] == [
        ("openai/gpt-5", "", "1.25"),
        ("openai/gpt-5", "eu", "1.5"),
        ("openai/gpt-5", "us", "1.375"),
        ("openai/gpt-5-2025-08-07", "us", "9"),
    ]


@pytest.mark.parametrize(
    ("provider", "key", "region"),
    [
        ("amazon-bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", ""),
        ("amazon-bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us"),
        ("amazon-bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu"),
        ("amazon-bedrock", "apac.amazon.nova-pro-v1:0", "apac"),
        ("amazon-bedrock", "jp.anthropic.claude-haiku-4-5-20251001-v1:0", "jp"),
        ("amazon-bedrock", "au.anthropic.claude-sonnet-4-5-20250929-v1:0", "au"),
        ("amazon-bedrock", "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-gov"),
        ("amazon-bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global"),
        ("amazon-bedrock", "in.moonshotai.kimi-k3", "in"),
        ("amazon-bedrock", "bedrock/us-east-1/mistral.mistral-large-2402-v1:0", "us-east-1"),
        ("amazon-bedrock", "bedrock/us-gov-west-1/claude-sonnet-4-5-20250929-v1:0", "us-gov-west-1"),
        ("amazon-bedrock", "bedrock_mantle/us-gov-east-1/openai.gpt-5.4", "us-gov-east-1"),
        ("amazon-bedrock", "bedrock/eu-central-1/eu.anthropic.claude-x-v1:0", "eu-central-1"),
        ("amazon-bedrock", "bedrock_mantle/openai.gpt-5.4", ""),
        ("amazon-bedrock", "bedrock/claude_platform/claude-sonnet-4-5", ""),
        ("amazon-bedrock", "bedrock/invoke/anthropic.claude-3-5-sonnet-20240620-v1:0", ""),
        ("amazon-bedrock", "deepseek.v3.2", ""),
        ("azure", "azure/gpt-5", ""),
        ("azure", "azure/eu/gpt-5", "eu"),
        ("azure", "azure/us/gpt-5", "us"),
        ("azure", "azure/apac/gpt-6.1-sol", "apac"),
        ("azure", "azure/us-gov/gpt-5.1", "us-gov"),
        ("azure", "azure/global/gpt-5.1", "global"),
        ("azure", "azure/global-standard/gpt-4o-mini", "global-standard"),
        ("azure", "azure/low/1024-x-1024/gpt-image-1-mini", ""),
        ("azure", "azure/standard/1024-x-1024/dall-e-3", ""),
        ("google-vertex", "vertex_ai/us-central1/gemini-x", "us-central1"),
        ("google-vertex", "vertex_ai/meta/llama-3.3-70b-instruct-maas", ""),
        ("openai", "1024-x-1536/gpt-image-1", ""),
        ("openai", "us.gpt-5", ""),  # a dotted prefix is a region on Bedrock only
    ],
)
def test_the_region_a_key_prices(provider: str, key: str, region: str) -> None:
    assert key_region(provider, key) == region


@pytest.mark.skipif(not SNAPSHOT.exists(), reason="the LiteLLM snapshot lives outside the repository")
def test_regional_keys_of_the_real_snapshot_become_region_rows(tmp_path: Path) -> None:
    out = tmp_path / "catalog.csv"
    import_litellm_prices(SNAPSHOT, out)
    rows = read_csv(out)
    prices = {(row["provider"], row["model"], row["region"]): row for row in rows}

    def price(provider: str, model: str, region: str) -> tuple[str, str]:
        row = prices[(provider, model, region)]
        return row["input_per_mtok"], row["output_per_mtok"]

    sonnet = ("amazon-bedrock", "anthropic/claude-sonnet-4-5-20250929")
    # the example: the US profile is $3.30 per million input tokens, the plain key $3.00
    assert price(*sonnet, "") == ("3", "15")
    assert price(*sonnet, "us") == ("3.3", "16.5")
    for region in ("eu", "jp", "au"):
        assert price(*sonnet, region) == ("3.3", "16.5"), region
    assert price(*sonnet, "global") == ("3", "15")
    for region in ("us-gov", "us-gov-east-1", "us-gov-west-1"):
        assert price(*sonnet, region) == ("3.6", "18"), region
    large = ("amazon-bedrock", "mistral/mistral-large-2402")
    assert (price(*large, ""), price(*large, "us-east-1"), price(*large, "eu-west-3")[0]) == (
        ("4", "12"),
        ("4", "12"),
        "5.2",
    )
    assert price("azure", "openai/gpt-5", "") == ("1.25", "10")
    assert price("azure", "openai/gpt-5", "eu") == ("1.375", "11")
    assert price("azure", "openai/gpt-5", "us") == ("1.375", "11")
    assert price("azure", "openai/gpt-5.1", "us-gov") == ("1.71875", "13.75")
    # the plain key stays the region-less row, whatever the lengths of the keys
    assert (
        prices[("amazon-bedrock", "openai/gpt-5.4", "")]["per_web_search"] == "0.012"
    )  # bedrock_mantle/openai.gpt-5.4
    # a model LiteLLM prices only in a region has no region-less row
    assert ("amazon-bedrock", "zai/glm-5.3", "us") in prices and ("amazon-bedrock", "zai/glm-5.3", "") not in prices
    # no region for providers whose keys carry none
    assert {row["provider"] for row in rows if row["region"]} == {"amazon-bedrock", "azure"}
    regions = {row["region"] for row in rows}
    assert {"", "us", "eu", "apac", "jp", "au", "in", "us-gov", "global", "us-east-1", "us-gov-west-1"} <= regions
    assert len(rows) == len(prices)  # one row per (provider, model, region)


def test_rows_are_sorted_and_carry_one_effective_from(tmp_path: Path) -> None:
    def entry(provider: str) -> dict[str, object]:
        return {"litellm_provider": provider, "mode": "chat", "input_cost_per_token": 1e-06}

    source = entries_json(
        {
            "xai/grok-4": entry("xai"),
            "gpt-5": entry("openai"),
            "azure/o3": entry("azure"),
            "azure/gpt-5": entry("azure"),
        }
    )
    rows = convert(tmp_path, source)
    assert [(row["provider"], row["model"]) for row in rows] == [
        ("azure", "openai/gpt-5"),
        ("azure", "openai/o3"),
        ("openai", "openai/gpt-5"),
        ("xai", "xai/grok-4"),
    ]
    assert {row["effective_from"] for row in rows} == {"2020-01-01"}
    assert {row["effective_from"] for row in convert(tmp_path, source, effective_from="2026-11-03")} == {"2026-11-03"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("this is not json", "is not JSON"),
        ('["gpt-5"]', "is not LiteLLM's"),
        ('{"gpt-5": {"input_cost_per_token": 1e-06}}', "is not LiteLLM's"),
    ],
)
def test_bad_source_raises_usage_error_naming_it(tmp_path: Path, content: str | None, message: str) -> None:
    source = tmp_path / "prices.json"
    if content is not None:
        source.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=message) as error:
        import_litellm_prices(source, tmp_path / "catalog.csv")
    assert str(source) in str(error.value)
    assert not (tmp_path / "catalog.csv").exists()


@pytest.mark.parametrize("content", [None, "{not json"])
def test_cli_import_prices_exits_2_with_one_line_on_a_bad_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    source = tmp_path / "prices.json"
    if content is not None:
        source.write_text(content, encoding="utf-8")
    assert main(["import-prices", str(source), "--out", str(tmp_path / "catalog.csv")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("meterline: error: ") and str(source) in captured.err


def test_cli_import_prices_writes_the_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "prices.json"
    source.write_text(entries_json({"gpt-5": {"litellm_provider": "openai", "input_cost_per_token": 1e-06}}))
    out = tmp_path / "nested" / "catalog.csv"
    assert main(["import-prices", str(source), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote 1 catalog rows to {out}\n"
    assert [row["model"] for row in read_csv(out)] == ["openai/gpt-5"]


def test_shipped_catalog_covers_the_main_providers_and_price_kinds() -> None:
    rows = read_csv(DEFAULT_PRICES)
    models = {(row["provider"], row["model"]) for row in rows}
    for expected in [
        ("openai", "openai/gpt-5"),
        ("openai", "openai/gpt-5-mini"),
        ("anthropic", "anthropic/claude-sonnet-4-5"),
        ("anthropic", "anthropic/claude-opus-4-5"),
        ("google-vertex", "google/gemini-2.5-pro"),
        ("google-vertex", "google/gemini-3-pro-preview"),
        ("google-vertex", "anthropic/claude-sonnet-4-5"),
        ("google-ai-studio", "google/gemini-2.5-pro"),
        ("google-ai-studio", "google/gemini-3.1-pro-preview"),
        ("azure", "openai/gpt-5"),
        ("amazon-bedrock", "anthropic/claude-sonnet-4-5"),
        ("amazon-bedrock", "anthropic/claude-sonnet-4-5-20250929"),
        ("deepseek", "deepseek/deepseek-chat"),
        ("mistral", "mistral/mistral-large-latest"),
        ("xai", "xai/grok-4.3"),
    ]:
        assert expected in models
    assert {row["model_type"] for row in rows} <= set(MODEL_TYPES)
    assert {row["effective_from"] for row in rows} == {"2020-01-01"}
    assert any(row["model_type"] == "Embedding" for row in rows)
    assert any(row["model_type"] == "Vision" and row["per_image"] for row in rows)
    assert any(row["per_web_search"] for row in rows)
    assert any(row["cached_input_per_mtok"] and row["cache_write_per_mtok"] for row in rows)


@pytest.mark.skipif(not SNAPSHOT.exists(), reason="the LiteLLM snapshot lives outside the repository")
def test_shipped_catalog_is_the_import_of_the_reference_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "catalog.csv"
    import_litellm_prices(SNAPSHOT, out)
    assert out.read_text(encoding="utf-8") == DEFAULT_PRICES.read_text(encoding="utf-8")
