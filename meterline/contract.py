"""Names fixed by ../shared/contracts: the usage counters and the measures of every mart."""

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
