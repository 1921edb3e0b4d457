"""A seeded, Hallmark-like catalogue for the replica shops.

``generate_catalogue(seed, products_per_shop, malformed_ratio)`` builds the ornaments
(years 1973..2026, Hallmark-style skus), then, for each of the three shops, the listings
it carries (the same sku at several shops, each at its own price) and the layout of its
year pages (pagination, sub-categories with ``view-all``, non-year index entries,
tracking query strings on links). Everything is derived from ``random.Random(seed)``
and stable hashes, so one seed always gives the same shops, byte for byte.

Malformed product pages (``malformed_ratio``) are listed on their year page like any
other product, but their product page lacks something a spider needs. A correct spider
yields no item for them and counts them under one of these reasons (the names the
spiders report as ``christmas/dropped/<reason>``):

==================== ==============================================================
``missing_name``      the name element is empty (h1 / ``_3d_item.name``)
``missing_sku``       the sku element is empty (``#product_id`` / ``data-product-sku``
                      / ``_3d_item.id``)
``missing_price``     no price at all (no ``#price`` / no ``price--withoutTax`` /
                      ``_3d_item`` without ``price``)
``bad_price``         a price element whose text is not an amount (``Call for price``)
``missing_vendor_id`` the shop's product id is empty (first ``#add`` input / the
                      ``product_id`` input / ``_3d_item.catalogid``)
``bad_product_data``  hallmark_ornaments only: the ``_3d_item`` JSON does not parse
==================== ==============================================================

Live variants (``live_variants=True``, on by default: ``LIVE_VARIANTS_DEFAULT``) add the
live shops' looser pages on top of the same catalogue (the same products, prices and
stock; every variant is drawn from stable hashes, not from the generator's random
stream): hookedonhallmark's longer and differently cased stock wording, a few stock
phrases no rule knows (availability ``unknown``) and ``view-all`` links above paginated
grids; ornament_shop's extra ``dl.productView-info`` rows in varying order, pages without
an ``Availability:`` row and merchant free text in it (stock comes from ``BCData``);
hallmark_ornaments' ``_3d_item`` after other ``<head>`` scripts; and a few pages on
ornament_shop and hallmark_ornaments whose two price sources disagree (drop reason
``price_conflict``). With it on, the truth's items carry ``was_price``.

Listing tiles (always): ``Catalogue.tile(listing, day)`` is what a listing tile shows,
price and stock word, moving with the product pages.

Day changes: ``Catalogue.state(listing, day)`` gives a listing's price, "was" price and
stock on a given day. Day 1 is the generated state; on any later day a few percent of
the listings have another price and a few percent flip stock, decided per (listing,
day) by a stable hash, so ``day=2`` always differs from ``day=1`` in the same way.
"""

from __future__ import annotations

import functools
import hashlib
import html
import itertools
import math
import operator
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal

from christmas_spiders.config import ProjectConfig

VENDORS: tuple[str, ...] = ("hookedonhallmark", "ornament_shop", "hallmark_ornaments")
FIRST_YEAR = 1973
# Fixed (not today's year) so that a seed gives the same catalogue in every year.
LAST_YEAR = 2026

DROP_REASONS: tuple[str, ...] = (
    "missing_name",
    "missing_sku",
    "missing_price",
    "bad_price",
    "missing_vendor_id",
    "bad_product_data",
)
# bad_product_data needs the JSON product data only hallmark_ornaments has.
DROP_REASONS_BY_VENDOR: dict[str, tuple[str, ...]] = {
    "hookedonhallmark": DROP_REASONS[:5],
    "ornament_shop": DROP_REASONS[:5],
    "hallmark_ornaments": DROP_REASONS,
}

# Share of listings whose price / stock moves on a day after day 1.
PRICE_MOVE_RATIO = 0.04
STOCK_FLIP_RATIO = 0.02

# The one switch of the live shops' page variants (module docstring); the replicas'
# callers (fixture, command line, demo) take their default from here. On: the spiders
# read the live shops' pages as they are (vendor-sites.md).
LIVE_VARIANTS_DEFAULT = True
PRICE_CONFLICT = "price_conflict"
# Live variants: share of pages whose two price sources disagree (ornament_shop,
# hallmark_ornaments), and of hookedonhallmark pages with a stock phrase no rule knows.
PRICE_CONFLICT_RATIO = 0.005
UNKNOWN_STOCK_RATIO = 0.03
MONITORS = ProjectConfig().monitors
UNKNOWN_STOCK_PHRASES: tuple[str, ...] = (
    "Backordered",
    "Pre-order",
    "Backordered - Ships in 2-3 Weeks",
    "Pre-Order Now",
)
# Share of listing tiles (every catalogue) whose price cannot be read.
TILE_NO_PRICE_RATIO = 0.03
IN_STOCK, OUT_OF_STOCK, UNKNOWN = "in_stock", "out_of_stock", "unknown"

