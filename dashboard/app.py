"""The cost analysis page (``meterline dashboard`` runs ``streamlit run dashboard/app.py``).

Reads only the published serving file ($METERLINE_SERVING), read-only, opened anew on every run of
the page so a new publication shows on the next interaction. The view lives in the URL's query string
(dashboard/view.py): the first run of a session reads it, every run writes it back, and "Copy link"
copies it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from html import escape
from pathlib import Path
from urllib.parse import quote, urlencode

import streamlit as st

from dashboard.filters import KEY_VIEW, resolve, seed, show_notices, sidebar_filters
from dashboard.formatting import literal
from dashboard.queries import ServingReader, ServingUnreadable
from dashboard.view import TABS, View, parse, quoted, to_params
from dashboard.views import (
    cost_by_api_key,
    cost_by_model,
    cost_by_type,
    cost_over_time,
    overview_cards,
    provider_cost,
)
from meterline.settings import Settings

PAYG_NOTE = (
    "Only pay-as-you-go usage is shown: requests billed under a subscription plan are left out. All times are UTC."
)
TAB_VALUES = {label: value for value, label in TABS.items()}
# One click copies the page's address with the view's query string (built by the server, held inert in a
# data attribute). navigator.clipboard needs a secure context (https, localhost); elsewhere a hidden
# textarea and execCommand("copy") do it.
COPY_SCRIPT = """
<script>
document.querySelectorAll("button.meterline-copy-link:not([data-bound])").forEach((button) => {
  button.dataset.bound = "1";
  button.addEventListener("click", () => {
    const query = button.dataset.query;
    const url = window.location.origin + window.location.pathname + (query ? "?" + query : "");
    const done = () => { button.dataset.copied = url; button.nextElementSibling.textContent = "Link copied"; };
    const fallback = () => {
      const area = document.createElement("textarea");
      area.value = url; document.body.appendChild(area); area.select();
      document.execCommand("copy"); area.remove(); done();
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(done, fallback);
    } else {
      fallback();
    }
  });
});
</script>
"""
COPY_STYLE = (
    "<style>button.meterline-copy-link{font:inherit;padding:.3rem .8rem;border-radius:.5rem;cursor:pointer;"
    "border:1px solid rgba(128,128,128,.4);background:inherit;color:inherit}"
    "button.meterline-copy-link:hover{border-color:#ff4b4b;color:#ff4b4b}"
    ".meterline-copied{margin-left:.6rem;font-size:.85rem;opacity:.75}</style>"
)


def query_string(view: View) -> str:
    return urlencode(to_params(view), doseq=True, quote_via=quote)


def copy_link_html(view: View, where: str) -> str:
    button = (
        f'<button type="button" class="meterline-copy-link" id="copy-link-{where}" '
        f'data-query="{escape(query_string(view), quote=True)}" title="Copy a link to this view">'
        'Copy link</button><span class="meterline-copied" aria-live="polite"></span>'
    )
    return COPY_STYLE + button + COPY_SCRIPT


def url_params() -> dict[str, list[str]]:
    return {name: st.query_params.get_all(name) for name in st.query_params}


def page(reader: ServingReader) -> None:
    published = reader.published_at()
    title, header_link = st.columns([5, 1], vertical_alignment="bottom")
    title.title("Cost analysis")
    st.caption(PAYG_NOTE + (f" Data published {published:%Y-%m-%d %H:%M} UTC." if published else ""))
    notices: list[str] = []
    if KEY_VIEW not in st.session_state:  # a new session: the view comes from the link
        resolved = resolve(reader, parse(url_params()))
        if resolved is None:
            st.info("No pay-as-you-go usage has been published yet. Run `meterline demo` or `meterline materialize`.")
            return
        st.session_state[KEY_VIEW], notices = resolved
        st.session_state["linked"] = st.session_state[KEY_VIEW]
    linked: View | None = st.session_state.pop("linked", None)
    view: View = st.session_state[KEY_VIEW]
    notices_box = st.container()
    selection = sidebar_filters(reader, view, notices)
    if selection is None:
        st.info("No pay-as-you-go usage has been published yet. Run `meterline demo` or `meterline materialize`.")
        return
    view, filters = selection
    st.session_state[KEY_VIEW] = view
    links: list[tuple[object, str]] = [(header_link.empty(), "header")]

    def copy_link(where: str) -> None:
        links.append((st.empty(), where))

    current = reader.costs(filters, view.window)
    if current.empty:
        st.info(
            f"No pay-as-you-go usage matches these filters in {view.window.label()}. "
            "Pick another time range, or fewer API keys or models."
        )
    else:
        seed("tab", TABS[view.tab])
        analysis, providers = st.tabs(list(TABS.values()), key="tab", on_change="rerun")
        view = replace(view, tab=TAB_VALUES[st.session_state["tab"]])
        if view.tab == "analysis":
            with analysis:
                overview_cards(reader, filters, view.window, current)
                view = replace(view, stack=cost_over_time(reader, filters, view))
                view = replace(view, detail_model=cost_by_model(reader, filters, view))
                cost_by_type(reader, filters, view.window)
                cost_by_api_key(reader, filters, view.window, copy_link)
        else:
            with providers:
                view = replace(view, detail_provider=provider_cost(reader, filters, view))
        if linked is not None:  # a linked model or provider in detail that the view does not have
            for what, asked, shown in (
                ("Model", linked.detail_model, view.detail_model),
                ("Provider", linked.detail_provider, view.detail_provider),
            ):
                if asked is not None and asked != shown and (what == "Model") == (view.tab == "analysis"):
                    notices.append(f"{what} in detail {quoted(asked)} has no usage in this view: ignored.")
    st.session_state[KEY_VIEW] = view
    with notices_box:
        show_notices(notices)
    for placeholder, where in links:
        placeholder.html(copy_link_html(view, where), unsafe_allow_javascript=True)  # type: ignore[attr-defined]
    params = to_params(view)
    if st.session_state.get("written_params") != params:
        st.query_params.from_dict(params)
        st.session_state["written_params"] = params


LOG = logging.getLogger("meterline.dashboard")
KEY_PROBLEM = "serving_problem"  # what the last run found wrong with the serving file
FIX = (
    "Publish it again with `meterline materialize` (or `meterline demo` for the sample), or point "
    "`METERLINE_SERVING` at the published serving file and restart `meterline dashboard`."
)


def serving_problem(serving: Path, problem: str) -> str:
    """The page's whole message when the serving file cannot be read: what is wrong, which file, what to do."""
    return f"The serving file {literal(str(serving))} {problem}. {FIX}"


def main() -> None:
    st.set_page_config(page_title="Cost analysis · meterline", layout="wide")
    # An error the page does not expect shows Streamlit's generic message, never a traceback with server paths
    # (the server's console has it); the errors it expects from the serving file are said in words below.
    st.set_option("client.showErrorDetails", "none")
    serving = Settings.from_env().serving
    problem = st.session_state.pop(KEY_PROBLEM, None)
    if problem is None:
        try:
            if not serving.exists():
                raise ServingUnreadable("does not exist")
            if not serving.is_file():
                raise ServingUnreadable("is not a file")
            with ServingReader(serving) as reader:
                page(reader)
            return
        except ServingUnreadable as error:
            LOG.warning("serving file %s %s", serving, error.problem, exc_info=error.__cause__)
            # The page is drawn straight into the main area, not into a placeholder that would let the message
            # replace it (the browser then rebuilt every chart and table on every click). A run that failed
            # half-way runs again at once and draws the message alone: what it had drawn is cleared.
            st.session_state[KEY_PROBLEM] = error.problem
            st.rerun()
    st.title("Cost analysis")
    st.error(serving_problem(serving, problem), icon=":material/error:")


main()
