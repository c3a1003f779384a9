"""The page's read-only tables as plain HTML: every cell a text made here, escaped, sortable by a click on
any header.

Chromium draws a Streamlit data grid (st.dataframe: a canvas, its scroller and toolbar, Arrow data decoded
in the browser) again on every run of the page. On a 2M-request serving file, leaving out the seven grids
of the Cost analysis tab that take no clicks took a first load from 3.01 to 2.08 s and an account change
from 0.91 to 0.53 s (BENCHMARKS.md, issue 17, fifth pass); as HTML tables, the first load took 2.3-2.5 s
and the account change ~0.7 s (eighth pass). A table of text costs the browser little, its text can be
selected and copied, and a screen reader reads it as a table. Only the table of models stays a grid: a
click on its rows opens a model's detail.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

import pandas as pd

from dashboard.formatting import AVERAGE_PLACES, CARD_PLACES, NO_NAME, money

# Above this many rows a table is a data grid again (dashboard/views.py:show_table): an HTML table's parse
# and layout grow with its rows (in chromium, ~0.07 s at 300 rows, ~0.2 s at 1,000, ~0.6 s at 3,000: a
# gateway with thousands of API keys), a grid draws only the rows in view.
HTML_ROWS_MAX = 300
COST_COLUMNS = {"total_cost", "input_cost", "output_cost", "other_cost", "actual_cost", "alternative_cost", "savings"}
AVERAGE_COLUMNS = {"avg_cost_per_request", "avg_cost_per_1k_tokens"}
COUNT_COLUMNS = {"request_count", "input_tokens", "output_tokens", "images"}
SHARE = "share"
# A click on a header sorts the rows by that column (numbers by their value, texts A to Z); a second click
# reverses it. Bound once per table (Streamlit runs the script with each table it draws).
SORT_SCRIPT = """
<script>
document.querySelectorAll("table.meterline-table:not([data-bound])").forEach((table) => {
  table.dataset.bound = "1";
  table.querySelectorAll("thead th").forEach((header, column) => {
    header.querySelector("button").addEventListener("click", () => {
      const ascending = header.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach((other) => other.removeAttribute("aria-sort"));
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const numeric = header.dataset.kind === "number";
      const value = (row) => row.cells[column].dataset.value ?? row.cells[column].textContent;
      const body = table.tBodies[0];
      const rows = Array.from(body.rows).sort((a, b) => {
        const x = value(a), y = value(b);
        const order = !numeric ? x.localeCompare(y) : x === y ? 0 : x === "" ? 1 : y === "" ? -1 : Number(x) - Number(y);
        return ascending || (numeric && (x === "" || y === "")) ? order : -order;
      });
      body.append(...rows);
    });
  });
});
</script>
"""
STYLE = (
    "<style>"
    ".meterline-table-box{max-height:26rem;overflow:auto;border:1px solid rgba(128,128,128,.3);border-radius:.5rem}"
    "table.meterline-table{width:100%;border-collapse:collapse;font-size:.875rem;font-variant-numeric:tabular-nums}"
    # The header stays in view while the rows scroll, so it needs a background: Streamlit's secondary one, light
    # or dark as the system's scheme (the page's theme follows it unless a user picks one), with its own text
    # colour, so that it stays readable under either.
    "table.meterline-table th{position:sticky;top:0;background:rgb(240,242,246);color:rgb(49,51,63);"
    "text-align:left;padding:0}"
    "@media (prefers-color-scheme:dark){table.meterline-table th{background:rgb(38,39,48);color:rgb(250,250,250)}}"
    "table.meterline-table th button{all:unset;box-sizing:border-box;display:block;width:100%;cursor:pointer;"
    "padding:.35rem .6rem;font-weight:600;white-space:nowrap}"
    "table.meterline-table th[data-kind=number] button{text-align:right}"
    "table.meterline-table th[aria-sort=ascending] button::after{content:' \\2191'}"
    "table.meterline-table th[aria-sort=descending] button::after{content:' \\2193'}"
    "table.meterline-table td{padding:.3rem .6rem;border-top:1px solid rgba(128,128,128,.2);overflow-wrap:break-word}"
    "table.meterline-table td.number{text-align:right;white-space:nowrap}"
    "table.meterline-table .share{display:flex;align-items:center;gap:.4rem;justify-content:flex-end}"
    "table.meterline-table .bar{width:4rem;height:.45rem;background:rgba(128,128,128,.2);border-radius:.2rem}"
    "table.meterline-table .bar span{display:block;height:100%;background:#ff4b4b;border-radius:.2rem}"
    "</style>"
)


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _cell(name: str, value: Any) -> str:
    """One ``<td>``: the text a user reads, and for numbers the value a header click sorts by."""
    if name == "api_key_name" and _missing(value):
        value = NO_NAME
    if _missing(value):
        return '<td class="number" data-value="">\N{EN DASH}</td>' if _is_number(name) else "<td></td>"
    if name in COST_COLUMNS or name in AVERAGE_COLUMNS:
        places = CARD_PLACES if name in COST_COLUMNS else AVERAGE_PLACES
        return f'<td class="number" data-value="{Decimal(value)}">{money(Decimal(value), places)}</td>'
    if name in COUNT_COLUMNS:
        return f'<td class="number" data-value="{int(value)}">{int(value):,}</td>'
    if name == SHARE:
        percent = f"{float(value):.1%}"
        bar = f'<span class="bar"><span style="width:{min(max(float(value), 0.0), 1.0) * 100:.1f}%"></span></span>'
        return f'<td class="number" data-value="{float(value)}"><span class="share">{bar}{percent}</span></td>'
    return f"<td>{escape(str(value))}</td>"


def _is_number(name: str) -> bool:
    return name in COST_COLUMNS or name in AVERAGE_COLUMNS or name in COUNT_COLUMNS or name == SHARE


def html_table(frame: pd.DataFrame, columns: dict[str, str]) -> str:
    """The `columns` of `frame` (name -> header), in the frame's order, as an HTML table: costs rounded
    half up to cents as dollars with separators, averages to 6 places, counts with separators, the share
    as a bar and a percentage, an API key without a name as ``(no name)``. Every text is escaped."""
    headers = "".join(
        f'<th scope="col" data-kind="{"number" if _is_number(name) else "text"}">'
        f'<button type="button">{escape(header)}</button></th>'
        for name, header in columns.items()
    )
    names = list(columns)
    rows = []
    for values in frame.loc[:, names].itertuples(index=False, name=None):
        rows.append("<tr>" + "".join(_cell(name, value) for name, value in zip(names, values, strict=True)) + "</tr>")
    return (
        f'{STYLE}<div class="meterline-table-box"><table class="meterline-table">'
        f"<thead><tr>{headers}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{SORT_SCRIPT}"
    )
