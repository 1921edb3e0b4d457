"""Egg build for scrapyd-deploy (metadata and the ``scrapy`` entry point are in pyproject.toml).

scrapyd runs jobs from the uploaded egg, away from this checkout, so the build
also copies config/*.json into the package (``christmas_spiders/_config``):
christmas_spiders.config falls back to those copies when no config/ folder is
found in the job's working directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConfig(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "christmas_spiders" / "_config"
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(Path(__file__).parent.joinpath("config").glob("*.json")):
            shutil.copy(source, target / source.name)


setup(cmdclass={"build_py": BuildPyWithConfig}, zip_safe=True)
