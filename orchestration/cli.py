"""The ``meterline`` console script.

Bad arguments print one line naming the problem and exit with code 2; a run
that fails exits with code 1. Heavy imports (Dagster, dbt) happen inside the
commands, so ``meterline --help`` stays fast.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import os
import sys
import time
from datetime import date
from pathlib import Path

from meterline.errors import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2 (no usage dump)
        raise UsageError(message)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value


def _cmd_generate(args: argparse.Namespace) -> int:
    from meterline.sample import generate_landing

    summary = generate_landing(
        out=Path(args.out),
        days=args.days,
        rows_per_day=args.rows_per_day,
        seed=args.seed,
        start=args.start,
    )
    print(summary)
    return 0


def _cmd_import_prices(args: argparse.Namespace) -> int:
    from meterline.litellm import import_litellm_prices

    rows = import_litellm_prices(Path(args.source), Path(args.out))
    print(f"wrote {rows} catalog rows to {args.out}")
    return 0


def _cmd_materialize(args: argparse.Namespace) -> int:
    from orchestration.runner import materialize

    return materialize(args.date_from, args.date_to, verbose=args.verbose)


def _cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.runner import demo

    return demo(verbose=args.verbose)


def _cmd_reprice(args: argparse.Namespace) -> int:
    """The main job over those days: it reloads the catalog, re-ingests the days (idempotent),
    re-rates every request of the event days they touch and republishes those partitions."""
    from meterline.settings import Settings
    from orchestration.runner import materialize

    prices = Settings.from_env().prices
    print(f"meterline: re-rating arrival days {args.date_from} .. {args.date_to} with the catalog {prices}")
    return materialize(args.date_from, args.date_to, verbose=args.verbose)


def _cmd_status(args: argparse.Namespace) -> int:
    from orchestration.status import status

    return status()


def _cmd_dq_report(args: argparse.Namespace) -> int:
    from meterline.quality.report import print_report
    from meterline.settings import Settings

    return print_report(Settings.from_env().reports, args.run)


def _cmd_export_focus(args: argparse.Namespace) -> int:
    from meterline.focus import ExportMismatch, export_focus
    from meterline.settings import Settings

    settings = Settings.from_env()
    try:
        result = export_focus(settings.serving, args.date_from, args.date_to, Path(args.out),
                              settings.duckdb_memory_limit)  # fmt: skip
    except ExportMismatch as exc:
        print(f"meterline: error: {exc}", file=sys.stderr)
        return 1
    print(f"meterline: wrote {result.rows} FOCUS 1.0 rows ({result.file_format}, UTC days {args.date_from} .. "
          f"{args.date_to}, BilledCost {result.billed_cost} USD) to {result.path}")  # fmt: skip
    return 0


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (1-65535): {text!r}")
    return value


def _cmd_dashboard(args: argparse.Namespace) -> int:
    """Replace this process with the Streamlit server of the cost analysis page."""
    from meterline.settings import Settings

    settings = Settings.from_env()
    if not settings.serving.is_file():
        raise UsageError(f"serving file {settings.serving} does not exist; run meterline demo or materialize first")
    # The page is a program of its own that Streamlit runs: located, not imported.
    app = Path(importlib.util.find_spec("dashboard").origin).resolve().parent / "app.py"
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.address", args.address, "--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]  # fmt: skip
    print(f"meterline: cost analysis page on http://{args.address}:{args.port} (serving file {settings.serving})")
    sys.stdout.flush()
    os.execve(sys.executable, command, {**os.environ, **settings.as_env()})


def _verbose(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "-v", "--verbose", action="store_true",
        help="show the run's whole log (Dagster's and dbt's) on the terminal, not only a line per step",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="meterline", description="Cost analytics for LLM API traffic.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = commands.add_parser("generate", help="write a realistic sample landing folder")
    gen.add_argument("--days", type=_positive, required=True)
    gen.add_argument("--rows-per-day", type=_positive, required=True)
    gen.add_argument("--out", required=True, help="landing folder (date=YYYY-MM-DD/ inside)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--start", type=_day, default=date(2026, 11, 1), help="first arrival day")
    gen.set_defaults(func=_cmd_generate)

    imp = commands.add_parser("import-prices", help="convert LiteLLM's price list to the catalog CSV")
    imp.add_argument("source", help="model_prices_and_context_window.json")
    imp.add_argument("--out", required=True, help="catalog CSV to write")
    imp.set_defaults(func=_cmd_import_prices)

    mat = commands.add_parser("materialize", help="run the pipeline for a range of arrival days")
    mat.add_argument("--from", dest="date_from", type=_day, required=True)
    mat.add_argument("--to", dest="date_to", type=_day, required=True)
    _verbose(mat)
    mat.set_defaults(func=_cmd_materialize)

    rep = commands.add_parser("reprice", help="re-rate arrival days with the current price catalog and republish")
    rep.add_argument("--from", dest="date_from", type=_day, required=True)
    rep.add_argument("--to", dest="date_to", type=_day, required=True)
    _verbose(rep)
    rep.set_defaults(func=_cmd_reprice)

    stat = commands.add_parser("status", help="list arrival days with their state and the last run's checks")
    stat.set_defaults(func=_cmd_status)

    dq = commands.add_parser("dq-report", help="print a run's data-quality summary; exit 1 if a blocking check failed")
    dq.add_argument("--run", help="run id, report folder name or a prefix of either (default: the latest run)")
    dq.set_defaults(func=_cmd_dq_report)

    focus = commands.add_parser("export-focus", help="write the payg usage of UTC days as a FOCUS 1.0 dataset")
    focus.add_argument("--from", dest="date_from", type=_day, required=True, help="first UTC event day")
    focus.add_argument("--to", dest="date_to", type=_day, required=True, help="last UTC event day (included)")
    focus.add_argument("--out", required=True, help="file to write: CSV, or Parquet when it ends in .parquet")
    focus.set_defaults(func=_cmd_export_focus)

    demo = commands.add_parser("demo", help="generate a sample, materialize and publish it")
    _verbose(demo)
    demo.set_defaults(func=_cmd_demo)

    board = commands.add_parser("dashboard", help="serve the cost analysis page (reads the serving file)")
    board.add_argument("--port", type=_port, default=8501)
    board.add_argument("--address", default="127.0.0.1", help="interface to listen on (default: this machine only)")
    board.set_defaults(func=_cmd_dashboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UsageError as exc:
        print(f"meterline: error: {exc}", file=sys.stderr)
        return 2


_exit_code: int | None = None


def _exit_without_teardown() -> None:
    """Registered before the command imports anything that registers an exit handler, so run after all of
    them (logging's flush, the warm dbt server's stop, temporary folders' removal): once main() has
    returned, end the process with its code now. Python's own teardown of the modules a run imports
    (Dagster, dbt, Great Expectations, pandas) takes 1 to 1.5 s and has nothing left to save: files and
    connections are closed by then. An exception out of main() leaves _exit_code None, so the
    interpreter prints it and exits as usual."""
    if _exit_code is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_code)


def console() -> None:
    """The ``meterline`` console script: main() with the process's exit as above."""
    global _exit_code
    atexit.register(_exit_without_teardown)
    _exit_code = main()
    sys.exit(_exit_code)


if __name__ == "__main__":
    console()