CENT = Decimal("0.01")

SERIES: tuple[str, ...] = (
    "Frosty Friends",
    "Here Comes Santa",
    "Snoopy and Friends",
    "Star Wars™",
    "Nostalgic Houses and Shops",
    "Rocking Horse",
    "Holiday Barbie™",
    "Mr. & Mrs. Claus",
    "Christmas Windows",
    "Betsey Clark",
    "Thomas Kinkade",
    "Peanuts®",
    "Crayola® Crayon",
    "Mickey's Holiday Parade",
    "Santa's Workshop",
    "Père Noël",
    "Snow Buddies",
    "Toymaker Santa",
    "Kiddie Car Classics",
    "Lionel® Trains",
    "Marvel",
    "Harry Potter™",
    "Dr. Seuss's The Grinch",
    "Rudolph the Red-Nosed Reindeer®",
    "Cookie Jar Friends",
    "Fabulous Decade",
    "Mischievous Kittens",
    "A Pony for Christmas",
    "Puppy Love",
    "Sky's the Limit",
    "Merry Olde Santa",
    "Yuletide Central",
    "Hockey Greats",
    "At the Ballpark",
    "Spotlight on Snoopy",
    "Christmas Visitors",
    "Café Noël",
    "Tom & Jerry™",
    "Disney Mickey & Minnie",
    "Jingle Pals",
)
SUBJECTS: tuple[str, ...] = (
    "Santa's Sleigh",
    "Polar Bear Pals",
    "Gingerbread House",
    "Ice Fishing",
    "Cookie Exchange",
    "Snowman's Workshop",
    "Christmas Café",
    "Holiday Piñata",
    "Reindeer Games",
    "Hot Cocoa Break",
    "Skating Party",
    "Star of Bethlehem",
    "Angel of Light",
    "Candy Cane Lane",
    "Toy Shop",
    "Sleigh Ride",
    "Nutcracker Suite",
    "Baby's First Christmas",
    "Our First Christmas Together",
    "Grandma & Grandpa",
    "Little Drummer Boy",
    "Winter Fun",
    "Jolly Old Elf",
    "Noël Bells",
    "Silent Night",
    "Deck the Halls",
    "Fa-La-La Flamingo",
    "North Pole Express",
    "Frosty Ride",
    "Christmas Cardinal",
    "Penguin Parade",
    "Elf on Duty",
    "Peppermint Twist",
    "Snow Day",
    "Mistletoe Kiss",
)
# (prefix, first year it is used, weight)
SKU_PREFIXES: tuple[tuple[str, int, int], ...] = (
    ("QX", 1973, 10),
    ("QLX", 1984, 2),
    ("QXC", 1987, 1),
    ("QXM", 1988, 3),
    ("QXI", 1994, 3),
    ("QXD", 1996, 2),
    ("QXE", 1998, 1),
    ("QXR", 2003, 2),
    ("QXG", 2010, 2),
    ("QXP", 1990, 1),
    ("QXB", 1994, 1),
    ("QXK", 1995, 1),
    ("QHX", 2005, 1),
    ("QXT", 2008, 1),
    ("QXW", 2012, 1),
)

HOH_STOCK_IN = ("In Stock",)
HOH_STOCK_OUT = ("Out of Stock", "Sold Out")
BC_STOCK_OUT = ("Out of Stock", "Sold Out")
# Live wording: in the case the live shop uses, and in upper and lower case.
HOH_LIVE_IN = "In Stock - Ships Next Business Day"
HOH_LIVE_OUT = ("Out of Stock", "Sold Out", "SOLD OUT", "out of stock")
# ornament_shop's Availability: row is the merchant's free text; BCData holds the stock.
BC_LIVE_IN = ("In Stock", "Usually ships in 1-2 business days", "IN STOCK")
BC_LIVE_OUT = ("Out of Stock", "Sold Out", "Temporarily unavailable")


@dataclass(frozen=True, slots=True)
class Ornament:
    """One Hallmark product: the same ornament may be carried by several shops."""

    sku: str
    name: str
    year: int
    series: str | None
    value: Decimal  # market value the shops price around

    def __reduce__(self) -> tuple[type[Ornament], tuple[object, ...]]:
        return (Ornament, (self.sku, self.name, self.year, self.series, self.value))


