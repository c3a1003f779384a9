"""The cost analysis page in Debian's chromium (issue 17): the link, the click-through, what a reviewer sees.

The serving file is built in SQL (tests/dashboard_serving.py, ~3 s) in the shape the pipeline publishes;
the page runs for real under ``meterline dashboard``. Screenshots go to ``<pytest's base temp>/dashboard-
screenshots`` (printed at the end of the module) for a reviewer.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from dashboard.formatting import money
from dashboard.periods import LABEL_FORMATS
from tests.dashboard_serving import build_serving
from tests.helpers import shown_value

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.subprocess,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER) and os.environ.get("CI") != "true",
        reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
    ),
]
METRICS = '[data-testid="stMetricValue"]'
RUNNING = '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]'  # Streamlit runs the script
STALE = '[data-stale="true"]'  # an element of the run before, not yet replaced


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Path]:
    folder = tmp_path_factory.getbasetemp() / "dashboard-screenshots"
    folder.mkdir(exist_ok=True)
    yield folder
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"dashboard screenshots: {folder}")


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_serving(tmp_path_factory.mktemp("serving") / "meterline.duckdb", requests=20_000)


@contextmanager
def dashboard_server(serving: Path, log_path: Path) -> Iterator[str]:
    """``meterline dashboard`` on a free port, reading `serving` (its output in `log_path`): its URL once it
    answers ``/_stcore/health``; stopped on exit. Also used by bench/dashboard_browser.py."""
    port = free_port()
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "dashboard", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "METERLINE_SERVING": str(serving)},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, log_path.read_text()
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.read() == b"ok":
                            break
                except OSError:
                    assert time.monotonic() < deadline, f"{url} did not come up"
                    time.sleep(0.3)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def page_url(serving: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``meterline dashboard`` on a free port, reading `serving`."""
    with dashboard_server(serving, tmp_path_factory.mktemp("server") / "dashboard.log") as url:
        yield url


def browser(profile: Path):
    """A fresh headless chromium (its own profile) at 1400 px, allowed to read the clipboard."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
                 "--window-size=1400,2600", "--lang=en-US"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER or "/usr/bin/chromedriver"), options=options)


@contextmanager
def chromium(profile: Path) -> Iterator:
    """browser(profile) for the ``with`` block, quit at its end whatever happened in it."""
    driver = browser(profile)
    try:
        yield driver
    finally:
        driver.quit()


def settle(driver, seconds: float = 60, drawn: str = METRICS) -> None:
    """Wait until the page has run: `drawn` (the cards, on the Cost analysis tab) is there and Streamlit
    shows no running indicator."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    time.sleep(0.5)
    WebDriverWait(driver, seconds).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, drawn)
            and not d.find_elements(By.CSS_SELECTOR, RUNNING)
            and not d.find_elements(By.CSS_SELECTOR, STALE)
        )
    )
    _until_still(driver)  # charts and tables finish drawing
    errors = console_errors(driver)
    assert not errors, errors  # a chart Vega could not draw is blank, yet the page looks settled


