"""Egg build for scrapyd-deploy (metadata and the ``scrapy`` entry point are in pyproject.toml).

scrapyd runs jobs from the uploaded egg, away from this checkout, so the build
also copies config/*.json into the package (``christmas_spiders/_config``):
christmas_spiders.config falls back to those copies when no config/ folder is
found in the job's working directory.

The project's install also carries the replica shops (``replicas``, for the demo,
the tests and the benchmarks); the egg scrapyd gets holds ``christmas_spiders`` alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_egg import bdist_egg
from setuptools.command.build_py import build_py

EGG_PACKAGE = "christmas_spiders"


class BuildPyWithConfig(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / EGG_PACKAGE / "_config"
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(Path(__file__).parent.joinpath("config").glob("*.json")):
            shutil.copy(source, target / source.name)


class BdistEggCrawlerOnly(bdist_egg):
    def finalize_options(self) -> None:
        # Before egg_info and build_py read the package list (both run after this).
        dist = self.distribution
        dist.packages = [name for name in dist.packages or [] if name.split(".")[0] == EGG_PACKAGE]
        super().finalize_options()


setup(
    cmdclass={"build_py": BuildPyWithConfig, "bdist_egg": BdistEggCrawlerOnly},
    zip_safe=True,
)
