"""Incomplete year listings on the real parts: hallmark_ornaments' replica with a grid
whose tiles did not all get their links (fault ``tile_links``), its year pages rendered
by Chromium, a Postgres database of the test's own, ``scrapy crawl`` as a user runs it.

A year whose page lists fewer products than its count says, or whose browser wait timed
out, delists nothing of that year; the other years still delist what they no longer list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from christmas_spiders.db.verdicts import session_verdict
from replicas.crawling import CrawlResult, run_crawl
from replicas.faults import withheld_tile_links
from tests.fixtures.replica import RunningReplica
from tests.test_crawl_verdicts import insert_stored_product

VENDOR = "hallmark_ornaments"
SEED = 4
PRODUCTS = 120  # every year of the catalogue has a product from 108 on


def _crawl(replica: RunningReplica, out: Path, database_url: str, crawl_id: str) -> CrawlResult:
    return run_crawl(
        VENDOR,
        replica.urls[VENDOR],
        out,
        [f"crawl_id={crawl_id}"],
        [f"CHRISTMAS_DATABASE_URL={database_url}"],
        store=True,
        timeout=420,
    )


def _availability(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT link, availability FROM products")).all())


@dataclass
class Recrawl:
    """The second crawl of a stored shop, served with ``faults``."""

    result: CrawlResult
    base_url: str
    #: The year whose tiles lost links, and the links its page did not list.
    year: int
    unlisted: set[str]
    #: What the year page's product count says, and how many of its tiles got a link.
    says: int
    saw: int
    #: A stored product of another year the shop no longer lists.
    gone: str
    before: dict[str, str]
    after: dict[str, str]
    incomplete_years: dict[str, list[str]]


@pytest.fixture
def recrawl(
    replica_sites: Callable[..., RunningReplica],
    storage_engine: Engine,
    migrated_database_url: str,
    tmp_path: Path,
) -> Callable[[str], Recrawl]:
    def crawl_with(faults: str) -> Recrawl:
        clean = replica_sites(seed=SEED, products_per_shop=PRODUCTS)
        first = _crawl(clean, tmp_path / "clean", migrated_database_url, "clean")
        assert first.returncode == 0, first.log[-3000:]
        assert first.stat("christmas/verdict") == "passed"
        assert len(_availability(storage_engine)) == len(clean.truth(VENDOR))

        faulty = replica_sites(seed=SEED, products_per_shop=PRODUCTS, faults=faults)
        base = faulty.urls[VENDOR]
        ((category_id, hidden),) = withheld_tile_links(
            faulty.catalogue, VENDOR, faulty.faults
        ).items()
        shop = faulty.catalogue.shops[VENDOR]
        (year_page,) = (y for y in shop.years if y.category_id == category_id)
        year = year_page.year
        tiles = year_page.listing.vendor_ids()
        unlisted = {base + shop.listings[vendor_id].path for vendor_id in hidden}
        other_year = next(y.year for y in shop.years if y.year != year)
        gone = base + "/Gone-Ornament_p_999999.html"
        with storage_engine.begin() as conn:
            # The second replica serves on another port: move the stored links there.
            conn.execute(
                text("UPDATE products SET link = replace(link, :old, :new)"),
                {"old": clean.urls[VENDOR], "new": base},
            )
            # A product of a completely listed year that the shop no longer lists.
            insert_stored_product(conn, VENDOR, gone, other_year)
        before = _availability(storage_engine)
        assert unlisted <= set(before)
        result = _crawl(faulty, tmp_path / "faulty", migrated_database_url, "faulty")
        assert faulty.stats(VENDOR)["tile_links_withheld"] >= len(hidden)
        with storage_engine.connect() as conn:
            numbers = conn.execute(
                text("SELECT numbers FROM crawl_runs WHERE crawl_id = 'faulty'")
            ).scalar_one()
        return Recrawl(
            result,
            base,
            year,
            unlisted,
            len(tiles),
            sum(vendor_id not in hidden for vendor_id in tiles),
            gone,
            before,
            _availability(storage_engine),
            numbers["incomplete_years"],
        )

    return crawl_with


def _assert_only_the_gone_product_delisted(crawl: Recrawl, storage_engine: Engine) -> None:
    result = crawl.result
    assert result.returncode == 0, result.log[-3000:]
    assert result.stat("christmas/verdict") == "passed", result.stat("christmas/verdict_reason")
    # The unlisted products of the incomplete year keep their state...
    assert {link: crawl.after[link] for link in crawl.unlisted} == {
        link: crawl.before[link] for link in crawl.unlisted
    }
    # ...and the complete years still delist: the product no page lists any more.
    assert crawl.after.pop(crawl.gone) == "delisted"
    assert "delisted" not in crawl.after.values()
    assert result.stat("christmas/delisted") == 1
    with storage_engine.connect() as conn:
        verdict = session_verdict(conn, "faulty")
    assert (verdict.status, verdict.delisted) == ("passed", 1)


@pytest.mark.parametrize(
    ("faults", "reasons"),
    [
        # Half the year's tiles get no link: the browser wait (for one link) holds.
        ("tile_links=0.5", ["product_count_mismatch"]),
        # No tile gets its link: the wait for one (20 s) times out and the page is read
        # as rendered, "says N products, saw 0". Either reason alone keeps the year's
        # products (a timed-out wait on this grid also leaves its count unmatched).
        ("tile_links=1", ["browser_wait_timed_out", "product_count_mismatch"]),
    ],
    ids=["tiles_without_links", "browser_wait_timed_out"],
)
def test_an_incomplete_year_page_delists_nothing_of_that_year(
    recrawl: Callable[[str], Recrawl], storage_engine: Engine, faults: str, reasons: list[str]
) -> None:
    crawl = recrawl(faults)
    result = crawl.result
    _assert_only_the_gone_product_delisted(crawl, storage_engine)
    timed_out = "browser_wait_timed_out" in reasons
    assert (crawl.saw == 0) == timed_out and crawl.saw < crawl.says
    assert result.stat("selenium/wait_timeouts") == int(timed_out)
    for reason in reasons:
        assert result.stat(f"christmas/years/incomplete/{reason}") == 1
        assert f"year {crawl.year} listing incomplete ({reason})" in result.log
    assert result.stat("christmas/product_count_mismatch") == 1
    assert f"says {crawl.says} products, saw {crawl.saw}" in result.log
    assert crawl.incomplete_years == {str(crawl.year): reasons}
