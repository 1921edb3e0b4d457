"""The exact items a correct crawl of a replica yields, and the pages it must drop.

``ground_truth(catalogue, vendor, base_url, day)`` lists one item per product page
reachable from a year page (a product listed twice, or under a sub-category and under
view-all, once), with the fields of ``christmas_spiders.items.ProductItem`` normalised
as docs/shops.md says, sorted by link. Malformed product pages are left out
and counted by ``expected_drops``; pages that only non-year entries (``Vintage``,
accessories) list are not in either.

With ``faults`` (the same value given to ``serve_replicas``), product pages that always
fail (``permanent_error``) are left out too: a correct crawl counts them as failures; so
are products whose only tile link fault ``tile_links`` withholds (no page lists them).

Every item carries ``was_price`` (the struck / retail price the page shows, null where
none; always null on hallmark_ornaments) and ``stock_text`` (the stock wording the page
shows; null on ornament_shop and hallmark_ornaments, whose stock comes from structured
data). A catalogue generated with
``live_variants=True`` (the default) also gives ``availability`` ``unknown`` for stock
phrases no rule knows, and drops its pages whose two price sources disagree
(``price_conflict``).

``listing_tiles(catalogue, vendor, base_url, day)`` says what each listing tile shows
that day (price, stock word), so a refresh test can work out which product pages a
refresh crawl must read again; ``changed_tiles`` lists those between two days.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from replicas.catalogue import Catalogue, malformed_counts
from replicas.faults import FaultConfig, parse_faults, permanent_error_paths, unlisted_by_faults


def origin_of(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"base_url must be an http(s) origin like http://127.0.0.1:8000, got {base_url!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def ground_truth(
    catalogue: Catalogue,
    vendor: str,
    base_url: str,
    day: int = 1,
    faults: FaultConfig | dict[str, float] | str | None = None,
) -> list[dict[str, object]]:
    if vendor not in catalogue.shops:
        raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(catalogue.shops)}")
    origin = origin_of(base_url)
    shop = catalogue.shops[vendor]
    config = parse_faults(faults)
    failing = permanent_error_paths(catalogue, vendor, config)
    unlisted = unlisted_by_faults(catalogue, vendor, config)
    items: list[dict[str, object]] = []
    for vendor_id, year in shop.year_of().items():
        listing = shop.listings[vendor_id]
        if listing.malformed is not None or listing.path in failing or vendor_id in unlisted:
            continue
        state = catalogue.state(listing, day)
        item: dict[str, object] = {
            "vendor": vendor,
            "vendor_id": listing.vendor_id,
            "sku": listing.sku,
            "name": listing.name,
            "price": f"{state.price:.2f}",
            "currency": "USD",
            "brand": listing.brand,
            "availability": state.availability,
            "release_year": year,
            "link": origin + listing.path,
        }
        # The struck / retail price beside the price; hallmark_ornaments' is not read.
        shown = state.was_price if vendor != "hallmark_ornaments" else None
        item["was_price"] = None if shown is None else f"{shown:.2f}"
        # The page's stock wording; the other two shops' stock is a structured flag
        # (BCData's instock, _3d_item's availability), so they keep none.
        item["stock_text"] = state.stock_text if vendor == "hookedonhallmark" else None
        items.append(item)
    items.sort(key=lambda item: str(item["link"]))
    return items


@dataclass(frozen=True, slots=True)
class TileView:
    """A listing tile as a spider reads it: ``price`` a 2-place decimal string or None
    (no readable price), ``stock`` the stock word the tile shows or None."""

    price: str | None
    stock: str | None


def listing_tiles(
    catalogue: Catalogue, vendor: str, base_url: str, day: int = 1
) -> dict[str, TileView]:
    """``{product link: TileView}`` for every product a year page lists (malformed ones
    included: their tiles are listed like any other), as the tiles show it on ``day``."""
    if vendor not in catalogue.shops:
        raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(catalogue.shops)}")
    origin = origin_of(base_url)
    shop = catalogue.shops[vendor]
    views = {}
    for vendor_id in sorted(shop.reachable_vendor_ids()):
        listing = shop.listings[vendor_id]
        tile = catalogue.tile(listing, day)
        price = None if tile.price is None else f"{tile.price:.2f}"
        views[origin + listing.path] = TileView(price, tile.stock)
    return dict(sorted(views.items()))


def changed_tiles(
    catalogue: Catalogue, vendor: str, base_url: str, before: int, after: int
) -> set[str]:
    """Links whose tile on day ``after`` differs from day ``before`` or shows no readable
    price: the product pages a refresh crawl that trusts the tiles must read again. A
    stock flip on a shop whose tiles show no stock is not among them."""
    old = listing_tiles(catalogue, vendor, base_url, before)
    new = listing_tiles(catalogue, vendor, base_url, after)
    return {link for link, tile in new.items() if tile.price is None or old.get(link) != tile}


def expected_drops(catalogue: Catalogue, vendor: str) -> dict[str, int]:
    """Malformed product pages a correct crawl reaches, counted per drop reason."""
    if vendor not in catalogue.shops:
        raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(catalogue.shops)}")
    return dict(sorted(malformed_counts(catalogue, vendor).items()))