@dataclass(slots=True)
class Listing:
    """One product page of one shop."""

    vendor: str
    vendor_id: str
    sku: str  # canonical (QX5257)
    name: str  # canonical: what an item's name must be
    year: int | None  # None: listed only on non-year pages (not in the ground truth)
    path: str
    price: Decimal  # day 1: the price a buyer pays
    was_price: Decimal | None  # day 1: a struck "was"/retail price, when on sale
    in_stock: bool  # day 1
    stock_text: str  # day 1, as the page shows it
    sku_shown: str  # as the page shows it (qx 5257)
    name_html: str  # as the page source holds it (entities, white space runs)
    vendor_id_shown: str  # as the page source holds it (may have blanks around)
    brand_shown: str | None = None  # ornament_shop: Brand row; None = no Brand row
    price_as_string: bool = False  # hallmark_ornaments: _3d_item price is "24.95"
    malformed: str | None = None  # a drop reason, or None for a good page
    key: str = ""  # stable id for hashes
    # Live variants: a stock phrase no rule knows, shown every day (availability unknown).
    stock_phrase: str | None = None

    @property
    def brand(self) -> str:
        return self.brand_shown or "Hallmark"

    def __reduce__(self) -> tuple[type[Listing], tuple[object, ...]]:
        # Positional fields pickle twice as fast as the dataclass default: a 20,000-product
        # catalogue goes to the server process (serve_replicas(in_process=False)) as a pickle.
        return (Listing, _listing_fields(self))


_listing_fields = operator.attrgetter(*(f.name for f in fields(Listing)))


@dataclass(frozen=True, slots=True)
class DayState:
    price: Decimal
    was_price: Decimal | None
    in_stock: bool
    stock_text: str
    availability: str  # what an item says: in_stock, out_of_stock or unknown


@dataclass(frozen=True, slots=True)
class Tile:
    """What one listing tile shows on a day: the price a buyer pays (None where the tile
    holds no readable price) and a stock word (None where the tile shows none)."""

    price: Decimal | None
    was_price: Decimal | None
    stock: str | None
    # How an unreadable price looks: "" no price element at all, else the element's text.
    unreadable_text: str = ""


@dataclass(slots=True)
class ListingPages:
    """A listing (year page, sub-category or view-all) split into pages of vendor ids."""

    path: str
    pages: list[list[str]]
    tracking: bool = False  # product links carry ``?ref=year#top``
    next_text: str = "Next »"

    def vendor_ids(self) -> list[str]:
        return [vendor_id for page in self.pages for vendor_id in page]


@dataclass(slots=True)
class SubCategory:
    title: str
    listing: ListingPages


@dataclass(slots=True)
class YearPage:
    year: int
    path: str
    listing: ListingPages  # products shown on the year page itself (empty with sub-categories)
    index_label: str  # text of the index entry (span text or img alt)
    index_uses_img: bool = False  # hookedonhallmark: an img alt instead of a span
    sub_categories: list[SubCategory] = field(default_factory=list)
    category_id: int = 0  # hallmark_ornaments
    # hookedonhallmark live variant: every product of a paginated year on one page,
    # linked above the grid of the year page.
    view_all: ListingPages | None = None

    def vendor_ids(self) -> set[str]:
        found = set(self.listing.vendor_ids())
        for sub in self.sub_categories:
            found.update(sub.listing.vendor_ids())
        if self.view_all is not None:
            found.update(self.view_all.vendor_ids())
        return found


@dataclass(slots=True)
class OtherPage:
    """A non-year index entry (Vintage, Pre-1973, accessories): not a year page."""

    title: str
    path: str
    listing: ListingPages
    category_id: int = 0


@dataclass(slots=True)
class Shop:
    vendor: str
    index_path: str
    listings: dict[str, Listing]  # vendor_id -> listing
    years: list[YearPage]
    others: list[OtherPage]
    page_size: int
    by_path: dict[str, Listing] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_path = {listing.path: listing for listing in self.listings.values()}

    def reachable_vendor_ids(self) -> set[str]:
        """Vendor ids listed under some year page: what a correct crawl visits."""
        found: set[str] = set()
        for year_page in self.years:
            found |= year_page.vendor_ids()
        return found

    def year_of(self) -> dict[str, int]:
        years: dict[str, int] = {}
        for year_page in self.years:
            for vendor_id in year_page.vendor_ids():
                years[vendor_id] = year_page.year
        return years


