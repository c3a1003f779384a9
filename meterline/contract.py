"""Names fixed by ../shared/contracts, defined once for the Python code: the usage counters, the
costs and measures of every mart, and the values of each enumerated field. The dbt project holds
the same lists as vars in dbt_project.yml; tests/test_contract_names.py checks that they agree."""

# raw_usage.md: the counters of a record's usage object.
USAGE_COUNTERS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "images",
    "web_search_calls",
)
COSTS = ("input_cost", "output_cost", "other_cost", "total_cost")
# marts.md: present in every published table, summed over the rows they cover.
MEASURES = ("request_count", *USAGE_COUNTERS, *COSTS)

# raw_usage.md: the fields of a record that must be present (non-empty text), created_at aside.
REQUIRED_TEXT = ("request_id", "account_id", "api_key_id", "model", "provider", "billing_mode")
# raw_usage.md: billing modes and endpoints (an endpoint not listed, or missing, is "other").
BILLING_MODES = ("payg", "subscription")
ENDPOINTS = (
    "chat.completions",
    "responses",
    "messages",
    "embeddings",
    "images.generations",
    "images.edits",
    "audio.speech",
    "audio.transcriptions",
    "rerank",
    "other",
)
# raw_usage.md: what a request was for, derived from its endpoint and usage.
PURPOSES = ("embedding", "image_generation", "reasoning", "chat", "other")
# pricing.md: the model types of the catalog.
MODEL_TYPES = ("LLM", "Embedding", "Vision", "Audio", "Rerank", "Other")

# pricing.md: the unit prices of a catalog row. fct_cost in the warehouse carries those of the row
# that priced each request; the serving file publishes them beside fct_cost, in exports.fct_cost,
# for the exports (the FOCUS export's ListUnitPrice), not in marts.fct_cost, whose columns
# marts.md fixes.
UNIT_PRICES = (
    "input_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "output_per_mtok",
    "per_request",
    "per_image",
    "per_web_search",
)
# Published tables whose Parquet files hold more than the marts.md columns: what only the exports read.
EXPORT_ONLY_COLUMNS = {"fct_cost": UNIT_PRICES}

# marts.md: one row per period (period_start) and these dimensions in each family of aggregate marts
# (<family>_hourly, _daily, _monthly); the blocking check one_row_per_group holds every mart to it.
MART_GRAINS = {
    "cost_cube": ("account_id", "api_key_id", "api_key_name", "model", "provider", "model_type", "purpose"),
    "cost_overview": ("account_id",),
    "cost_by_model": ("account_id", "model"),
    "cost_by_type": ("account_id", "model_type", "purpose"),
    "cost_by_api_key": ("account_id", "api_key_id", "api_key_name"),
    "cost_by_provider": ("account_id", "provider"),
    "provider_model_details": ("account_id", "provider", "model"),
    "provider_alternatives": ("account_id", "model", "provider", "alternative_provider"),
}
# A mart row never has these NULL.
MART_REQUIRED = ("period_start", "account_id")
