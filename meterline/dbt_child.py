"""``meterline-dbt``: dbt that dies with the process that started it.

The Dagster run starts ``dbt build`` as a child process. When the run's process is killed (``kill
-9``, the OOM killer, a lost container), an orphaned dbt would go on writing the warehouse for a
while, and the next run, which takes the writer lock as soon as the killed run's process is gone,
would fail on DuckDB's own file lock midway. This entry point asks Linux to send the child SIGKILL
when its parent dies (``prctl(PR_SET_PDEATHSIG)``, which survives ``exec``), then becomes the dbt
installed beside it. DuckDB's write-ahead log makes a killed writer safe: its open transaction is
rolled back. Elsewhere than on Linux it is plain dbt.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def dbt_path() -> str:
    """The dbt of this environment (beside its Python), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def die_with_parent() -> None:
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(128 + signal.SIGKILL)


def main() -> None:
    die_with_parent()
    dbt = dbt_path()
    os.execv(dbt, [dbt, *sys.argv[1:]])


if __name__ == "__main__":
    main()
