"""A minimal three-level shop (year index -> paginated year pages -> product pages).

It counts requests per path like the replicas' ``/__replica__/stats``, so the tests can
prove that no page was fetched twice, and can slow product pages (``delay``) and year
pages (``year_delay``) down so a worker can be killed, or Redis stopped, while such
pages are in flight. ``hold_products_until`` holds product pages until that many are
asked for at once: more than one worker's concurrency, so a second worker has joined
the crawl before the first can finish it alone.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PER_PAGE = 10


class TinyShop:
    def __init__(
        self,
        years: int = 3,
        products_per_year: int = 15,
        delay: float = 0.0,
        year_delay: float = 0.0,
        hold_products_until: int = 0,
        hold_timeout: float = 30.0,
    ) -> None:
        self.years = list(range(2001, 2001 + years))
        self.products_per_year = products_per_year
        self.delay = delay
        self.year_delay = year_delay
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.hold_products_until = hold_products_until
        self.hold_timeout = hold_timeout
        self.products_in_flight = 0
        self.crowd = threading.Condition()

    def product_ids(self, year: int) -> list[str]:
        return [f"{year}-{n:03d}" for n in range(1, self.products_per_year + 1)]

    def expected_items(self, base_url: str) -> list[dict[str, object]]:
        items = [
            {
                "vendor_id": pid,
                "name": f"Ornament {pid}",
                "price": f"{10 + int(pid[-3:])}.95",
                "release_year": year,
                "link": f"{base_url}/product/{pid}",
            }
            for year in self.years
            for pid in self.product_ids(year)
        ]
        return sorted(items, key=lambda item: str(item["link"]))

    def page(self, path: str, query: dict[str, list[str]]) -> str | None:
        if path == "/index":
            links = "".join(f'<li><a href="/year/{y}">{y} Ornaments</a></li>' for y in self.years)
            return f"<ul class='years'>{links}</ul>"
        if path.startswith("/year/"):
            year = int(path.rsplit("/", 1)[1])
            if self.year_delay:
                threading.Event().wait(self.year_delay)
            page = int(query.get("page", ["1"])[0])
            ids = self.product_ids(year)
            chunk = ids[(page - 1) * PER_PAGE : page * PER_PAGE]
            body = "".join(f'<a class="product" href="/product/{pid}">{pid}</a>' for pid in chunk)
            if page * PER_PAGE < len(ids):
                body += f'<a class="next" href="/year/{year}?page={page + 1}">next</a>'
            return body
        if path.startswith("/product/"):
            pid = path.rsplit("/", 1)[1]
            self.hold_product_page()
            if self.delay:
                threading.Event().wait(self.delay)
            return (
                f'<h1 class="name">Ornament {pid}</h1><span class="price">'
                f"{10 + int(pid[-3:])}.95</span><span class='year'>{pid[:4]}</span>"
            )
        return None

    def hold_product_page(self) -> None:
        """Wait until ``hold_products_until`` product pages are asked for at once.

        The hold then ends for good; past ``hold_timeout`` the page is served anyway, so
        a crawl no second worker joins still ends (and its test fails on what it finds).
        """
        if not self.hold_products_until:
            return
        with self.crowd:
            self.products_in_flight += 1
            if self.products_in_flight >= self.hold_products_until:
                self.hold_products_until = 0
                self.crowd.notify_all()
            else:
                self.crowd.wait_for(lambda: not self.hold_products_until, self.hold_timeout)
            self.products_in_flight -= 1


@contextmanager
def serve_tiny_shop(shop: TinyShop) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/__replica__/stats":
                with shop.lock:
                    body = json.dumps(dict(shop.counts))
            else:
                with shop.lock:
                    shop.counts[self.path] += 1
                page = shop.page(parts.path, parse_qs(parts.query))
                if page is None:
                    self.send_error(404)
                    return
                body = f"<html><body>{page}</body></html>"
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