@dataclass(slots=True)
class Catalogue:
    seed: int
    products_per_shop: int
    malformed_ratio: float
    ornaments: list[Ornament]
    shops: dict[str, Shop]
    live_variants: bool = False

    def state(self, listing: Listing, day: int = 1) -> DayState:
        """Price and stock of a listing on ``day`` (day 1: as generated)."""
        if day < 1:
            raise ValueError(f"day must be >= 1, got {day}")
        price, was, in_stock, stock_text = (
            listing.price,
            listing.was_price,
            listing.in_stock,
            listing.stock_text,
        )
        if day > 1:
            draw = _unit(self.seed, "price", listing.key, day)
            if draw < PRICE_MOVE_RATIO:
                # Between 0 and PRICE_MOVE_RATIO: spread it over a few kinds of move.
                kind = int(draw / PRICE_MOVE_RATIO * 4)
                if kind == 0 and was is None:  # a sale starts
                    was, price = price, _charm(price * Decimal("0.8"))
                elif kind == 1 and was is not None:  # the sale ends
                    price, was = was, None
                else:  # a plain price change up or down
                    factor = Decimal("1.10") if kind % 2 == 0 else Decimal("0.90")
                    price = _charm(price * factor)
                    if was is not None and was <= price:
                        was = None
            if _unit(self.seed, "stock", listing.key, day) < STOCK_FLIP_RATIO:
                in_stock = not in_stock
                stock_text = _stock_text_for(
                    listing.vendor, in_stock, listing.key, day, self.live_variants
                )
        availability = IN_STOCK if in_stock else OUT_OF_STOCK
        if listing.stock_phrase is not None:
            stock_text, availability = listing.stock_phrase, UNKNOWN
        return DayState(price, was, in_stock, stock_text, availability)

    def tile(self, listing: Listing, day: int = 1) -> Tile:
        """What the listing tile of ``listing`` shows on ``day``: the product page's price
        and, on the shops whose tiles show stock, the out-of-stock word (ornament_shop's
        tiles show none, so a stock flip there is invisible on the tile)."""
        state = self.state(listing, day)
        stock = (
            state.stock_text
            if listing.vendor != "ornament_shop" and state.availability == OUT_OF_STOCK
            else None
        )
        if listing.malformed in ("missing_price", "bad_price"):
            return Tile(None, None, stock, "Call for price")
        draw = _unit(self.seed, "tile-price", listing.key)
        if draw < TILE_NO_PRICE_RATIO:
            unreadable = "" if draw < TILE_NO_PRICE_RATIO / 2 else "See price in cart"
            return Tile(None, None, stock, unreadable)
        return Tile(state.price, state.was_price, stock)

    def retail_prices(self) -> list[tuple[str, int, Decimal]]:
        """``(sku, release_year, retail_price)`` of every ornament, sorted by sku: the
        original issue price, a few dollars in the 1970s rising to the twenties today
        (so below today's prices for old years, above them for some recent ones)."""
        rows = []
        for ornament in self.ornaments:
            base = Decimal("2.50") * Decimal("1.045") ** (ornament.year - FIRST_YEAR)
            factor = Decimal(str(round(0.7 + 0.8 * _unit(self.seed, "retail", ornament.sku), 3)))
            if ornament.sku.startswith("QXM"):
                factor *= Decimal("0.6")
            elif ornament.sku.startswith("QLX"):
                factor *= Decimal("1.6")
            rows.append((ornament.sku, ornament.year, _charm(base * factor)))
        rows.sort()
        return rows

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {
            "seed": self.seed,
            "ornaments": len(self.ornaments),
            "live_variants": self.live_variants,
        }
        for vendor, shop in self.shops.items():
            reachable = shop.reachable_vendor_ids()
            out[vendor] = {
                "listings": len(shop.listings),
                "reachable": len(reachable),
                "malformed": sum(1 for v in reachable if shop.listings[v].malformed),
                "years": len(shop.years),
            }
        return out


# -- helpers ---------------------------------------------------------------------------


