from setuptools import find_packages, setup

setup(
    name="sleeper",
    version="1.0",
    packages=find_packages(),
    entry_points={"scrapy": ["settings = sleeper.settings"]},
)
