"""How fast the cost analysis page answers on a large serving file (issue 17: first load under 3 s, every
interaction under 1 s, on 2 cores).

Builds (or reuses) a serving file of N requests in the published shape directly in SQL
(tests/dashboard_serving.py: fct_cost, every aggregate at every grain, provider_alternatives, Parquet
behind views as the pipeline publishes them), then times the page's own script run by Streamlit's
AppTest: the server-side time of a run, i.e. every query and the building of every element, not the
browser's drawing. Each step is timed `--repeats` times; the median is reported, with the machine's load
average (os.getloadavg) before and after, since other work on a shared 2-core machine slows every step.

    python bench/dashboard.py --requests 2000000 --days 10 [--serving PATH] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.dashboard_serving import build_serving  # noqa: E402 (after the path insert)

APP = str(REPO / "dashboard" / "app.py")


def timed(action) -> float:
    start = time.perf_counter()
    at = action()
    elapsed = time.perf_counter() - start
    assert not at.exception, [e.message for e in at.exception]
    return elapsed


def session_steps(at):
    """One user's session: the steps timed, in order, on one AppTest page."""

    def first_key():
        return [at.multiselect(key="api_keys").options[0].split(" · ")[-1]]

    return [
        ("first load (Month, latest month)", lambda: at.run()),
        ("granularity -> Day (the month as days)", lambda: at.radio(key="granularity").set_value("Day").run()),
        ("account -> acct_beta", lambda: at.selectbox(key="account").set_value("acct_beta").run()),
        ("API key filter (one key)", lambda: at.multiselect(key="api_keys").set_value(first_key()).run()),
        (
            "model in detail -> the third model",
            lambda: at.selectbox(key="detail_model").set_value(at.selectbox(key="detail_model").options[2]).run(),
        ),
        ("granularity -> Hour (the days as hours)", lambda: at.radio(key="granularity").set_value("Hour").run()),
        ("granularity -> Month", lambda: at.radio(key="granularity").set_value("Month").run()),
    ]


def serving_options(parser: argparse.ArgumentParser) -> None:
    """The serving file of the page's benchmarks (this one and dashboard_browser.py): built when missing."""
    parser.add_argument("--requests", type=int, default=2_000_000, help="when --serving does not exist yet")
    parser.add_argument("--days", type=int, default=10, help="when --serving does not exist yet")
    parser.add_argument("--serving", type=Path, default=Path("/tmp/meterline-bench-dashboard/meterline.duckdb"))


def ensure_serving(args: argparse.Namespace) -> None:
    if not args.serving.is_file():
        start = time.perf_counter()
        build_serving(args.serving, args.requests, days=args.days)
        took = time.perf_counter() - start
        print(f"built {args.serving} ({args.requests:,} requests, {args.days} days) in {took:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    serving_options(parser)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ensure_serving(args)
    os.environ["METERLINE_SERVING"] = str(args.serving)
    from streamlit.testing.v1 import AppTest

    AppTest.from_file(APP, default_timeout=120).run()  # imports and caches: not part of a page load
    load_before = os.getloadavg()
    results: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        at = AppTest.from_file(APP, default_timeout=120)
        for name, action in session_steps(at):
            results.setdefault(name, []).append(timed(action))
        tab = AppTest.from_file(APP, default_timeout=120)
        tab.query_params.update({"tab": "providers"})
        results.setdefault("first load, Provider Cost tab (link)", []).append(timed(lambda: tab.run()))  # noqa: B023
    load_after = os.getloadavg()
    print(f"cores: {os.cpu_count()}; load average (1, 5, 15 min) before: {load_before}, after: {load_after}")
    print(f"| step | median s | min s | max s |  ({args.repeats} repeats)")
    print("|---|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
