"""Selenium pool benchmark: JS pages rendered per second by pool size, plain pages meanwhile.

    python -m bench selenium        # or: python -m bench.bench_selenium --pages 20 --pools 1,2,3

Serves pages whose content a script builds ``--delay`` ms after load (the test
site of tests/fixtures/selenium.py, in this process) and crawls ``--pages`` of
them plus as many plain pages, once per pool size, each crawl a real
``CrawlerProcess`` in a subprocess with the project's settings. Pool size 1 is
the baseline: one browser, one page at a time, as upstream scrapy-selenium
renders. Prints renders/s, the speed-up against that baseline, and when the
plain pages were done relative to the renders. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from tests.fixtures.selenium import PROJECT_ROOT, SiteState, make_handler


def _crawl(base_url: str, pages: int, delay_ms: int, pool: int, work: Path) -> dict[str, float]:
    requests = [
        {
            "id": f"js{pool}-{n}",
            "url": f"{base_url}/js/p{pool}-{n}?delay={delay_ms}",
            "selenium": True,
            "wait_css": "p.built",
        }
        for n in range(pages)
    ] + [{"id": f"plain{pool}-{n}", "url": f"{base_url}/plain/q{pool}-{n}"} for n in range(pages)]
    spec = work / f"spec{pool}.json"
    out = work / f"out{pool}.json"
    spec.write_text(json.dumps({"requests": requests, "settings": {"SELENIUM_POOL_SIZE": pool}}))
    browser_tmp = work / f"tmp{pool}"  # removed with ``work``
    browser_tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(browser_tmp)}
    subprocess.run(
        [sys.executable, "-m", "tests.fixtures.selenium_crawl", str(spec), str(out)],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    result = json.loads(out.read_text())
    items = result["items"]
    rendered = [i for i in items if i["rendered"] and i["built"]]
    plain = [i["received"] for i in items if not i["rendered"]]
    js_done = [i["received"] for i in rendered]
    stats = result["stats"]
    return {
        "pool": pool,
        "renders": stats.get("christmas/browser_renders", 0),
        "built": len(rendered),
        "driver_starts": stats.get("selenium/driver_starts", 0),
        "crawl_seconds": float(stats["elapsed_time_seconds"]),
        # From the first page parsed to the last render: the rendering itself.
        "render_window": max(js_done) - min(plain + js_done),
        "plain_done_after": max(plain) - min(plain + js_done),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20, help="JS pages (and plain pages)")
    parser.add_argument("--delay", type=int, default=300, help="ms until a page is ready")
    parser.add_argument("--pools", default="1,2,3", help="pool sizes to compare")
    options = parser.parse_args(argv)
    pools = [int(p) for p in options.pools.split(",")]
    if 1 not in pools:
        pools.insert(0, 1)  # the baseline
    state = SiteState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"{options.pages} JS pages (ready {options.delay} ms after load) + as many plain")
    print(f"cores: {os.cpu_count()}; baseline: pool size 1 (one browser, one page at a time)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="cs-bench-sel-") as work:
        for pool in pools:
            rows.append(_crawl(base_url, options.pages, options.delay, pool, Path(work)))
    server.shutdown()
    baseline = next(r for r in rows if r["pool"] == 1)
    print(
        f"{'pool':>4} {'renders':>7} {'starts':>6} {'crawl s':>8} {'render s':>8} "
        f"{'renders/s':>9} {'vs pool 1':>9} {'plain done at s':>15}"
    )
    for row in rows:
        rate = row["built"] / row["render_window"]
        base_rate = baseline["built"] / baseline["render_window"]
        print(
            f"{row['pool']:>4} {row['renders']:>7} {row['driver_starts']:>6} "
            f"{row['crawl_seconds']:>8.2f} {row['render_window']:>8.2f} {rate:>9.2f} "
            f"{rate / base_rate:>8.2f}x {row['plain_done_after']:>15.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
