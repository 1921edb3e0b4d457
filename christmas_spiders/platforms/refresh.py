"""Refresh crawls (``-a mode=refresh``): which listed products' pages to read again.

A refresh walks the year index and every listing page as a full crawl does, but reads
a product page only where the listing tile, the stored row or the row's age says the
stored state may be out of date. A tile's stock is compared with what the same tile
said at the previous listing read (``products.listed_sold_out``): a stock change that
no tile shows is left to the stale read. What it stores still comes from product pages: a
tile only decides which pages are read (docs/shops.md, "Listing prices and
refresh crawls").

A row stored ``unknown`` (stock wording no rule knew) is read again only when the
crawl's wording now reads the stored ``stock_text`` as in or out of stock (the phrase
was mapped since), or where no wording is stored (a row from before the column, an
unknown stock flag, a page that showed no stock at all). Otherwise its page, unchanged,
would say the same unknown phrase: such a row is judged by its tile like any other, its
tile's stock compared with the same tile at the previous listing read
(docs/decisions/unknown-stock-refresh.md).

:func:`decide` is the whole rule, pure: a :class:`ListingTile`, the stored row (or
None), whether the row is among the refresh's stale picks and the crawl's stock
classification (the spider's ``parse_availability``) -> a :class:`Decision` whose
``reason`` the spider counts in ``christmas/refresh/<reason>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from christmas_spiders.db.refresh import StoredProduct
from christmas_spiders.parsing.availability import IN_STOCK, OUT_OF_STOCK, availability_from_text

FULL = "full"
REFRESH = "refresh"
MODES: tuple[str, ...] = (FULL, REFRESH)

UNKNOWN = "unknown"
DELISTED = "delisted"

# Reasons a refresh reads a product page, in the order they are judged.
NEW = "new"  # not stored
RELISTED = "relisted"  # stored as delisted, listed again
# Stored unknown, and the crawl's wording now reads the stored stock text otherwise (or
# none is stored).
UNKNOWN_AVAILABILITY = "unknown_availability"
NO_TILE_PRICE = "no_tile_price"  # the tile holds no readable price: may have changed
PRICE_CHANGED = "price_changed"  # the tile's price is not the stored price
# The tile says sold out, the row says in stock (stored unknown: the tile did not say
# sold out at the previous listing read).
SOLD_OUT = "sold_out"
# The tile no longer says sold out but did at the previous listing read (where none was
# remembered: the tile says nothing of stock while the row says out of stock).
BACK_IN_STOCK = "back_in_stock"
STALE = "stale"  # among the oldest rows not read for crawl.max_product_age_hours
READ_REASONS: tuple[str, ...] = (
    NEW,
    RELISTED,
    UNKNOWN_AVAILABILITY,
    NO_TILE_PRICE,
    PRICE_CHANGED,
    SOLD_OUT,
    BACK_IN_STOCK,
    STALE,
)
# The one reason a listed product's page is not read.
UNCHANGED = "unchanged"
STATS_PREFIX = "christmas/refresh/"


@dataclass(frozen=True, slots=True)
class ListingTile:
    """One product tile of a listing page, as the spider read it.

    ``price``: the price a buyer pays (struck "was" amounts left out), None where the
    tile holds no readable price. ``sold_out``: True where the tile says sold out / out
    of stock, False where the shop's tiles show stock and this one says nothing of it,
    None where the shop's tiles never show stock.
    """

    href: str
    price: Decimal | None = None
    sold_out: bool | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    read: bool
    reason: str


def decide(
    tile: ListingTile,
    stored: StoredProduct | None,
    stale: bool = False,
    classify: Callable[[str], str] = availability_from_text,
) -> Decision:
    """Whether a refresh reads the product page of ``tile`` (see the module docstring);
    ``classify``: the crawl's reading of a stock text (``in_stock`` / ``out_of_stock`` /
    ``unknown``), by default the built-in phrases."""
    if stored is None:
        return Decision(True, NEW)
    if stored.availability == DELISTED:
        return Decision(True, RELISTED)
    if stored.availability == UNKNOWN and (
        stored.stock_text is None or classify(stored.stock_text) != UNKNOWN
    ):
        return Decision(True, UNKNOWN_AVAILABILITY)
    if tile.price is None:
        return Decision(True, NO_TILE_PRICE)
    if tile.price != stored.price:
        return Decision(True, PRICE_CHANGED)
    if tile.sold_out is True and (
        stored.availability == IN_STOCK
        # Stored unknown: the tile is all there is to compare with.
        or (stored.availability == UNKNOWN and stored.listed_sold_out is not True)
    ):
        return Decision(True, SOLD_OUT)
    if tile.sold_out is False and (
        stored.listed_sold_out is True
        # Nothing remembered yet (a row stored before the tile's stock was): compared
        # with the row. A product stored out of stock whose tile never said sold out
        # (a backorder: orderable, so no sold-out word) is not read again for it.
        or (stored.listed_sold_out is None and stored.availability == OUT_OF_STOCK)
    ):
        return Decision(True, BACK_IN_STOCK)
    if stale:
        return Decision(True, STALE)
    return Decision(False, UNCHANGED)
