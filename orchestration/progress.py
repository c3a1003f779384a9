"""A run's console output for the ``meterline`` commands: a line per step on the terminal, the whole
log in a file.

A run in this process writes a lot: Dagster's console log (one line per message of every step and
check) and dbt's own log, which dagster-dbt echoes line by line (some 300 lines for the demo).
:func:`captured` puts both in a log file and shows on the terminal only what a user follows:
each step's own lines (the catalog, each arrival day, the dbt window, publication), dbt's progress
in quarters, every failed or warning check and every error, and at the end a count of the checks.
``--verbose`` shows everything as well.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

# Dagster's console format: "<time> - dagster - LEVEL - <job> - <run id> - <step> - <message>".
_DAGSTER = re.compile(r" - dagster - (?P<level>[A-Z]+) - \S+ - [0-9a-f-]{36} - (?P<step>\S+) - (?P<message>.*)$")
# dbt's result line of a node: "12 of 146 OK created sql view model ...", "3 of 146 FAIL 2 unique_...".
_DBT_NODE = re.compile(r"^\s*\d+ of (?P<total>\d+) (?P<status>OK|PASS|WARN|FAIL|ERROR|SKIP|NO-OP)\b")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The steps whose own INFO lines are progress a user follows (the checks are counted instead).
_SHOWN_STEPS = ("raw__price_catalog", "raw_usage", "meterline_dbt_models", "serving_marts")
_HIDDEN_PREFIXES = ("A dbt subsetted execution", "Copying `", "Running dbt command", "Finished dbt command")


@dataclass
class Progress:
    """What the terminal showed of a run, for its last lines."""

    terminal: TextIO
    verbose: bool = False
    checks: dict[str, int] = field(default_factory=lambda: {"passed": 0, "failed": 0, "warnings": 0})
    dbt_done: int = 0
    dbt_quarter: int = 0

    def show(self, text: str) -> None:
        print(f"  {text}", file=self.terminal, flush=True)

    def line(self, line: str) -> None:
        """One complete line of the run's output: count it, show it, or leave it to the log file."""
        plain = _ANSI.sub("", line)
        if self.verbose:
            print(plain, file=self.terminal, flush=True)
        node = _DBT_NODE.match(plain)
        if node and " hook: " not in plain:
            self._dbt_node(plain, node)
            return
        match = _DAGSTER.search(plain)
        if match:
            self._dagster(match["level"], match["step"], match["message"])

    def _dbt_node(self, plain: str, node: re.Match[str]) -> None:
        self.dbt_done += 1
        total = int(node["total"])
        if node["status"] in ("FAIL", "ERROR") and not self.verbose:
            self.show("dbt: " + plain.strip())
        quarter = 4 * self.dbt_done // total
        if quarter > self.dbt_quarter and not self.verbose:
            self.dbt_quarter = quarter
            self.show(f"dbt build: {self.dbt_done} of {total} models and tests done")

    def _dagster(self, level: str, step: str, message: str) -> None:
        verdict = message.split(" ", 1)[0]
        if verdict in ("passed", "FAILED", "WARNING") and message[len(verdict) :].startswith(" ["):
            # "passed [blocking] 23 x one_row_per_group: ..." stands for 23 checks that passed
            # ("passed [blocking/warning] 9 x conservation/...: ..." for 9 of both severities).
            times = re.match(r"\S+ \[[\w/]+\] (\d+) x ", message)
            count = int(times.group(1)) if times else 1
            self.checks[{"passed": "passed", "FAILED": "failed", "WARNING": "warnings"}[verdict]] += count
            if verdict != "passed" and not self.verbose:
                self.show(message)
            return
        if self.verbose:
            return
        if level in ("WARNING", "ERROR", "CRITICAL"):
            self.show(f"{step}: {message}")
        elif step in _SHOWN_STEPS and not message.startswith(_HIDDEN_PREFIXES):
            self.show(message)

    def summary(self) -> str:
        counts = self.checks
        return f"checks: {counts['passed']} passed, {counts['failed']} failed, {counts['warnings']} warnings"


class _Tee(io.TextIOBase):
    """A text stream writing everything to the log file and each complete line to ``progress``."""

    def __init__(self, log: TextIO, progress: Progress) -> None:
        self._log, self._progress, self._partial = log, progress, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._log.write(text)
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._progress.line(line)
        return len(text)

    def flush(self) -> None:
        self._log.flush()

    def isatty(self) -> bool:  # no colours into the log file
        return False


@contextmanager
def captured(log_path: Path, *, verbose: bool = False) -> Iterator[Progress]:
    """Send this process's stdout and stderr to ``log_path`` for the block, showing the progress
    lines on the terminal (the streams as they were on entry)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout
    progress = Progress(terminal=terminal, verbose=verbose)
    with open(log_path, "a", encoding="utf-8") as log:
        tee = _Tee(log, progress)
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = tee
        try:
            yield progress
        finally:
            sys.stdout, sys.stderr = saved
            tee.write("\n")  # the last partial line, if any
