"""How long the cost analysis page takes to render in a real browser on a large serving file (issue 17).

bench/dashboard.py times the server side only (Streamlit's AppTest: every query and the building of every
element). This one starts ``meterline dashboard`` (tests/test_dashboard_browser.py's dashboard_server) and
drives Debian's headless chromium through selenium (that module's browser(): a fresh profile per session),
so each step's time is the Streamlit server's run plus the sending of its elements plus chromium's drawing
of them, Vega charts and Glide tables included, both on this machine: they share its cores.

How a step is timed: t0 just before the action (driver.get or a click); then the page is read every ~50 ms
(one script: the DOM signature of the browser tests' _DRAWING, whether the step's marker element is there,
Streamlit's running icon, stale elements). The page is settled when the marker is there, there is no
running icon and no stale element, and nothing read has changed for 1.0 s; the step's time is the moment
of the last change (when the page became still) minus t0, without that 1 s of confirmation. After a click
the previous page still looks settled: the wait first needs a reaction (running icon, stale elements or a
changed signature) or 2 s without one (a warning is printed). Resolution: the poll interval plus one
round trip to chromedriver (~50-70 ms).

Steps of a session, as bench/dashboard.py's where the browser can do them: first load (Month, the latest
month), granularity -> Day, account -> acct_beta (typed into the account box untimed, timed from the Enter
that picks it: a user's typing is not the page's time), granularity -> Hour, granularity -> Month, a click
on a bar of Cost by model (its detail opens), a click on the Provider Cost tab, then the Provider Cost tab
from a link (?tab=providers) in the same browser, and the first load again there (its cache now holds
Streamlit's scripts: what a returning user waits for). One untimed session first loads the
page once (imports in the server, the file in the page cache), as bench/dashboard.py's warm-up run.

    python bench/dashboard_browser.py [--serving PATH] [--requests 2000000 --days 10] [--repeats 5]
                                      [--screenshots DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# The server is a child process: it runs this checkout's page too.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

from bench.dashboard import ensure_serving, serving_options  # noqa: E402 (after the path insert)
from tests.test_dashboard_browser import (  # noqa: E402
    _DRAWING,
    METRICS,
    RUNNING,
    STALE,
    chromium,
    console_errors,
    dashboard_server,
    model_bar_to_click,
    query,
)

PROVIDERS = ".st-key-table-providers"  # the Provider Cost tab's first table (the tab has no cards)
# Everything a poll reads, in one round trip: arguments[0] is the step's marker selector.
STATE = f"""const drawing = (() => {{ {_DRAWING} }})();
return [drawing, document.querySelector(arguments[0]) !== null,
        document.querySelector('{RUNNING}') !== null, document.querySelector('{STALE}') !== null];"""
POLL, STILL, REACTION, AT_MOST = 0.05, 1.0, 2.0, 180.0


class State(NamedTuple):
    drawing: str
    ready: bool
    running: bool
    stale: bool

    @property
    def settled(self) -> bool:
        return self.ready and not self.running and not self.stale


def read(driver, marker: str) -> State:
    return State(*driver.execute_script(STATE, marker))


def timed(driver, name: str, action: Callable[[], object], marker: str = METRICS, click: bool = True) -> float:
    """Seconds from `action` until the page became still (see the module's docstring)."""
    before = read(driver, marker) if click else None
    start = time.perf_counter()
    action()
    last, changed, reacted = before, start, not click
    while True:
        now, at = read(driver, marker), time.perf_counter()
        if now != last:
            last, changed = now, at
        if not reacted:
            reacted = now.running or now.stale or now.drawing != before.drawing
            if not reacted and at - start > REACTION:
                print(f"warning: {name}: no reaction within {REACTION:.0f} s; timing the page as it is")
                reacted = True
        if reacted and now.settled and at - changed >= STILL:
            return changed - start
        if at - start > AT_MOST:
            raise TimeoutError(f"{name}: not settled after {AT_MOST:.0f} s ({now})")
        time.sleep(POLL)


def expect(driver, name: str, **params: str) -> None:
    """The step did what it says: the page's own link (the query string it writes) shows it."""
    shown = query(driver)
    wrong = {key: shown.get(key) for key, value in params.items() if shown.get(key) != [value]}
    if wrong:
        raise AssertionError(f"{name}: the page shows {wrong}, expected {params}")


def session(driver, url: str, screenshots: Path | None, repeat: int, errors: dict[str, list[str]]) -> dict[str, float]:
    """One user's session in a fresh browser: the steps' times, in order (console errors added to `errors`)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def grain(label: str) -> Callable[[], None]:
        xpath = f"//*[@data-testid='stSidebar']//label[.//p[text()='{label}']]"
        return lambda: driver.find_element(By.XPATH, xpath).click()

    def type_account() -> None:  # what the user does before the change: not timed
        box = driver.find_element(By.CSS_SELECTOR, ".st-key-account input")
        box.click()
        box.send_keys("acct_beta")
        time.sleep(0.5)  # the list has filtered down to the typed account

    def pick_account() -> None:  # the change: Enter picks the account the list shows
        driver.find_element(By.CSS_SELECTOR, ".st-key-account input").send_keys(Keys.ENTER)

    times: dict[str, float] = {}

    def step(name: str, action: Callable[[], object], marker: str = METRICS, click: bool = True, **params: str) -> None:
        times[name] = timed(driver, name, action, marker, click=click)
        expect(driver, name, **params)
        errors.setdefault(name, []).extend(console_errors(driver))

    for name, prepare, action, click, params in (
        ("first load (Month, latest month)", None, lambda: driver.get(url), False, {"grain": "month"}),
        ("granularity -> Day (the month as days)", None, grain("Day"), True, {"grain": "day"}),
        ("account -> acct_beta", type_account, pick_account, True, {"account": "acct_beta"}),
        ("granularity -> Hour (the days as hours)", None, grain("Hour"), True, {"grain": "hour"}),
        ("granularity -> Month", None, grain("Month"), True, {"grain": "month"}),
    ):
        if prepare is not None:
            prepare()
        step(name, action, click=click, **params)
        if screenshots is not None and "Hour" in name:
            driver.save_screenshot(str(screenshots / f"hour-step-session-{repeat}.png"))
    # Click-through: a bar of Cost by model (a model not in detail yet) opens that model's detail.
    bar = model_bar_to_click(driver)
    step("click a model's bar -> its detail", lambda: ActionChains(driver).move_to_element(bar["mark"]).click().perform(),
         detail_model=bar["Model"])  # fmt: skip
    tab = driver.find_element(By.XPATH, "//*[@role='tab'][contains(., 'Provider')]")
    step("tab -> Provider Cost (click)", tab.click, PROVIDERS, tab="providers")
    name = "first load, Provider Cost tab (link)"
    step(name, lambda: driver.get(f"{url}/?tab=providers"), PROVIDERS, click=False, tab="providers")
    if driver.find_elements(By.CSS_SELECTOR, METRICS):
        raise AssertionError(f"{name}: the Cost analysis tab's cards are shown")
    # The first step again in the same browser: a returning user, whose cache holds Streamlit's
    # scripts (the first step's browser had none); the difference is what a cold cache costs.
    step("first load again, same browser (cached scripts)", lambda: driver.get(url), click=False, grain="month")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    serving_options(parser)
    parser.add_argument("--repeats", type=int, default=5, help="sessions, each in a fresh browser profile")
    parser.add_argument("--screenshots", type=Path, help="folder for the Hour step's final page, per session")
    args = parser.parse_args()
    ensure_serving(args)
    if args.screenshots is not None:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[float]] = {}
    errors: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="meterline-bench-browser-") as scratch:
        with dashboard_server(args.serving, Path(scratch) / "dashboard.log") as url:
            with chromium(Path(scratch) / "warm-up") as warm:  # imports and caches: not part of a page load
                timed(warm, "warm-up", lambda: warm.get(url), click=False)
            load_before = os.getloadavg()
            for repeat in range(1, args.repeats + 1):
                with chromium(Path(scratch) / f"session-{repeat}") as driver:
                    for name, seconds in session(driver, url, args.screenshots, repeat, errors).items():
                        results.setdefault(name, []).append(seconds)
            load_after = os.getloadavg()
    print(
        "Browser rendering: the Streamlit server's run plus chromium's drawing (headless, 1400 px), both on this "
        f"machine; each step until the page was still for {STILL:.1f} s (that second not counted)."
    )
    print(f"cores: {os.cpu_count()}; load average (1, 5, 15 min) before: {load_before}, after: {load_after}")
    print(f"| step | median s | min s | max s |  ({args.repeats} repeats, {args.serving})")
    print("|---|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    for name, messages in errors.items():
        if messages:
            first = messages[0].splitlines()[0][:200]
            print(f"warning: {name}: {len(messages)} browser console errors over the sessions, the first: {first}")
    if args.screenshots is not None:
        print(f"screenshots: {args.screenshots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
