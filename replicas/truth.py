"""The exact items a correct crawl of a replica yields, and the pages it must drop.

``ground_truth(catalogue, vendor, base_url, day)`` lists one item per product page
reachable from a year page (a product listed twice, or under a sub-category and under
view-all, once), with the fields of ``christmas_spiders.items.ProductItem`` normalised
as shared/vendor-sites.md says, sorted by link. Malformed product pages are left out
and counted by ``expected_drops``; pages that only non-year entries (``Vintage``,
accessories) list are not in either.

With ``faults`` (the same value given to ``serve_replicas``), product pages that always
fail (``permanent_error``) are left out too: a correct crawl counts them as failures.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from replicas.catalogue import Catalogue, malformed_counts
from replicas.faults import FaultConfig, parse_faults, permanent_error_paths


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
    failing = permanent_error_paths(catalogue, vendor, parse_faults(faults))
    items: list[dict[str, object]] = []
    for vendor_id, year in shop.year_of().items():
        listing = shop.listings[vendor_id]
        if listing.malformed is not None or listing.path in failing:
            continue
        state = catalogue.state(listing, day)
        items.append(
            {
                "vendor": vendor,
                "vendor_id": listing.vendor_id,
                "sku": listing.sku,
                "name": listing.name,
                "price": f"{state.price:.2f}",
                "currency": "USD",
                "brand": listing.brand,
                "availability": "in_stock" if state.in_stock else "out_of_stock",
                "release_year": year,
                "link": origin + listing.path,
            }
        )
    items.sort(key=lambda item: str(item["link"]))
    return items


def expected_drops(catalogue: Catalogue, vendor: str) -> dict[str, int]:
    """Malformed product pages a correct crawl reaches, counted per drop reason."""
    if vendor not in catalogue.shops:
        raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(catalogue.shops)}")
    return dict(sorted(malformed_counts(catalogue, vendor).items()))
