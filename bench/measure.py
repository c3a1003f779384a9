"""Run one command as a measured subprocess: wall time, CPU time and peak memory.

Peak RSS is taken two ways. ``max_rss_mb`` is GNU time's "Maximum resident set
size" (``/usr/bin/time -v``): the largest single process of the tree (the
command or one of its children, e.g. the dbt subprocess), not their sum.
``tree_peak_rss_mb`` samples the summed RSS of the whole process tree every
0.2 s from /proc: what the machine must really hold at once. ``cpu_s`` is GNU
time's user + system time of the command and the children it waited for (dbt's
process included): the work done, however it was spread over the cores.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = "/usr/bin/time"
SAMPLE_SECONDS = 0.2
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    tree_peak_rss_mb: float
    load_before: float
    load_after: float
    started_at: float  # epoch seconds, to line the run's own event log up with the process
    # (epoch seconds, tree RSS MB, tree CPU seconds so far) every SAMPLE_SECONDS
    samples: tuple[tuple[float, int, float], ...]


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def _tree_usage(root: int) -> tuple[int, float]:
    """Summed RSS in bytes and CPU seconds so far of ``root`` and all its descendants (Linux /proc).
    A process's CPU counts its own time and that of the children it has waited for, so a finished
    dbt process stays counted in meterline's."""
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(stat.parent.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    pages, ticks, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        # Fields after the command name: [11:15] utime, stime, cutime, cstime; [21] rss in pages.
        fields = stats.get(pid, [])[11:22]
        if fields:
            ticks += sum(int(value) for value in fields[:4])
            pages += int(fields[10])
    return pages * PAGE_BYTES, ticks / CLOCK_TICKS


def _sample(pid: int, stop: threading.Event, samples: list[tuple[float, int, float]]) -> None:
    while not stop.wait(SAMPLE_SECONDS):
        rss, cpu = _tree_usage(pid)
        samples.append((round(time.time(), 2), round(rss / 2**20), round(cpu, 2)))


def gnu_time_available() -> None:
    if not shutil.which(GNU_TIME):
        raise SystemExit(f"{GNU_TIME} is missing: install Debian's time package (apt-get install -y time)")


def run(command: list[str], *, env: dict[str, str], log: Path, cwd: Path | None = None) -> Measured:
    """Run ``command`` under ``/usr/bin/time -v``; its output goes to ``log``. Fails on a non-zero exit."""
    time_file = log.with_suffix(".time")
    load_before = load_average()
    started = time.time()
    with log.open("w") as out:
        process = subprocess.Popen(
            [GNU_TIME, "-v", "-o", str(time_file), *command], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        stop, samples = threading.Event(), []
        sampler = threading.Thread(target=_sample, args=(process.pid, stop, samples), daemon=True)
        sampler.start()
        code = process.wait()
        stop.set()
        sampler.join()
    wall = time.time() - started
    if code != 0:
        raise RuntimeError(f"{' '.join(command)} exited {code}; see {log}")
    report = time_file.read_text()
    max_rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", report).group(1)) for kind in ("User", "System"))
    return Measured(
        wall_s=round(wall, 2),
        cpu_s=round(cpu, 2),
        max_rss_mb=round(max_rss_kb / 1024),
        tree_peak_rss_mb=max((mb for _, mb, _ in samples), default=0),
        load_before=load_before,
        load_after=load_average(),
        started_at=started,
        samples=tuple(samples),
    )
