"""The cost analysis page (``meterline dashboard`` runs ``streamlit run dashboard/app.py``).

Reads only the published serving file ($METERLINE_SERVING), read-only, opened anew on every run of
the page so a new publication shows on the next interaction.
"""

from __future__ import annotations

import streamlit as st

from dashboard.filters import sidebar_filters
from dashboard.queries import ServingReader
from dashboard.views import cost_by_api_key, cost_by_model, cost_by_type, overview_cards, provider_cost
from meterline.settings import Settings

PAYG_NOTE = (
    "Only pay-as-you-go usage is shown: requests billed under a subscription plan are left out. All times are UTC."
)


def page(reader: ServingReader) -> None:
    published = reader.published_at()
    st.caption(PAYG_NOTE + (f" Data published {published:%Y-%m-%d %H:%M} UTC." if published else ""))
    selection = sidebar_filters(reader)
    if selection is None:
        st.info("No pay-as-you-go usage has been published yet. Run `meterline demo` or `meterline materialize`.")
        return
    filters, window = selection
    current = reader.costs(filters, window)
    if current.empty:
        st.info(
            f"No pay-as-you-go usage matches these filters in {window.label()}. "
            "Pick another time range, or fewer API keys or models."
        )
        return
    analysis, providers = st.tabs(["Cost analysis", "Provider Cost"])
    with analysis:
        overview_cards(reader, filters, window, current)
        cost_by_model(reader, filters, window)
        cost_by_type(reader, filters, window)
        cost_by_api_key(reader, filters, window)
    with providers:
        provider_cost(reader, filters, window)


def main() -> None:
    st.set_page_config(page_title="Cost analysis · meterline", layout="wide")
    st.title("Cost analysis")
    serving = Settings.from_env().serving
    if not serving.is_file():
        st.error(f"The serving file {serving} does not exist: run `meterline demo` or `meterline materialize` first.")
        return
    with ServingReader(serving) as reader:
        page(reader)


main()
