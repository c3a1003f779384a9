"""The ``meterline`` console script.

Bad arguments print one line naming the problem and exit with code 2; a run
that fails exits with code 1. Heavy imports (Dagster, dbt) happen inside the
commands, so ``meterline --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

from orchestration.errors import UsageError


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
    from orchestration.generate import generate_landing

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
    from orchestration.prices import import_litellm_prices

    rows = import_litellm_prices(Path(args.source), Path(args.out))
    print(f"wrote {rows} catalog rows to {args.out}")
    return 0


def _cmd_materialize(args: argparse.Namespace) -> int:
    from orchestration.runner import materialize

    return materialize(args.date_from, args.date_to)


def _cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.runner import demo

    return demo()


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
    mat.set_defaults(func=_cmd_materialize)

    demo = commands.add_parser("demo", help="generate a sample, materialize and publish it")
    demo.set_defaults(func=_cmd_demo)
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


if __name__ == "__main__":
    sys.exit(main())
