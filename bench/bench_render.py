"""Cost of one browser render, by Chromium's command-line arguments.

    python -m bench render      # or: python -m bench.bench_render --add=ARG --drop=ARG

Serves the hallmark_ornaments replica (seed 1, 3,000 products: 54 JS year pages) from
a separate process, starts one driver as the middleware does (``ManagedDriver``, the
configured ``SELENIUM_DRIVER_ARGUMENTS``) and renders every year page in it as the
middleware does (navigate, wait in the page for the grid's links, read the document),
one after another. Reports wall ms per render and Chromium's CPU ms per render, per
process type (browser, renderer, GPU, utility, chromedriver), for:

* the configured arguments (the baseline), and
* a candidate: the same plus ``--add ARG`` and minus ``--drop ARG`` (each repeatable;
  default: ``--add=--disable-threaded-compositing``).

Rounds alternate between the two so that a noisy machine hurts both alike; the first
render of each driver (its start-up) is left out. Never run by the test suite.

Found with it (2026-11-26): ``--disable-threaded-compositing`` cuts Chromium's CPU per
render by ~20% (138.9 -> 110.6 ms) but makes screenshots hang (scrapy-selenium's
``screenshot=True``), so it is not configured; ``--num-raster-threads=1`` alone changes
nothing measurable.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from urllib.request import urlopen

import psutil

#: The candidate when none is given (see above).
DEFAULT_CANDIDATE = "--disable-threaded-compositing"


def _cpu_by_kind(driver: object) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for process in driver.process_tree():  # type: ignore[attr-defined]
        try:
            times = process.cpu_times()
            match = re.search(r"--type=(\S+)", " ".join(process.cmdline()))
        except psutil.Error:
            continue
        kind = match.group(1) if match else process.name()
        seconds[kind] += times.user + times.system
    return seconds


def _round(arguments: list[str], base: str, links: list[str]) -> tuple[float, dict[str, float]]:
    from scrapy.utils.project import get_project_settings
    from scrapy_selenium import SeleniumRequest

    from christmas_spiders.browser.driver import ManagedDriver
    from christmas_spiders.browser.pool import BrowserPool, RenderJob
    from christmas_spiders.browser.request import RenderOptions, element_present
    from christmas_spiders.browser.settings import BrowserSettings
    from christmas_spiders.spiders.hallmark_ornaments import HallmarkOrnamentsSpider

    settings = get_project_settings()
    settings.set("SELENIUM_DRIVER_ARGUMENTS", arguments)
    settings.set("SELENIUM_POOL_SIZE", 1)
    settings.set("SELENIUM_RETRY_TIMES", 0)
    settings.set("SELENIUM_FAIL_ON_WAIT_TIMEOUT", True)
    browser_settings = BrowserSettings.from_settings(settings)
    # The pool's own page routine, on a driver of our own: exactly what a crawl does per
    # JS page (load, wait in the page for the grid's links, read the document).
    pool = BrowserPool(browser_settings)
    wait_until = element_present(HallmarkOrnamentsSpider.year_page_wait_css)
    driver = ManagedDriver(browser_settings)
    try:

        def render(url: str) -> None:
            request = SeleniumRequest(url=url, wait_until=wait_until)
            options = RenderOptions.for_request(request, browser_settings)
            pool.render(driver, RenderJob(request, options, deliver=lambda _: None))

        render(base + links[0])  # start-up and first page: not counted
        cpu_before = _cpu_by_kind(driver)
        started = time.perf_counter()
        for link in links:
            render(base + link)
        wall = time.perf_counter() - started
        cpu_after = _cpu_by_kind(driver)
    finally:
        driver.quit()
    per_kind = {
        kind: 1000 * (cpu_after[kind] - cpu_before.get(kind, 0.0)) / len(links)
        for kind in cpu_after
    }
    return 1000 * wall / len(links), per_kind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant")
    parser.add_argument("--add", action="append", default=[], help="argument to add")
    parser.add_argument("--drop", action="append", default=[], help="argument to drop")
    options = parser.parse_args(argv)
    os.environ.setdefault("ENV", "replica")
    from scrapy.utils.project import get_project_settings

    from replicas.catalogue import generate_catalogue
    from replicas.server import serve_replicas

    configured = get_project_settings().getlist("SELENIUM_DRIVER_ARGUMENTS")
    if not options.add and not options.drop:
        options.add = [DEFAULT_CANDIDATE]
    candidate = [a for a in configured if a not in options.drop] + options.add
    variants = {"configured": configured, "candidate": candidate}
    print("configured (baseline):", " ".join(configured))
    print("candidate:            ", " ".join(candidate))
    catalogue = generate_catalogue(seed=1, products_per_shop=3000)
    results: dict[str, list[tuple[float, dict[str, float]]]] = {name: [] for name in variants}
    with serve_replicas(catalogue, in_process=False) as urls:
        base = urls["hallmark_ornaments"]
        with urlopen(base + "/Hallmark-Ornaments-By-Year_c_200.html", timeout=30) as response:
            index = response.read().decode()
        links = [
            link + "?viewall=1" for link in re.findall(r'href="(/\d{4}[^"]*_c_\d+\.html)"', index)
        ]
        print(f"{len(links)} year pages per round, {options.rounds} rounds per variant")
        for _ in range(options.rounds):
            for name, arguments in variants.items():
                results[name].append(_round(arguments, base, links))
    print()
    kinds = sorted({kind for runs in results.values() for _, cpu in runs for kind in cpu})
    header = f"{'variant':<11}{'wall ms/render':>15}{'CPU ms/render':>14}"
    print(header + "".join(f"{kind[:12]:>13}" for kind in kinds))
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(sum(c.values()) for _, c in runs)
        medians[name] = (wall, cpu)
        by_kind = [statistics.median(c.get(kind, 0.0) for _, c in runs) for kind in kinds]
        print(f"{name:<11}{wall:>15.1f}{cpu:>14.1f}" + "".join(f"{v:>13.1f}" for v in by_kind))
    (base_wall, base_cpu), (wall, cpu) = medians["configured"], medians["candidate"]
    print(
        f"\ncandidate vs configured (medians): wall {wall / base_wall - 1:+.0%}, "
        f"Chromium CPU {cpu / base_cpu - 1:+.0%} per render"
    )
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