def console_errors(driver) -> list[str]:
    """The browser console's errors since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


# What changes while Streamlit and Vega still draw: the elements, the charts' canvases and their sizes.
_DRAWING = """return [document.getElementsByTagName('*').length,
  Array.from(document.querySelectorAll('canvas, svg, [data-testid="stDataFrame"]'))
    .map(e => e.tagName + e.clientWidth + 'x' + e.clientHeight).join(),
  document.body.innerText.length].join('|');"""


def _until_still(driver, poll: float = 0.25, still_for: int = 3, at_most: float = 10) -> None:
    """Wait until the page has not changed for ``still_for`` polls in a row (at most ``at_most`` s)."""
    deadline, last, still = time.monotonic() + at_most, None, 0
    while still < still_for and time.monotonic() < deadline:
        time.sleep(poll)
        now = driver.execute_script(_DRAWING)
        still = still + 1 if now == last else 0
        last = now


def cards(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, METRICS)]


def click_label(driver, container_key: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    element = driver.find_element(
        By.XPATH, f"//*[contains(@class, '{container_key}')]//*[normalize-space(text())='{text}']"
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def payg_total(serving: Path, first: datetime, end: datetime, account: str | None = None):
    sql = (
        "SELECT sum(total_cost) FROM marts.fct_cost WHERE billing_mode = 'payg' AND created_at >= ? AND created_at < ?"
    )
    params: list[object] = [first, end]
    if account is not None:
        sql += " AND account_id = ?"
        params.append(account)
    with duckdb.connect(str(serving), read_only=True) as con:
        return con.execute(sql, params).fetchall()[0][0]


def test_a_link_copied_in_one_browser_opens_the_same_view_in_a_fresh_one(
    page_url: str, serving: Path, tmp_path: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with chromium(tmp_path / "first") as first:
        first.execute_cdp_cmd(
            "Browser.grantPermissions",
            {"origin": page_url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
        )
        first.get(page_url)
        settle(first)
        # Change the view with the real widgets: Day granularity, one account, stacked by provider.
        first.find_element(By.XPATH, "//*[@data-testid='stSidebar']//label[.//p[text()='Day']]").click()
        settle(first)
        account_box = first.find_element(By.CSS_SELECTOR, ".st-key-account input")
        account_box.click()
        account_box.send_keys("acct_beta", Keys.ENTER)
        settle(first)
        click_label(first, "st-key-stack", "Provider")
        settle(first)
        first.save_screenshot(str(screenshots / "link-first-session.png"))
        shown = cards(first)
        button = first.find_element(By.ID, "copy-link-header")
        button.click()
        time.sleep(0.5)
        copied = first.execute_async_script(
            "const done = arguments[arguments.length - 1]; "
            "navigator.clipboard.readText().then(done, e => done('ERR ' + e));"
        )
        assert copied == button.get_attribute("data-copied")
        assert copied == first.current_url  # the address bar holds the same view

    query = parse_qs(urlsplit(copied).query, keep_blank_values=True)
    assert query["grain"] == ["day"] and query["account"] == ["acct_beta"] and query["stack"] == ["provider"]
    # The month shown first, as days: switching granularity keeps the time range.
    first_day, last_day = (datetime.fromisoformat(query[name][0]) for name in ("from", "to"))
    assert query["tab"] == ["analysis"] and first_day.day == 1 and last_day - first_day >= timedelta(days=5)
    assert shown[0] == money(payg_total(serving, first_day, last_day + timedelta(days=1), "acct_beta"))

    with chromium(tmp_path / "fresh") as fresh:
        fresh.get(copied)
        settle(fresh)
        fresh.save_screenshot(str(screenshots / "link-fresh-session.png"))
        assert cards(fresh) == shown
        account = fresh.find_element(By.CSS_SELECTOR, ".st-key-account input")
        assert "acct_beta" in (account.get_attribute("value") or "") + fresh.find_element(
            By.CSS_SELECTOR, ".st-key-account"
        ).get_attribute("innerText")
        selected = fresh.find_element(
            By.XPATH, "//*[@data-testid='stSidebar']//label[.//input[@checked] or .//input[@aria-checked='true']]"
        )
        assert "Day" in selected.text
        assert parse_qs(urlsplit(fresh.current_url).query, keep_blank_values=True) == query


def test_a_link_holding_sql_and_html_is_shown_inert(page_url: str, tmp_path: Path, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    with chromium(tmp_path / "hostile") as driver:
        hostile = "%3Cimg%20src%3Dx%20onerror%3D%22document.title%3D%27pwned%27%22%3E"
        driver.get(f"{page_url}/?grain=week&account={hostile}&key=%27%29%3B%20DROP%20TABLE%20marts.fct_cost%3B%20--"
                   f"&model={hostile}&tab=%3Cscript%3E")  # fmt: skip
        settle(driver)
        driver.save_screenshot(str(screenshots / "hostile-link.png"))
        text = driver.find_element(By.TAG_NAME, "body").text
        assert driver.title != "pwned" and not driver.find_elements(
            By.CSS_SELECTOR, "[data-testid='stMain'] img[src='x']"
        )
        assert "Account “<img src=x onerror=\"document.title='pwned'\">” has no usage" in text
        assert "API key “'); DROP TABLE marts.fct_cost; --” has no usage" in text
        assert "Granularity “week” is not month, day or hour: ignored." in text
        assert "Tab “<script>” does not exist: ignored." in text
        assert cards(driver)  # the page itself still works


def test_clicking_a_model_row_opens_its_detail(page_url: str, serving: Path, tmp_path: Path, screenshots: Path) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with duckdb.connect(str(serving), read_only=True) as con:
        month = con.execute("SELECT max(period_start) FROM marts.cost_by_model_monthly").fetchall()[0][0]
        ranked = [m for (m,) in con.execute(
            "SELECT model FROM marts.cost_by_model_monthly WHERE period_start = ? "
            "GROUP BY model ORDER BY sum(total_cost) DESC, model", [month]).fetchall()]  # fmt: skip
    with chromium(tmp_path / "click") as driver:
        driver.get(page_url)
        settle(driver)
        detail = driver.find_element(By.CSS_SELECTOR, ".st-key-model_detail")
        assert detail.text.startswith(ranked[0])  # the costliest model, until another is clicked
        grid = driver.find_element(By.CSS_SELECTOR, ".st-key-table-models [data-testid='stDataFrameResizable']")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
        time.sleep(1)
        row_height, header_height = 35, 35
        ActionChains(driver).move_to_element_with_offset(
            grid,
            -grid.size["width"] // 2 + 18,
            -grid.size["height"] // 2 + header_height + 2 * row_height + row_height // 2,
        ).click().perform()  # the selection box of the third row
        WebDriverWait(driver, 30, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: d.find_element(By.CSS_SELECTOR, ".st-key-model_detail").text.startswith(ranked[2])
        )
        settle(driver)
        driver.save_screenshot(str(screenshots / "model-row-clicked.png"))
        assert parse_qs(urlsplit(driver.current_url).query)["detail_model"] == [ranked[2]]


# --- issue 17's leftovers and issue 21's CSV, each in the real page --------------------------------------------

CHARTS = '[data-testid="stVegaLiteChart"]'  # in page order: Cost over time, Cost by model, the three by type


def until(driver, condition, seconds: float = 30):
    """Wait for `condition(driver)`, reading again when Streamlit replaced an element meanwhile."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = [StaleElementReferenceException, NoSuchElementException]
    return WebDriverWait(driver, seconds, ignored_exceptions=ignored).until(condition)


