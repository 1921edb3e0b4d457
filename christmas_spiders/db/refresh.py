"""What a refresh crawl re-reads: stored products, selected in the database.

``-a mode=refresh``: the stored state of one listed year (:func:`stored_products_of_year`,
one query per year, however many listing pages it has), compared with the listing tiles
(christmas_spiders.platforms.refresh), and the oldest rows not read for
``crawl.max_product_age_hours`` (:func:`oldest_stale_links`, one query per refresh).
``-a stale_hours=N``: every product of the vendor not synced for N hours (not the
delisted ones: their pages are gone), with the release year stored for it, so the
crawl goes straight to the product pages without walking the year pages.
``-a product_url=URL`` without ``release_year=``: the stored product's year.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from sqlalchemy import Engine, text

# The vendor's products not read (synced) for :seconds, oldest first; not the delisted
# ones: their pages are gone. On the database's clock, the one last_synced_at is set by.
_STALE = (
    "WHERE vendor = :vendor AND availability <> 'delisted' "
    "AND last_synced_at < now() - make_interval(secs => :seconds) "
    "ORDER BY last_synced_at, link"
)


@dataclass(frozen=True, slots=True)
class StoredProduct:
    """What a refresh compares a listing tile with: the row's link, price and stock, what
    its tile said about stock at the last listing read (``listed_sold_out``; None where
    no listing that shows stock was read since the column exists), and the stock wording
    its page showed (``stock_text``; None where structured data gave the stock or the
    row was stored before the column)."""

    link: str
    price: Decimal
    availability: str
    listed_sold_out: bool | None = None
    stock_text: str | None = None


def stored_products_of_year(engine: Engine, vendor: str, year: int) -> dict[str, StoredProduct]:
    """``{link: StoredProduct}`` of ``vendor``'s products stored under ``year`` (delisted
    ones too: listed again, they are read again). A product listed under another year
    than its stored one is not found here, and so is read as new."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT link, price, availability, listed_sold_out, stock_text FROM products "
                "WHERE vendor = :vendor AND release_year = :year"
            ),
            {"vendor": vendor, "year": year},
        ).all()
    return {
        str(link): StoredProduct(str(link), price, str(state), listed, wording)
        for link, price, state, listed, wording in rows
    }


def oldest_stale_links(engine: Engine, vendor: str, hours: float, limit: int) -> set[str]:
    """Links of the ``limit`` products of ``vendor`` read longest ago, of those not read
    for ``hours`` (delisted ones left out: their pages are gone)."""
    if limit <= 0:
        return set()
    with engine.connect() as conn:
        links = conn.execute(
            text(f"SELECT link FROM products {_STALE} LIMIT :limit"),
            {"vendor": vendor, "seconds": hours * 3600, "limit": limit},
        ).scalars()
        return {str(link) for link in links}


def stale_products(engine: Engine, vendor: str, hours: float) -> list[tuple[str, int]]:
    """(link, release_year) of ``vendor``'s products last synced more than ``hours`` ago."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT link, release_year FROM products {_STALE}"),
            {"vendor": vendor, "seconds": hours * 3600},
        ).all()
    return [(str(link), int(year)) for link, year in rows]


def _path(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def stored_release_year(engine: Engine, vendor: str, link: str) -> int | None:
    """The release year stored for ``vendor``'s product at ``link`` (same path on any
    origin: a replica's port changes between runs), or None when it is not stored."""
    with engine.connect() as conn:
        year = conn.execute(
            text(
                "SELECT release_year FROM products WHERE vendor = :vendor AND link = :link "
                "UNION ALL "
                "SELECT release_year FROM products WHERE vendor = :vendor "
                "AND substring(link from '^https?://[^/]+(.*)$') = :path "
                "LIMIT 1"
            ),
            {"vendor": vendor, "link": link, "path": _path(link)},
        ).scalar()
    return int(year) if year is not None else None
