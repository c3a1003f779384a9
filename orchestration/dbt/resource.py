"""The dbt project as Dagster sees it, and the explicit preparation of its manifest."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster_dbt import DbtCliResource, DbtProject

from meterline.dbt_child import dbt_path
from meterline.settings import DBT_PROJECT_DIR
from orchestration.internals import DBT_CORE_VERSION, using_dagster_dev

if TYPE_CHECKING:
    from packaging.version import Version

# The dbt installed beside this Python (a venv's bin/ need not be on PATH), started through
# meterline-dbt, which makes it die with the run that started it (meterline/dbt_child.py); plain
# dbt in an environment installed before that entry point existed.
_CHILD = Path(sys.executable).with_name("meterline-dbt")
DBT_EXECUTABLE = str(_CHILD) if _CHILD.exists() else dbt_path()

# Where dbt writes its artifacts (the manifest, partial parse, one folder per run): dbt's own
# DBT_TARGET_PATH, relative to the project, as dbt and dagster-dbt read it; default target/.
DBT_TARGET_PATH = Path(os.environ.get("DBT_TARGET_PATH") or "target")

# No fixed target: profiles.yml picks it from METERLINE_ENGINE when each dbt command runs,
# so one process (a test session) can run either engine.
meterline_dbt = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=DBT_TARGET_PATH)


class MeterlineDbtCli(DbtCliResource):
    """dagster-dbt's dbt resource without two start-up costs of each ``cli`` call that meterline
    has no use for, ~3 s a run: ``dbt --version`` in a second dbt process (to detect dbt Fusion),
    and a dbt adapter opened in this process (for column metadata and row counts, which meterline
    does not fetch). The dbt it runs is this environment's dbt-core, which pyproject.toml keeps
    below 2 (not Fusion); both overrides are of dagster-dbt 0.29.27, which pyproject.toml pins."""

    @cached_property
    def _cli_version(self) -> Version:
        return DBT_CORE_VERSION  # dagster-dbt does not import dbt-core here (orchestration/internals.py)

    def _initialize_dbt_core_adapter(self, args: Any) -> None:
        return None


_PARTIAL_PARSE = "partial_parse.msgpack"
_MANIFEST = "manifest.json"
# The digest of what the last parse read (see _parse_inputs): the same inputs need no parse.
_PARSED_INPUTS = "parsed_inputs.sha256"
# The last few parses, by digest: going back to inputs parsed before (another installation's
# paths, the other engine) restores that parse instead of running dbt again.
_PARSE_CACHE = "parse-cache"
_PARSES_KEPT = 6
_NOT_PARSED = ("target", "logs", "dbt_packages")
# A run's window of arrival days (orchestration/dbt/assets.py): dbt renders it when it runs the
# models, and re-parses only the files that read it when it changes; not an input of a parse.
_PER_RUN = ("METERLINE_ARRIVAL_START", "METERLINE_ARRIVAL_END")


def _parse_inputs() -> str:
    """A digest of what a parse of the project depends on: each project file (path, size,
    modification time), the dbt versions, and the environment variables dbt's profile and
    project may read (every ``METERLINE_*`` and ``DBT_*``: the profile holds the warehouse path
    and the engine). A digest, not the values: a ``DBT_ENV_SECRET_*`` is never written down."""
    # Not descending into target/, which holds a folder of dbt artifacts per run.
    tops = [top for top in DBT_PROJECT_DIR.iterdir() if top.name not in _NOT_PARSED]
    paths = [path for top in tops for path in (top.rglob("*") if top.is_dir() else [top]) if path.is_file()]
    files = sorted(
        (str(path.relative_to(DBT_PROJECT_DIR)), path.stat().st_size, path.stat().st_mtime_ns) for path in paths
    )
    versions = [importlib.metadata.version(package) for package in ("dbt-core", "dbt-duckdb")]
    environment = sorted(
        (key, value) for key, value in os.environ.items()
        if key.startswith(("METERLINE_", "DBT_")) and not key.startswith(_PER_RUN)
    )  # fmt: skip
    return hashlib.sha256(json.dumps([files, versions, environment]).encode()).hexdigest()


def prepare_manifest() -> None:
    """Parse the dbt project into target/manifest.json. The CLI and the tests call
    this before loading the definitions; on import (below) under ``dagster dev``, or when there is
    no manifest yet.

    A parse whose inputs (:func:`_parse_inputs`) are those of the last parse is skipped: dbt
    would only confirm that nothing changed, ~3 s a command. Inputs parsed before (kept in
    ``target/parse-cache/<digest>/``, the last few) are restored from there: a full parse takes
    ~8 s, and dbt's partial parse starts over whenever the profile's paths change. Each parse or
    restore writes into a scratch folder and the finished files replace the old ones by rename:
    a process loading the definitions meanwhile (a concurrent ``meterline`` command, a run)
    never reads half a file."""
    target = Path(meterline_dbt.manifest_path).parent
    digest = _parse_inputs()
    parsed = target / _PARSED_INPUTS
    with contextlib.suppress(OSError):  # no digest yet: parse
        if meterline_dbt.manifest_path.exists() and (target / _PARTIAL_PARSE).exists() and parsed.read_text() == digest:
            return
    target.mkdir(parents=True, exist_ok=True)
    cached = target / _PARSE_CACHE / digest
    with tempfile.TemporaryDirectory(prefix="parse-", dir=target) as scratch:
        if not _restore_parse(cached, Path(scratch)):
            _parse(Path(scratch), target)
            _keep_parse(Path(scratch), target / _PARSE_CACHE, digest)
        (Path(scratch) / _PARSED_INPUTS).write_text(digest)
        os.replace(Path(scratch) / _PARTIAL_PARSE, target / _PARTIAL_PARSE)
        os.replace(Path(scratch) / _MANIFEST, meterline_dbt.manifest_path)
        os.replace(Path(scratch) / _PARSED_INPUTS, parsed)


def _parse(scratch: Path, target: Path) -> None:
    """``dbt parse`` into ``scratch``, from the last parse's state when there is one."""
    if (target / _PARTIAL_PARSE).exists():  # lets dbt re-parse only what changed
        shutil.copy2(target / _PARTIAL_PARSE, scratch / _PARTIAL_PARSE)
    # dbt itself, not DbtCliResource.cli: that also starts a dbt adapter in this process
    # and asks dbt its version, ~5 s a parse does not need.
    parse = subprocess.run(
        [DBT_EXECUTABLE, "--quiet", "parse", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(scratch), "--log-path", str(scratch)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if parse.returncode != 0:
        raise RuntimeError(f"dbt parse of {DBT_PROJECT_DIR} failed:\n{parse.stdout}{parse.stderr}")


def _restore_parse(cached: Path, scratch: Path) -> bool:
    """Copy a cached parse into ``scratch``; False when there is none (or another process just
    dropped it from the cache)."""
    try:
        for name in (_MANIFEST, _PARTIAL_PARSE):
            shutil.copy2(cached / name, scratch / name)
        os.utime(cached)  # recently used: kept longest
    except OSError:
        return False
    return True


def _keep_parse(scratch: Path, cache: Path, digest: str) -> None:
    """Copy a finished parse into the cache (renamed into place whole), keeping the newest few."""
    cache.mkdir(exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=cache))
    for name in (_MANIFEST, _PARTIAL_PARSE):
        shutil.copy2(scratch / name, incoming / name)
    with contextlib.suppress(OSError):  # another process kept the same parse first
        os.rename(incoming, cache / digest)
    shutil.rmtree(incoming, ignore_errors=True)
    kept = sorted((p for p in cache.iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime)
    for old in kept[:-_PARSES_KEPT]:
        shutil.rmtree(old, ignore_errors=True)


# Before orchestration.dbt.assets reads the manifest: a fresh clone or a new wheel has none yet,
# and a deployment may start dagster-webserver, dagster-daemon or a code server before any CLI.
if using_dagster_dev() or not meterline_dbt.manifest_path.exists():
    prepare_manifest()