def query(driver) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query, keep_blank_values=True)


def bars(chart) -> list[dict[str, object]]:
    """The chart's bars as drawn (Vega's SVG): left edge, height and the fields of its aria-label."""
    found = []
    marks = "g.role-mark path[aria-roledescription='rect mark'], g.role-mark path[aria-roledescription='bar']"
    for mark in chart.find_elements("css selector", marks):
        fields = dict(part.split(": ", 1) for part in mark.get_attribute("aria-label").split("; "))
        found.append({"left": mark.rect["x"], "height": mark.rect["height"], "mark": mark, **fields})
    return found


def model_bar_to_click(driver) -> dict[str, object]:
    """A bar of Cost by model's chart, scrolled into view, of a model not in detail yet and tall enough to
    click (also bench/dashboard_browser.py's click-through step)."""
    from selenium.webdriver.common.by import By

    shown = driver.find_element(By.CSS_SELECTOR, ".st-key-model_detail").text.split(" · ")[0]
    chart = driver.find_element(By.CSS_SELECTOR, f".st-key-chart-models {CHARTS}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    time.sleep(1)
    return next(b for b in bars(chart) if b["Model"] != shown and b["height"] > 12)


def test_clicking_a_chart_bar_opens_the_models_detail(page_url: str, tmp_path: Path, screenshots: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    with chromium(tmp_path / "bar") as driver:
        driver.get(page_url)
        settle(driver)
        bar = model_bar_to_click(driver)
        ActionChains(driver).move_to_element(bar["mark"]).click().perform()
        until(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".st-key-model_detail").text.startswith(bar["Model"]))
        settle(driver)
        driver.save_screenshot(str(screenshots / "model-bar-clicked.png"))
        assert query(driver)["detail_model"] == [bar["Model"]]
        assert driver.find_element(By.CSS_SELECTOR, ".st-key-detail_model input").get_attribute("value") == bar["Model"]


def test_changing_the_account_keeps_the_picks_with_usage_in_it_and_names_the_others(
    page_url: str, tmp_path: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with chromium(tmp_path / "account") as driver:
        # key_prod_01 is acct_alpha's, key_md_05 acct_beta's; mistral is used through acct_gamma's keys only.
        driver.get(f"{page_url}/?key=key_prod_01&key=key_md_05&model=openai%2Fgpt-5&model=mistral%2Fmistral-large")
        settle(driver)
        assert query(driver)["key"] == ["key_prod_01", "key_md_05"]
        account_box = driver.find_element(By.CSS_SELECTOR, ".st-key-account input")
        account_box.click()
        account_box.send_keys("acct_beta", Keys.ENTER)
        until(driver, lambda d: query(d)["account"] == ["acct_beta"])
        settle(driver)
        driver.save_screenshot(str(screenshots / "account-changed.png"))
        assert (query(driver)["key"], query(driver)["model"]) == (["key_md_05"], ["openai/gpt-5"])
        notices = [
            n.text for n in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stAlert"]')
        ]
        assert any("API key “key_prod_01” has no usage" in n and "for “acct_beta”" in n for n in notices), notices
        assert any("Model “mistral/mistral-large” has no usage" in n and "for “acct_beta”" in n for n in notices)
        assert len(notices) == 2  # the kept ones are not named
        keys = driver.find_element(By.CSS_SELECTOR, ".st-key-api_keys").text
        assert "*bold*" in keys and "Production" not in keys  # the tag shows key_md_05's name
        assert "openai/gpt-5" in driver.find_element(By.CSS_SELECTOR, ".st-key-models").text


FITTED_TABLES = ("model_providers", "model_api_keys", "model_purposes", "type_model_type", "type_provider",
                 "type_purpose")  # fmt: skip
GEOMETRY = """
const root = arguments[0];
const box = root.querySelector('.meterline-table-box'), table = root.querySelector('table');
const outer = root.getBoundingClientRect();
return {right: table.getBoundingClientRect().right, outer: outer.right, viewport: window.innerWidth,
        scroll: box.scrollWidth, client: box.clientWidth, headers: table.tHead.innerText};
"""
COLUMN = "return Array.from(arguments[0].querySelectorAll('tbody tr')).map((row) => row.cells[arguments[1]].innerText);"


def test_the_cost_and_share_columns_fit_at_1400_px(page_url: str, tmp_path: Path, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    with chromium(tmp_path / "fit") as driver:
        driver.get(page_url)
        settle(driver)
        assert driver.execute_script("return window.innerWidth") == 1400
        for key in FITTED_TABLES:
            table = driver.find_element(By.CSS_SELECTOR, f".st-key-table-{key}")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", table)
            time.sleep(0.5)
            table.screenshot(str(screenshots / f"table-{key}-1400px.png"))
            geometry = driver.execute_script(GEOMETRY, table)
            # Every column, Cost and Share last, is inside the table's box (no horizontal scrolling hides one),
            # and the table is inside its column and the window.
            assert geometry["headers"].split()[-2:] == ["Cost", "Share"], (key, geometry)
            assert geometry["scroll"] <= geometry["client"] + 1, (key, geometry)
            assert geometry["right"] <= min(geometry["outer"], geometry["viewport"]) + 1, (key, geometry)


def test_a_click_on_a_header_sorts_the_table(page_url: str, tmp_path: Path, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    def dollars(texts: list[str]) -> list[Decimal]:
        return [shown_value(text) for text in texts]

    with chromium(tmp_path / "sort") as driver:
        driver.get(page_url)
        settle(driver)
        table = driver.find_element(By.CSS_SELECTOR, ".st-key-table-api_keys")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", table)
        headers = [header.text for header in table.find_elements(By.CSS_SELECTOR, "th")]
        cost, name = headers.index("Cost"), headers.index("API key")
        assert dollars(driver.execute_script(COLUMN, table, cost)) == sorted(
            dollars(driver.execute_script(COLUMN, table, cost)), reverse=True
        )  # the "Sort API keys by" box's default: total cost, high to low
        header = table.find_elements(By.CSS_SELECTOR, "th button")[cost]
        header.click()
        ascending = dollars(driver.execute_script(COLUMN, table, cost))
        assert ascending == sorted(ascending) and ascending != sorted(ascending, reverse=True)
        header.click()
        assert dollars(driver.execute_script(COLUMN, table, cost)) == sorted(ascending, reverse=True)
        table.find_elements(By.CSS_SELECTOR, "th button")[name].click()
        names = driver.execute_script(COLUMN, table, name)
        in_order = "return arguments[0].every((name, i, all) => i === 0 || all[i - 1].localeCompare(name) <= 0);"
        assert len(set(names)) > 1 and driver.execute_script(in_order, names), names
        table.screenshot(str(screenshots / "table-api_keys-sorted-by-name.png"))
        assert console_errors(driver) == []


THREE_MODELS = ("openai/gpt-5", "openai/gpt-5-mini", "anthropic/claude-sonnet-4-5")


def hours_used(serving: Path, first: datetime, end: datetime, models: tuple[str, ...]) -> list[datetime]:
    """The hours of [first, end) with pay-as-you-go usage of `models`."""
    with duckdb.connect(str(serving), read_only=True) as con:
        return [hour for (hour,) in con.execute(
            "SELECT DISTINCT period_start FROM marts.cost_by_model_hourly WHERE period_start >= ? "
            "AND period_start < ? AND model IN ? ORDER BY 1", [first, end, list(models)]).fetchall()]  # fmt: skip


def drawn_periods(drawn: list[dict[str, object]], grain: str) -> list[datetime]:
    """The periods of a period chart's `drawn` bars (bars()), left to right on the screen, each once (read
    from the bars' own descriptions, which name the period as its tooltip does)."""
    unit = {"monthly": "Month (UTC)", "daily": "Day (UTC)", "hourly": "Hour (UTC)"}[grain]
    drawn = sorted(drawn, key=lambda b: b["left"])
    return [datetime.strptime(label, LABEL_FORMATS[grain]) for label in dict.fromkeys(b[unit] for b in drawn)]


def test_chart_periods_are_in_date_order(page_url: str, serving: Path, tmp_path: Path, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    with chromium(tmp_path / "order") as driver:
        three = "".join(f"&model={model.replace('/', '%2F')}" for model in THREE_MODELS)
        for link, grain, expected in (
            ("grain=day&from=2026-10-29&to=2026-11-03" + three, "daily",
             [datetime(2026, 10, 29) + timedelta(days=i) for i in range(6)]),
            ("grain=month&from=2026-10&to=2026-11", "monthly", [datetime(2026, 10, 1), datetime(2026, 11, 1)]),
            ("grain=hour&from=2026-10-29T08&to=2026-10-29T13" + three, "hourly",
             hours_used(serving, datetime(2026, 10, 29, 8), datetime(2026, 10, 29, 14), THREE_MODELS)),
        ):  # fmt: skip
            driver.get(f"{page_url}/?{link}")
            settle(driver)
            for index in (0, 1):  # Cost over time, Cost by model
                chart = driver.find_elements(By.CSS_SELECTOR, CHARTS)[index]
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
                time.sleep(0.5)
                assert drawn_periods(bars(chart), grain) == expected, (link, index)  # every period, in date order
                labels = driver.execute_script(
                    "return Array.from(arguments[0].querySelectorAll('g.role-axis-label text'))"
                    ".map(t => [t.getBoundingClientRect().left, t.textContent])", chart
                )  # fmt: skip
                x_labels = [text for _, text in sorted(labels) if not text.startswith("$") and "%" not in text]
                assert len(set(x_labels)) == len(x_labels), x_labels  # one label per period, not repeated
            driver.save_screenshot(str(screenshots / f"periods-{grain}.png"))


def test_a_typed_day_applies_on_enter(page_url: str, serving: Path, tmp_path: Path, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with chromium(tmp_path / "typed") as driver:
        driver.get(f"{page_url}/?grain=day&from=2026-10-28&to=2026-11-03")
        settle(driver)
        box = driver.find_element(By.CSS_SELECTOR, ".st-key-range-daily-from input")
        box.click()
        box.send_keys("2026-10-25", Keys.ENTER)  # no click elsewhere, no Tab: the field keeps the focus
        until(driver, lambda d: query(d)["from"] == ["2026-10-25"])
        settle(driver)
        driver.save_screenshot(str(screenshots / "typed-day.png"))
        assert query(driver)["to"] == ["2026-11-03"]
        assert cards(driver)[0] == money(payg_total(serving, datetime(2026, 10, 25), datetime(2026, 11, 4)))


def test_the_downloaded_csv_shows_formulas_as_text(page_url: str, serving: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chromium(tmp_path / "csv") as driver:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.get(page_url)
        settle(driver)
        button = driver.find_element(By.CSS_SELECTOR, '[data-testid="stDownloadButton"] button')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        until(driver, lambda d: [f for f in downloads.iterdir() if f.suffix == ".csv"])
        time.sleep(0.5)  # the file is complete once chromium renamed it from .crdownload
        (saved,) = downloads.glob("*.csv")
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"), newline="")))
    names = {row["api_key_id"]: row["api_key_name"] for row in rows}
    with duckdb.connect(str(serving), read_only=True) as con:
        formulas = dict(con.execute(
            "SELECT DISTINCT api_key_id, api_key_name FROM marts.cost_by_api_key_monthly "
            "WHERE regexp_matches(api_key_name, '^[=+\\-@]') AND period_start = (SELECT max(period_start) "
            "FROM marts.cost_by_api_key_monthly)").fetchall())  # fmt: skip
    assert {"key_eval_09", "key_bot_10"} <= set(formulas)
    for key_id, name in formulas.items():
        assert names[key_id] == "'" + name  # shown as text in a spreadsheet, still readable
    assert names["key_prod_01"] == "Production"
    assert all(not value.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for value in row.values())
    assert all(Decimal(row["total_cost"]) >= 0 and int(row["request_count"]) > 0 for row in rows)
    # The period, the costs by kind, the tokens and the requests, not only the total (issue 17).
    assert list(rows[0]) == ["period_start", "period_end", "account_id", "api_key_id", "api_key_name", "request_count",
                             "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
                             "reasoning_tokens", "images", "web_search_calls", "input_cost", "output_cost",
                             "other_cost", "total_cost"]  # fmt: skip
    assert all(sum(Decimal(row[f"{kind}_cost"]) for kind in ("input", "output", "other")) == Decimal(row["total_cost"])
               for row in rows)  # fmt: skip


# --- issue 17's other items, each in the real page --------------------------------------------------------------


def hour_link(hour: datetime) -> str:
    return f"{hour:%Y-%m-%dT%H}"


def test_switching_granularity_keeps_the_time_range_and_the_details(
    page_url: str, serving: Path, tmp_path: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    with duckdb.connect(str(serving), read_only=True) as con:
        first_hour, last_hour = con.execute(
            "SELECT min(period_start), max(period_start) FROM marts.cost_by_model_hourly "
            "WHERE period_start >= '2026-10-01' AND period_start < '2026-12-01'"
        ).fetchall()[0]
    with chromium(tmp_path / "grains") as driver:
        driver.get(f"{page_url}/?grain=month&from=2026-10&to=2026-11&detail_model=openai%2Fgpt-5-mini"
                   "&detail_provider=azure")  # fmt: skip
        settle(driver)
        kept = {"detail_model": ["openai/gpt-5-mini"], "detail_provider": ["azure"]}
        for grain, first, last in (
            ("Day", f"{first_hour:%Y-%m-%d}", f"{last_hour:%Y-%m-%d}"),  # Oct-Nov as days, cut to the data
            ("Hour", hour_link(first_hour), hour_link(last_hour)),
            ("Month", "2026-10", "2026-11"),
        ):
            driver.find_element(By.XPATH, f"//*[@data-testid='stSidebar']//label[.//p[text()='{grain}']]").click()
            until(driver, lambda d, grain=grain: query(d)["grain"] == [grain.lower()])
            settle(driver)
            driver.save_screenshot(str(screenshots / f"grain-{grain.lower()}-kept.png"))
            expected = {**kept, "from": [first], "to": [last]}
            assert {name: query(driver)[name] for name in expected} == expected, grain
            assert driver.find_element(By.CSS_SELECTOR, ".st-key-model_detail").text.startswith("openai/gpt-5-mini")
        driver.find_element(By.XPATH, "//*[@role='tab'][contains(., 'Provider')]").click()
        until(driver, lambda d: query(d)["tab"] == ["providers"])
        settle(driver, drawn=".st-key-table-providers")
        driver.save_screenshot(str(screenshots / "grain-provider-kept.png"))
        assert driver.find_element(By.CSS_SELECTOR, ".st-key-detail_provider input").get_attribute("value") == "azure"
        assert {name: query(driver)[name] for name in expected} == expected


def test_the_cost_by_type_charts_draw_by_themselves(
    page_url: str, serving: Path, tmp_path: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    with duckdb.connect(str(serving), read_only=True) as con:
        month = con.execute("SELECT max(period_start) FROM marts.cost_by_type_monthly").fetchall()[0][0]
        expected = {
            header: dict(
                con.execute(
                    f"SELECT {column}, sum(total_cost) FROM marts.{table} WHERE period_start = ? GROUP BY 1", [month]
                ).fetchall()
            )  # fmt: skip
            for header, column, table in (
                ("Model type", "model_type", "cost_by_type_monthly"),
                ("Provider", "provider", "cost_by_provider_monthly"),
                ("Purpose", "purpose", "cost_by_type_monthly"),
            )
        }
    with chromium(tmp_path / "by-type") as driver:
        driver.get(page_url)  # no click: the default view
        settle(driver)
        for chart, (header, costs) in zip(
            driver.find_elements(By.CSS_SELECTOR, CHARTS)[2:], expected.items(), strict=True
        ):
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
            time.sleep(0.3)
            drawn = {bar[header]: bar["Cost"] for bar in bars(chart)}
            assert drawn == {name: money(cost) for name, cost in costs.items()}, header  # as the tables: cents, half up
        driver.save_screenshot(str(screenshots / "by-type-charts.png"))
        assert "Calls" not in driver.find_element(By.TAG_NAME, "body").text  # one name for requests


def test_an_hour_without_usage_is_a_gap_on_the_time_axis(
    page_url: str, serving: Path, tmp_path: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    model = "mistral/mistral-large"  # used in about two hours of three
    start, end = datetime(2026, 10, 21), datetime(2026, 10, 22)
    used = hours_used(serving, start, end, (model,))
    assert any(later - earlier > timedelta(hours=1) for earlier, later in itertools.pairwise(used))  # a gap inside
    with chromium(tmp_path / "gaps") as driver:
        driver.get(f"{page_url}/?grain=hour&from={hour_link(start)}&to={hour_link(end - timedelta(hours=1))}"
                   f"&model={model.replace('/', '%2F')}")  # fmt: skip
        settle(driver)
        chart = driver.find_elements(By.CSS_SELECTOR, CHARTS)[0]  # Cost over time
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
        time.sleep(0.3)
        driver.save_screenshot(str(screenshots / "hour-gaps.png"))
        drawn = sorted(bars(chart), key=lambda b: b["left"])
        assert drawn_periods(drawn, "hourly") == used
        # Each bar stands at its hour on a time axis: an hour without usage leaves its width empty.
        width = (drawn[-1]["left"] - drawn[0]["left"]) / ((used[-1] - used[0]) / timedelta(hours=1))
        for bar, hour in zip(drawn, used, strict=True):
            assert abs(bar["left"] - drawn[0]["left"] - width * (hour - used[0]) / timedelta(hours=1)) < 1.5


def _card_delta(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricDelta"]')[0].text


def test_a_change_against_a_negligible_base_reads_new_or_the_amount_alone(
    page_url: str, serving: Path, tmp_path: Path, screenshots: Path
) -> None:
    hourly = (
        "WITH h AS (SELECT account_id, model, period_start AS hour, sum(total_cost) AS cost "
        "FROM marts.cost_by_model_hourly GROUP BY ALL) SELECT now.account_id, now.model, now.hour, "
        "now.cost - before.cost FROM h AS now JOIN h AS before ON (before.account_id, before.model, before.hour) "
        "= (now.account_id, now.model, now.hour - INTERVAL 1 HOUR) WHERE {} ORDER BY 3, 2, 1 LIMIT 1"
    )
    with duckdb.connect(str(serving), read_only=True) as con:
        # The hour before shows as $0.00: "(new)". Over +1000%: the amount alone.
        new = con.execute(hourly.format("round(before.cost, 2) = 0 AND round(now.cost, 2) > 0")).fetchall()[0]
        jump = con.execute(hourly.format("round(before.cost, 2) > 0 AND now.cost > 12 * before.cost")).fetchall()[0]
    with chromium(tmp_path / "new") as driver:
        for account, model, hour, difference, suffix in ((*new, " (new)"), (*jump, "")):
            driver.get(f"{page_url}/?grain=hour&from={hour_link(hour)}&to={hour_link(hour)}&account={account}"
                       f"&model={model.replace('/', '%2F')}")  # fmt: skip
            settle(driver)
            assert _card_delta(driver).splitlines()[0] == f"+{money(difference)}{suffix}", (account, model, hour)
        driver.save_screenshot(str(screenshots / "change-amount-alone.png"))


def _drawn_texts(elements: list) -> set[str] | None:
    """The texts of ``elements``; None while there are none or one has no text yet."""
    texts = [element.text for element in elements]
    return set(texts) if texts and all(texts) else None


def test_the_pickers_list_what_has_usage_in_the_range_and_all_time_behind_the_toggle(
    page_url: str, serving: Path, tmp_path: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    with duckdb.connect(str(serving), read_only=True) as con:
        [(hour,)] = con.execute(  # the hour with the fewest models used
            "SELECT period_start FROM marts.cost_by_model_hourly GROUP BY 1 ORDER BY count(*), 1 LIMIT 1"
        ).fetchall()
        used = {m for (m,) in con.execute(
            "SELECT DISTINCT model FROM marts.cost_by_model_hourly WHERE period_start = ?", [hour]).fetchall()}  # fmt: skip
        every = {m for (m,) in con.execute("SELECT DISTINCT model FROM marts.cost_by_model_daily").fetchall()}
    assert used < every

    def offered() -> set[str]:
        box = driver.find_element(By.CSS_SELECTOR, ".st-key-models input")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
        box.click()
        # Read once every option is drawn: an option still being drawn has no text yet.
        names = until(driver, lambda d: _drawn_texts(d.find_elements(By.CSS_SELECTOR, "[role='option']")))
        names -= {"Select all"}
        box.send_keys("\ue00c")  # Escape closes the list
        return names

    with chromium(tmp_path / "pickers") as driver:
        driver.get(f"{page_url}/?grain=hour&from={hour_link(hour)}&to={hour_link(hour)}")
        settle(driver)
        assert offered() == used
        driver.find_element(By.CSS_SELECTOR, ".st-key-all_time label").click()
        settle(driver)
        driver.save_screenshot(str(screenshots / "pickers-all-time.png"))
        assert offered() == every


def test_the_provider_tab_shows_the_cheaper_providers(
    page_url: str, serving: Path, tmp_path: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    with chromium(tmp_path / "alternatives") as driver:
        driver.get(f"{page_url}/?tab=providers")
        settle(driver, drawn=".st-key-table-providers")
        table = driver.find_element(By.CSS_SELECTOR, ".st-key-table-alternatives")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", table)
        time.sleep(0.5)
        driver.save_screenshot(str(screenshots / "cheaper-providers.png"))
        assert table.find_elements(By.CSS_SELECTOR, "table tbody tr")
        # Every provider is the box's empty value: it reads "All providers", not "Choose an option".
        box = driver.find_element(By.CSS_SELECTOR, ".st-key-detail_provider input")
        assert (box.get_attribute("value"), box.get_attribute("placeholder")) == ("", "All providers")
        assert "Cheaper providers" in driver.find_element(By.TAG_NAME, "body").text