def _unit(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for the given parts."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _stock_text_for(vendor: str, in_stock: bool, key: str, day: int, live: bool = False) -> str:
    draw = _unit("stock-text", key, day)
    if live:
        return _live_stock_text(vendor, in_stock, key, day, draw)
    if vendor == "hookedonhallmark":
        if in_stock:
            return "In Stock" if draw < 0.6 else f"Only {1 + int(draw * 10) % 5} left"
        return HOH_STOCK_OUT[int(draw * 2)]
    if vendor == "ornament_shop":
        return "In Stock" if in_stock else BC_STOCK_OUT[int(draw * 2)]
    return "In Stock" if in_stock else "Out of Stock"


def _live_stock_text(vendor: str, in_stock: bool, key: str, day: int, draw: float) -> str:
    if vendor == "hookedonhallmark":
        if not in_stock:
            return HOH_LIVE_OUT[int(draw * len(HOH_LIVE_OUT))]
        text = HOH_LIVE_IN if draw < 0.7 else f"Only {1 + int(draw * 10) % 5} left!"
        case = _unit("stock-case", key, day)
        return text.upper() if case < 0.1 else text.lower() if case < 0.2 else text
    if vendor == "ornament_shop":
        choices = BC_LIVE_IN if in_stock else BC_LIVE_OUT
        return choices[int(draw * len(choices))]
    return "In Stock" if in_stock else "Out of Stock"


def _charm(amount: Decimal) -> Decimal:
    """Round a price the way shops do: x.95, x.99 or x.00 (never below 1.95)."""
    whole = int(amount)
    cents = amount - whole
    if cents >= Decimal("0.97"):
        result = Decimal(whole) + Decimal("0.99")
    elif cents >= Decimal("0.5"):
        result = Decimal(whole) + Decimal("0.95")
    elif cents >= Decimal("0.2"):
        result = Decimal(whole) + Decimal("0.50")
    else:
        result = Decimal(whole)
    return max(result, Decimal("1.95")).quantize(CENT, rounding=ROUND_HALF_UP)


@functools.cache
def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = []
    dash = False
    for char in ascii_text.lower():
        if char.isalnum():
            out.append(char)
            dash = False
        elif not dash:
            out.append("-")
            dash = True
    return "".join(out).strip("-") or "ornament"


def normalise_name(raw_html_text: str) -> str:
    """What an item's name is: entities decoded, white space folded, stripped."""
    return " ".join(html.unescape(raw_html_text).split())


def _name_html(name: str, rng: random.Random) -> str:
    """The page source of a name: HTML-escaped, sometimes with named/numeric entities
    for ™ and é and with runs of white space the spider must fold."""
    text = html.escape(name, quote=False)
    if "™" in text and rng.random() < 0.5:
        text = text.replace("™", rng.choice(("&trade;", "&#8482;")))
    if "é" in text and rng.random() < 0.5:
        text = text.replace("é", rng.choice(("&eacute;", "&#233;")))
    if "'" in text and rng.random() < 0.3:
        text = text.replace("'", "&#39;")
    if rng.random() < 0.15 and " " in text:
        text = text.replace(" ", rng.choice(("  ", "\n      ", " \t ")), 1)
    if rng.random() < 0.1:
        text = f"\n    {text}  "
    return text


def _sku_shown(sku: str, rng: random.Random) -> str:
    draw = rng.random()
    if draw < 0.06:
        letters = sku.rstrip("0123456789")
        return f"{letters.lower()} {sku[len(letters) :]}"
    if draw < 0.09:
        return sku.lower()
    if draw < 0.12:
        letters = sku.rstrip("0123456789")
        return f" {letters} {sku[len(letters) :]} "
    return sku


def _make_ornaments(rng: random.Random, count: int) -> list[Ornament]:
    years = list(range(FIRST_YEAR, LAST_YEAR + 1))
    # Recent years have more products on resale shops than the 1970s.
    weights = [1.0 + (year - FIRST_YEAR) / 18 for year in years]
    chosen_years = list(years) if count >= 2 * len(years) else []
    chosen_years += rng.choices(years, weights=weights, k=count - len(chosen_years))
    used_skus: set[str] = set()
    ornaments: list[Ornament] = []
    prefixes_by_year = {
        year: (
            [p for p, first, _ in SKU_PREFIXES if year >= first],
            list(itertools.accumulate(w for _, first, w in SKU_PREFIXES if year >= first)),
        )
        for year in years
    }
    for index, year in enumerate(chosen_years):
        names, cum_weights = prefixes_by_year[year]
        for attempt in range(1000):
            # A crowded prefix (large catalogues) gives way to the others.
            if attempt < 20:
                prefix = rng.choices(names, cum_weights=cum_weights)[0]
            else:
                prefix = rng.choice(names)
            sku = f"{prefix}{rng.randrange(1000, 10000)}"
            if sku not in used_skus:
                used_skus.add(sku)
                break
        else:
            raise ValueError("catalogue too large: Hallmark-style skus ran out")
        series = rng.choice(SERIES) if rng.random() < 0.6 else None
        subject = rng.choice(SUBJECTS)
        style = rng.random()
        if series is None:
            name = subject
        elif style < 0.35:
            name = f"{series}: {subject}"
        elif style < 0.6:
            name = f"{series} {year}"
        elif style < 0.8:
            name = f"{series} - {subject}"
        else:
            name = f"{subject} ({series} Series)"
        if prefix == "QXM":
            name = f"Miniature {name}"
        value = Decimal(str(round(rng.uniform(9.5, 45.0), 2)))
        if year < 1985:
            value *= Decimal(str(round(rng.uniform(1.5, 4.0), 2)))
        if rng.random() < 0.01 or index == 0:
            # The rare grail pieces: four-figure prices with a thousands separator.
            value = Decimal(rng.choice(("1299.00", "1049.95", "2500.00", "1150.00")))
        ornaments.append(Ornament(sku, name, year, series, _charm(value)))
    return ornaments


def _chunk(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)] or [[]]


def _paginate(
    ids: list[str], size: int, rng: random.Random, path: str, repeat: bool
) -> ListingPages:
    pages = _chunk(ids, size)
    if repeat and len(pages) > 1:
        # A product shown at the foot of one page and again at the head of the next:
        # shops re-sort between requests; the crawl must give it once.
        where = rng.randrange(len(pages) - 1)
        pages[where + 1].insert(0, pages[where][-1])
    return ListingPages(path=path, pages=pages)


