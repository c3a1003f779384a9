"""The wheel carries the dbt project: ``pip install .`` copies ``dbt_project/`` into the package
``meterline`` (as ``meterline/dbt_project/``), where meterline.settings finds it when the repo's
copy is not there. Everything else about the build is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# What dbt writes into the project (artifacts, logs, installed packages) is not part of it.
NOT_SHIPPED = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__")


class BuildWithDbtProject(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            source = Path(__file__).resolve().parent / "dbt_project"
            shutil.copytree(
                source, Path(self.build_lib) / "meterline" / "dbt_project", ignore=NOT_SHIPPED, dirs_exist_ok=True
            )


setup(cmdclass={"build_py": BuildWithDbtProject})
