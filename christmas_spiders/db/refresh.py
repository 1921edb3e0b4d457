"""What a refresh crawl re-reads: stored products, selected in the database.

``-a stale_hours=N``: every product of the vendor not synced for N hours (not the
delisted ones: their pages are gone), with the release year stored for it, so the
crawl goes straight to the product pages without walking the year pages.
``-a product_url=URL`` without ``release_year=``: the stored product's year.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import Engine, text


def stale_products(engine: Engine, vendor: str, hours: float) -> list[tuple[str, int]]:
    """(link, release_year) of ``vendor``'s products last synced more than ``hours`` ago."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT link, release_year FROM products WHERE vendor = :vendor "
                "AND availability <> 'delisted' "
                "AND last_synced_at < now() - make_interval(secs => :seconds) "
                "ORDER BY last_synced_at, link"
            ),
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