# -- the shops -------------------------------------------------------------------------


def _vendor_ids(rng: random.Random, count: int, start: int) -> list[str]:
    return [str(n) for n in rng.sample(range(start, start + 4 * count + 50), count)]


def _make_listing(
    vendor: str,
    ornament: Ornament,
    vendor_id: str,
    rng: random.Random,
) -> Listing:
    shop_factor = Decimal(str(round(rng.uniform(0.85, 1.25), 3)))
    price = _charm(ornament.value * shop_factor)
    was: Decimal | None = None
    if rng.random() < 0.12:
        was = price
        price = _charm(price * Decimal(str(round(rng.uniform(0.6, 0.9), 2))))
        if price >= was:
            was = None
    key = f"{vendor}:{vendor_id}"
    in_stock = rng.random() < 0.78
    stock_text = _stock_text_for(vendor, in_stock, key, 1)
    slug = slugify(ornament.name)
    sku_lower = ornament.sku.lower()
    if vendor == "hookedonhallmark":
        path = f"/{ornament.year}-{slug}-{sku_lower}.html"
    elif vendor == "ornament_shop":
        path = f"/{slug}-{sku_lower}/"
    else:
        title_slug = "-".join(part.capitalize() for part in slug.split("-"))
        path = f"/{title_slug}_p_{vendor_id}.html"
    brand_shown: str | None = None
    if vendor == "ornament_shop":
        draw = rng.random()
        brand_shown = None if draw < 0.1 else ("Hallmark Keepsake" if draw < 0.3 else "Hallmark")
    vendor_id_shown = vendor_id
    if vendor == "hookedonhallmark" and rng.random() < 0.05:
        vendor_id_shown = f" {vendor_id} "
    return Listing(
        vendor=vendor,
        vendor_id=vendor_id,
        sku=ornament.sku,
        name=ornament.name,
        year=ornament.year,
        path=path,
        price=price,
        was_price=was,
        in_stock=in_stock,
        stock_text=stock_text,
        sku_shown=_sku_shown(ornament.sku, rng),
        name_html=_name_html(ornament.name, rng),
        vendor_id_shown=vendor_id_shown,
        brand_shown=brand_shown,
        price_as_string=vendor == "hallmark_ornaments" and rng.random() < 0.3,
        key=key,
    )


def _extras(rng: random.Random, used_skus: set[str]) -> list[Ornament]:
    """Products listed only on non-year pages (accessories, vintage): never in the truth."""
    names = ("Ornament Display Tree", "Keepsake Storage Box", "Vintage Glass Ball Set")
    out = []
    for index, name in enumerate(names):
        while True:
            sku = f"QHC{rng.randrange(1000, 10000)}"
            if sku not in used_skus:
                used_skus.add(sku)
                break
        out.append(Ornament(sku, name, FIRST_YEAR + index, None, Decimal("19.95")))
    return out


def _category_id(year: int) -> int:
    """hallmark_ornaments category ids: 3-digit, 4-digit from 2010 on (the year in a
    path is its first four-digit number, not the category id)."""
    return year - 1750 if year < 2010 else 1000 + year - 1750


def _build_shop(
    vendor: str,
    vendor_index: int,
    ornaments: list[Ornament],
    products_per_shop: int,
    malformed_ratio: float,
    rng: random.Random,
    used_skus: set[str],
) -> Shop:
    # One ornament of every year first (when there are enough), so no year page is empty.
    by_year_pool: dict[int, list[Ornament]] = {}
    for ornament in ornaments:
        by_year_pool.setdefault(ornament.year, []).append(ornament)
    carried: list[Ornament] = []
    if products_per_shop >= 2 * (LAST_YEAR - FIRST_YEAR + 1):
        carried = [rng.choice(pool) for _, pool in sorted(by_year_pool.items())]
    chosen = set(id(o) for o in carried)
    rest = [o for o in ornaments if id(o) not in chosen]
    carried += rng.sample(rest, products_per_shop - len(carried))
    carried.sort(key=lambda o: (o.year, o.sku))
    vendor_ids = _vendor_ids(rng, products_per_shop + 3, 1000 * (vendor_index + 1))
    listings: dict[str, Listing] = {}
    by_year: dict[int, list[str]] = {year: [] for year in range(FIRST_YEAR, LAST_YEAR + 1)}
    for ornament, vendor_id in zip(carried, vendor_ids, strict=False):
        listing = _make_listing(vendor, ornament, vendor_id, rng)
        listings[vendor_id] = listing
        by_year[ornament.year].append(vendor_id)
    for year_ids in by_year.values():
        rng.shuffle(year_ids)  # shops list in their own order, not by sku

    # Malformed pages: an exact share, reasons dealt round-robin so each one appears.
    reasons = DROP_REASONS_BY_VENDOR[vendor]
    malformed_count = round(malformed_ratio * products_per_shop)
    for n, vendor_id in enumerate(sorted(rng.sample(sorted(listings), malformed_count))):
        listings[vendor_id].malformed = reasons[n % len(reasons)]
    good = [listing for listing in listings.values() if listing.malformed is None]
    if good and not any(listing.price >= 1000 for listing in good):
        # Every shop shows at least one four-figure price ($1,299.00).
        good[0].price, good[0].was_price = Decimal("1299.00"), None

    extra_ornaments = _extras(rng, used_skus)
    extra_ids = vendor_ids[products_per_shop:]
    for ornament, vendor_id in zip(extra_ornaments, extra_ids, strict=True):
        listing = _make_listing(vendor, ornament, vendor_id, rng)
        listing.year = None
        listings[vendor_id] = listing

    page_size = max(3, min(48, products_per_shop // 40))
    years: list[YearPage] = []
    multi_page_years = [y for y, ids in by_year.items() if len(ids) > page_size]
    repeat_years = set(rng.sample(multi_page_years, math.ceil(len(multi_page_years) / 3)))
    if vendor == "hallmark_ornaments":
        repeat_years = set()  # one view-all page: each tile once, as .product-count says
    # Sub-categories (hookedonhallmark): years with two or more products, ~1 in 5.
    # The busiest year stays a plain paginated year page.
    busiest = max(by_year, key=lambda y: len(by_year[y]))
    sub_candidates = [y for y, ids in by_year.items() if len(ids) >= 2 and y != busiest]
    sub_years = (
        set(rng.sample(sub_candidates, max(1, len(sub_candidates) // 5)))
        if vendor == "hookedonhallmark" and sub_candidates
        else set()
    )
    tracking_years = set(rng.sample(sorted(by_year), 10))
    next_texts = ("Next »", "Next Page", "next >", "NEXT")
    for year, ids in by_year.items():
        if vendor == "hookedonhallmark":
            path = f"/{year}-hallmark-ornaments.html"
            label = rng.choice(
                (f"{year} Hallmark Ornaments", f"{year} Keepsake Ornaments", f"{year} Ornaments")
            )
        elif vendor == "ornament_shop":
            path = f"/{year}-hallmark-ornaments/"
            label = f"{year} Hallmark Ornaments"
        else:
            path = f"/{year}-Hallmark-Ornaments_c_{_category_id(year)}.html"
            label = f"{year} Hallmark Ornaments"
        year_page = YearPage(
            year=year,
            path=path,
            listing=ListingPages(path=path, pages=[[]]),
            index_label=label,
            index_uses_img=vendor == "hookedonhallmark" and rng.random() < 0.3,
            category_id=_category_id(year),
        )
        if year in sub_years:
            view_all = rng.choice(("View-All", "view-all", "VIEW-ALL", "View-all"))
            minis = [i for i in ids if listings[i].sku.startswith("QXM")]
            keepsakes = [i for i in ids if i not in set(minis)]
            subs = [
                ("Keepsake Ornaments", f"/{year}-keepsake-ornaments.html", keepsakes),
                ("Miniature Ornaments", f"/{year}-miniature-ornaments.html", minis),
                ("View All", f"/{year}-hallmark-ornaments-{view_all}.html", ids),
            ]
            for title, sub_path, sub_ids in subs:
                if sub_ids:
                    pages = _paginate(sub_ids, page_size, rng, sub_path, year in repeat_years)
                    pages.tracking = year in tracking_years
                    pages.next_text = rng.choice(next_texts)
                    year_page.sub_categories.append(SubCategory(title, pages))
        else:
            year_page.listing = _paginate(ids, page_size, rng, path, year in repeat_years)
            year_page.listing.tracking = year in tracking_years
            year_page.listing.next_text = rng.choice(next_texts)
        years.append(year_page)
    if vendor == "hookedonhallmark" and not any(y.index_uses_img for y in years):
        years[0].index_uses_img = True
    if vendor == "hookedonhallmark" and all(y.index_uses_img for y in years):
        years[-1].index_uses_img = False

    extra_listing_ids = list(extra_ids)
    if vendor == "hookedonhallmark":
        others = [
            OtherPage("Vintage", "/vintage-hallmark-ornaments.html", ListingPages("", [])),
            OtherPage(
                "Pre-1973 Hallmark Ornaments",
                "/pre-1973-hallmark-ornaments.html",
                ListingPages("", []),
            ),
        ]
    elif vendor == "ornament_shop":
        others = [
            OtherPage("Ornament Accessories", "/ornament-accessories/", ListingPages("", [])),
            OtherPage("Vintage Ornaments", "/vintage-ornaments/", ListingPages("", [])),
        ]
    else:
        others = [
            OtherPage(
                "Vintage Hallmark Ornaments",
                "/Vintage-Hallmark-Ornaments_c_199.html",
                ListingPages("", []),
                199,
            ),
            OtherPage(
                "Ornament Accessories",
                "/Ornament-Accessories_c_310.html",
                ListingPages("", []),
                310,
            ),
        ]
    for other in others:
        other.listing = ListingPages(other.path, [extra_listing_ids])
    return Shop(
        vendor=vendor,
        index_path={
            "hookedonhallmark": "/keepsake-hallmark-ornaments-by-year.html",
            "ornament_shop": "/hallmark-ornaments-by-year.html",
            "hallmark_ornaments": "/Hallmark-Ornaments-By-Year_c_200.html",
        }[vendor],
        listings=listings,
        years=years,
        others=others,
        page_size=page_size,
    )


def _apply_live_variants(catalogue: Catalogue) -> None:
    """The live shops' variants on top of a generated catalogue, from stable hashes only:
    the catalogue's products, prices and stock stay those of ``live_variants=False``."""
    seed = catalogue.seed
    catalogue.live_variants = True
    for vendor, shop in catalogue.shops.items():
        for listing in shop.listings.values():
            listing.stock_text = _stock_text_for(vendor, listing.in_stock, listing.key, 1, True)
        good = sorted(
            (
                listing
                for listing in shop.listings.values()
                if listing.year is not None and listing.malformed is None
            ),
            key=lambda listing: _unit(seed, "variant", listing.key),
        )
        if vendor == "hookedonhallmark":
            count = _variant_pages(
                UNKNOWN_STOCK_RATIO, len(good), MONITORS.max_unknown_availability_ratio
            )
            for n, listing in enumerate(good[:count]):
                listing.stock_phrase = UNKNOWN_STOCK_PHRASES[n % len(UNKNOWN_STOCK_PHRASES)]
            for year_page in shop.years:
                if len(year_page.listing.pages) < 2:
                    continue
                marker = ("view-all", "View-All", "VIEW-ALL")[
                    int(_unit(seed, "view-all", year_page.year) * 3)
                ]
                year_page.view_all = ListingPages(
                    path=f"/{year_page.year}-hallmark-ornaments-{marker}.html",
                    pages=[list(dict.fromkeys(year_page.listing.vendor_ids()))],
                    tracking=year_page.listing.tracking,
                )
        else:
            # Four-figure prices stay readable: every shop keeps one in its truth.
            candidates = [listing for listing in good if listing.price < 1000]
            count = _variant_pages(
                PRICE_CONFLICT_RATIO,
                # The monitor divides by every product page a year lists, broken ones too.
                sum(1 for listing in shop.listings.values() if listing.year is not None),
                MONITORS.max_price_conflict_ratio,
            )
            for listing in candidates[:count]:
                listing.malformed = PRICE_CONFLICT


def _variant_pages(ratio: float, pages: int, monitor_limit: float) -> int:
    """How many of ``pages`` carry a variant the crawl monitors count: ``ratio`` of them,
    and at least one wherever one page stays within the share a crawl may meet and pass
    (``monitors.*`` defaults), so a correct crawl of a replica passes its verdict."""
    floor = 1 if pages and 1 / pages <= monitor_limit else 0
    return max(floor, round(ratio * pages))


def generate_catalogue(
    seed: int = 1,
    products_per_shop: int = 200,
    malformed_ratio: float = 0.0,
    live_variants: bool = LIVE_VARIANTS_DEFAULT,
) -> Catalogue:
    """The whole catalogue for one seed: ornaments plus the three shops' listings;
    ``live_variants`` adds the live shops' page variants (module docstring)."""
    if products_per_shop < 1:
        raise ValueError(f"products_per_shop must be >= 1, got {products_per_shop}")
    if not 0.0 <= malformed_ratio <= 1.0:
        raise ValueError(f"malformed_ratio must be within 0..1, got {malformed_ratio}")
    rng = random.Random(seed)
    # Half again as many ornaments as a shop carries: shops overlap on most skus.
    ornaments = _make_ornaments(rng, math.ceil(products_per_shop * 1.5))
    used_skus = {o.sku for o in ornaments}
    shops = {
        vendor: _build_shop(
            vendor, index, ornaments, products_per_shop, malformed_ratio, rng, used_skus
        )
        for index, vendor in enumerate(VENDORS)
    }
    catalogue = Catalogue(seed, products_per_shop, malformed_ratio, ornaments, shops)
    if live_variants:
        _apply_live_variants(catalogue)
    return catalogue


def malformed_counts(catalogue: Catalogue, vendor: str) -> Counter[str]:
    shop = catalogue.shops[vendor]
    return Counter(
        shop.listings[v].malformed
        for v in shop.reachable_vendor_ids()
        if shop.listings[v].malformed is not None
    )
