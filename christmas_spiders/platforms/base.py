"""``VendorSpider``: what every shop's spider shares.

Flow: year index -> year pages (and their further listing pages) -> product pages.
Subclasses (one per shop platform, then one short module per shop) supply
selectors and a few hooks; this class handles the spider arguments, origin
swapping, year filtering, de-duplication, item building, drop counting and the
``christmas/...`` stats.

Seams for other parts of the project:

* :meth:`year_links_request` / :meth:`parse_year_index` / :meth:`extract_year_links`
  / :meth:`follow_year_links`: the year-index step. Its links are kept in
  :class:`~christmas_spiders.year_links.YearLinksCache` (Redis with ``REDIS_URL``, else a
  JSON file; ``-a refresh_year_links=1`` forces a render), so a JS-built index is
  rendered once per TTL, not once per crawl.
* ``-a product_url=URL [-a release_year=YEAR]`` re-reads one product page (the year
  of a stored product comes from the database).
* ``-a stale_hours=N`` re-reads the products the database has not seen synced for N
  hours (:meth:`stale_product_links`, christmas_spiders.db.refresh), no year pages.
* ``-a mode=refresh`` walks the year index and every listing page as the full crawl
  (``mode=full``, the default) does, but reads only the product pages that
  :func:`~christmas_spiders.platforms.refresh.decide` picks from the listing tile
  (:meth:`listing_tiles`), the stored row (one query per year) and the row's age.
* Listing bookkeeping, the same in both modes: every product link a listing page shows
  is noted in :attr:`listed_links` (stored as ``products.last_listed_at`` at the end of
  the crawl) with what its tile says about stock in :attr:`listed_stock` (stored as
  ``products.listed_sold_out``, which the next refresh compares the tile with), and a
  year whose listing was not read completely is in :attr:`incomplete_years`: such a
  crawl proves nothing about presence, so it delists nothing.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Self
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.utils.defer import deferred_to_future
from scrapy_selenium import SeleniumRequest
from sqlalchemy import Engine
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from christmas_spiders.browser.request import element_present
from christmas_spiders.db.refresh import StoredProduct, oldest_stale_links, stored_products_of_year
from christmas_spiders.items import MISSING, InvalidProduct, ProductItem
from christmas_spiders.parsing import (
    OUT_OF_STOCK,
    UNKNOWN,
    ParseError,
    PriceError,
    StockWording,
    availability_from_text,
    clean_link,
    clean_text,
    format_price,
    parse_price,
    parse_year_list,
    swap_origin,
    validate_origin,
)
from christmas_spiders.parsing.years import FIRST_YEAR, LAST_YEAR
from christmas_spiders.platforms.refresh import (
    FULL,
    MODES,
    REFRESH,
    STATS_PREFIX,
    ListingTile,
    decide,
)
from christmas_spiders.platforms.select import (
    attribute_of,
    first,
    markup_of,
    root_of,
    select,
    text_of,
)
from christmas_spiders.year_links import YearLinksCache

logger = logging.getLogger(__name__)

# Reasons a product page yields no item (stats ``christmas/dropped/<reason>``).
MISSING_VENDOR_ID = "missing_vendor_id"
MISSING_NAME = "missing_name"
MISSING_SKU = "missing_sku"
MISSING_PRICE = "missing_price"
BAD_PRICE = "bad_price"
BAD_PRODUCT_DATA = "bad_product_data"
# The page's two price sources disagree (BigCommerce's BCData or 3dcart's _3d_item
# against the visible price): a price the page contradicts is never stored.
PRICE_CONFLICT = "price_conflict"
DROP_REASONS: tuple[str, ...] = (
    MISSING_VENDOR_ID,
    MISSING_NAME,
    MISSING_SKU,
    MISSING_PRICE,
    BAD_PRICE,
    BAD_PRODUCT_DATA,
    PRICE_CONFLICT,
)
#: Items whose stock wording the spider does not know (availability ``unknown``).
UNKNOWN_STOCK_STAT = "christmas/availability/unknown"

# Kinds of request, for ``christmas/failed/<kind>`` when one fails after its retries.
YEAR_INDEX = "year_index"
YEAR_PAGE = "year_page"
PRODUCT_PAGE = "product_page"

# Why a year's listing is incomplete (its products are then never delisted).
LISTING_PAGE_FAILED = "listing_page_failed"
PRODUCT_COUNT_MISMATCH = "product_count_mismatch"
BROWSER_WAIT_TIMED_OUT = "browser_wait_timed_out"


# The -a arguments every VendorSpider takes (``_job``: scrapyd's job id).
ARGUMENTS: tuple[str, ...] = (
    "base_url",
    "years",
    "crawl_id",
    "product_url",
    "release_year",
    "stale_hours",
    "mode",
    "refresh_year_links",
    "_job",
)
# Ten years: a larger number of hours is a typo, not a refresh.
MAX_STALE_HOURS = 24 * 366 * 10


class SpiderArgumentError(ValueError):
    """A ``-a`` spider argument is unusable; raised before any request is made (the
    project's ``crawl`` command prints it as one line and exits 2)."""


class DropProduct(Exception):
    """A product page yields no item, for ``reason`` (one of :data:`DROP_REASONS`)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, order=True)
class YearLink:
    """A year page found on the year index (absolute URL, origin already swapped)."""

    year: int
    url: str


class VendorSpider(scrapy.Spider):
    """Base of the three shop spiders. Class attributes a shop module sets:"""

    #: The real shop's origin; ``-a base_url=`` replaces it.
    real_origin: ClassVar[str]
    #: Path of the year index page.
    year_index_path: ClassVar[str]
    #: CSS of the element a JS-built year index needs; ``None``: plain HTTP page.
    year_index_wait_css: ClassVar[str | None] = None
    #: Brand for shops whose pages show none.
    default_brand: ClassVar[str] = "Hallmark"
    currency: ClassVar[str] = "USD"
    #: Seconds a JS page may take to show the element it waits for.
    browser_wait_seconds: ClassVar[float] = 20.0
    #: False for a spider that cannot select stale products (:meth:`stale_product_links`).
    supports_stale_refresh: ClassVar[bool] = True
    #: A product tile of a listing page, and the product link inside it.
    product_tile_css: ClassVar[str]
    product_link_css: ClassVar[str]
    #: The tile's price (sale markup ``<s>was</s> price`` allowed); ``None``: tiles show none.
    tile_price_css: ClassVar[str | None] = None
    #: Where a tile says it is sold out; ``None``: the shop's tiles never show stock (a
    #: tile without it then says nothing, rather than "in stock").
    tile_stock_css: ClassVar[str | None] = None
    #: What the item's price is read from, and what a ``price_check`` is compared with it.
    price_source: ClassVar[str] = "the visible price"
    #: -a arguments a shop's spider takes beyond :data:`ARGUMENTS`.
    extra_arguments: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *args: Any,
        base_url: str | None = None,
        years: str | None = None,
        crawl_id: str | None = None,
        product_url: str | None = None,
        release_year: str | None = None,
        stale_hours: str | None = None,
        mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - set(self.known_arguments()) - {"name"})
        if unknown:
            raise SpiderArgumentError(
                f"{self.name}: unknown argument{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}; known: {', '.join(self.known_arguments())}"
            )
        super().__init__(*args, **kwargs)
        try:
            self.base_url: str = (
                validate_origin(base_url) if base_url is not None else self.real_origin
            )
            self.years: set[int] | None = parse_year_list(years) if years is not None else None
        except ParseError as exc:
            raise SpiderArgumentError(f"{self.name}: {exc}") from None
        self.origin_swapped = base_url is not None
        self.crawl_id: str = (crawl_id or "").strip() or uuid.uuid4().hex
        self.product_url: str | None = None
        self.release_year: int | None = None
        if product_url is not None:
            self.product_url, self.release_year = self._parse_refresh(product_url, release_year)
        elif release_year is not None:
            raise SpiderArgumentError(f"{self.name}: release_year= only goes with product_url=")
        self.stale_hours: float | None = self._parse_stale_hours(stale_hours)
        self.mode: str = self._parse_mode(mode)
        #: The crawl walks every listing page of every year (either mode).
        self.lists_every_year: bool = (
            self.years is None and self.product_url is None and self.stale_hours is None
        )
        #: ... and reads every listed product page (its item count is comparable).
        self.full_crawl: bool = self.lists_every_year and self.mode == FULL
        # Crawl state: what was requested, per year what is still outstanding.
        self._listing_urls: set[str] = set()
        self._product_links: set[str] = set()
        self._vendor_ids: set[str] = set()
        self._pending_listings: Counter[int] = Counter()
        self._failed_years: set[int] = set()
        #: Every product link listed on a year page read (whether its page then was
        #: read, failed, was dropped or, in a refresh, left unread): delisting spares these.
        self.listed_links: set[str] = set()
        #: What each listed product's tile said about stock (:attr:`ListingTile.sold_out`
        #: of its first tile): the next refresh compares its tile with this.
        self.listed_stock: dict[str, bool | None] = {}
        #: Years whose listing was not read completely, with why: they delist nothing.
        self.incomplete_years: dict[int, set[str]] = {}
        #: Refresh: the stored rows picked for a stale read (:meth:`pick_stale_links`).
        self.stale_links: set[str] = set()
        # Refresh: each year's stored rows, loaded once while its listing pages are read.
        self._stored_years: dict[int, Any] = {}
        # Refresh: links already decided (a product listed twice is decided once).
        self._decided: set[str] = set()
        self.year_links_cache: YearLinksCache | None = None
        # The built-in phrases; from_crawler adds the shop's configured ones.
        self.stock_wording = StockWording()
        # Stock texts (lower-cased) reported as unknown in this crawl: each is logged once.
        self._unknown_stock_texts: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.refresh and not crawler.settings.getbool("CHRISTMAS_STORE_ITEMS"):
            raise SpiderArgumentError(
                f"{spider.name}: mode=refresh compares listings with the stored products; "
                "CHRISTMAS_STORE_ITEMS is off"
            )
        spider.year_links_cache = YearLinksCache.from_crawler(crawler)
        spider.stock_wording = cls.configured_stock_wording(crawler)
        return spider

    @property
    def refresh(self) -> bool:
        """``-a mode=refresh``: read only the product pages the listings say changed."""
        return self.mode == REFRESH

    @classmethod
    def configured_stock_wording(cls, crawler: Crawler) -> StockWording:
        """The built-in stock phrases plus this shop's entry of CHRISTMAS_STOCK_WORDING
        (``{"<spider name>": {"in_stock": [...], "out_of_stock": [...]}}``; the config's
        ``stock_wording``)."""
        configured = crawler.settings.getdict("CHRISTMAS_STOCK_WORDING")
        return StockWording.configured(
            configured.get(cls.name), where=f"CHRISTMAS_STOCK_WORDING[{cls.name!r}]"
        )

    # ------------------------------------------------------------------ arguments

    @classmethod
    def known_arguments(cls) -> tuple[str, ...]:
        return (*ARGUMENTS, *cls.extra_arguments)

    @classmethod
    def check_arguments(cls, arguments: dict[str, Any]) -> None:
        """Raise :class:`SpiderArgumentError` for arguments the spider would refuse
        (the spider's own checks, without a crawler: nothing is requested or opened)."""
        cls(**arguments)

    @property
    def crawl_kind(self) -> str:
        """full / years / product / refresh (a run is compared with runs of its kind)."""
        if self.product_url is not None:
            return "product"
        if self.stale_hours is not None or self.refresh:
            return "refresh"
        return "years" if self.years is not None else "full"

    def _parse_refresh(self, product_url: str, release_year: str | None) -> tuple[str, int | None]:
        try:
            link = clean_link(product_url)
        except ParseError as exc:
            raise SpiderArgumentError(f"{self.name}: product_url={product_url!r}: {exc}") from None
        if self.origin_swapped:
            link = swap_origin(link, self.base_url)
        text = (release_year or "").strip()
        if not text:
            return link, None  # a stored product: its year is read from the database
        if not text.isdigit() or not FIRST_YEAR <= int(text) <= LAST_YEAR:
            raise SpiderArgumentError(
                f"{self.name}: product_url= needs release_year=YYYY (the year page it was "
                f"listed under), got release_year={release_year!r}"
            )
        return link, int(text)

    def _parse_stale_hours(self, stale_hours: str | None) -> float | None:
        if stale_hours is None:
            return None
        try:
            hours = float(stale_hours)
        except ValueError:
            hours = -1.0
        # ``not <=`` also refuses nan; inf is out of range.
        if not 0 < hours <= MAX_STALE_HOURS:
            raise SpiderArgumentError(
                f"{self.name}: stale_hours={stale_hours!r} is not a positive number of "
                f"hours (at most {MAX_STALE_HOURS})"
            )
        if not self.supports_stale_refresh:
            raise SpiderArgumentError(
                f"{self.name}: stale_hours= needs the product store; this spider cannot "
                "select stale products"
            )
        return hours

    def _parse_mode(self, mode: str | None) -> str:
        value = FULL if mode is None else mode.strip().lower()
        if value not in MODES:
            raise SpiderArgumentError(
                f"{self.name}: mode={mode!r} is not one of {', '.join(MODES)}"
            )
        if value == REFRESH:
            if self.product_url is not None or self.stale_hours is not None:
                raise SpiderArgumentError(
                    f"{self.name}: mode=refresh walks the listings; it does not go with "
                    "product_url= or stale_hours="
                )
            if not self.supports_stale_refresh:
                raise SpiderArgumentError(
                    f"{self.name}: mode=refresh needs the product store; this spider has none"
                )
        return value

    # ------------------------------------------------------------------ URLs

    def url_for(self, path: str) -> str:
        """The crawled origin plus ``path`` (the real shop's, or ``-a base_url=``'s)."""
        return self.base_url + path

    def absolute(self, href: str, response: Response) -> str:
        """``href`` resolved against the page; a link to the real shop is moved to
        ``base_url`` when the origin is swapped. The fragment is dropped."""
        url = urljoin(response.url, href.strip()).split("#", 1)[0]
        if self.origin_swapped and _same_shop(url, self.real_origin):
            url = swap_origin(url, self.base_url)
        return url

    # ------------------------------------------------------------------ start

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.refresh:
            self.stale_links = await deferred_to_future(deferToThread(self.pick_stale_links))
        for request in self.initial_requests():
            yield request

    def initial_requests(self) -> Iterator[scrapy.Request]:
        if self.product_url is not None:
            if self.release_year is None:
                self.release_year = self.stored_release_year(self.product_url)
            self.logger.info(
                "refreshing one product page %s (release year %d)",
                self.product_url,
                self.release_year,
            )
            yield self.product_request(self.product_url, self.release_year)
        elif self.stale_hours is not None:
            for link, year in self.stale_product_links():
                yield self.product_request(link, year)
        else:
            cached = self.year_links_cache.get(self) if self.year_links_cache else None
            if cached is None:
                yield self.year_links_request()
            else:
                yield from self.follow_year_links(YearLink(int(y), str(u)) for y, u in cached)

    def refresh_engine(self) -> Engine:
        """The crawl's one engine (christmas_spiders.crawl.database), for refreshes."""
        from christmas_spiders.crawl.database import crawl_database

        return crawl_database(self.crawler).engine

    def stale_product_links(self) -> Iterable[tuple[str, int]]:
        """(product link, release year) of products not refreshed for ``stale_hours``."""
        from christmas_spiders.db.refresh import stale_products

        assert self.stale_hours is not None
        stale = stale_products(self.refresh_engine(), self.name, self.stale_hours)
        self.logger.info(
            "refreshing %d products not synced for %g hours", len(stale), self.stale_hours
        )
        for link, year in stale:
            yield (swap_origin(link, self.base_url) if self.origin_swapped else link), year

    def pick_stale_links(self) -> set[str]:
        """Refresh: the oldest stored rows not read for ``CHRISTMAS_MAX_PRODUCT_AGE_HOURS``,
        at most ``CHRISTMAS_MAX_STALE_READS`` (one query; blocking: run it in a thread).
        Those the listings show are read again, whatever their tiles say."""
        hours = self.crawler.settings.getfloat("CHRISTMAS_MAX_PRODUCT_AGE_HOURS")
        limit = self.crawler.settings.getint("CHRISTMAS_MAX_STALE_READS")
        try:
            links = oldest_stale_links(self.refresh_engine(), self.name, hours, limit)
        except Exception as exc:
            self.logger.error("refresh: could not pick the stale products: %s", exc)
            return set()
        self.logger.info(
            "refresh: %d stored products not read for %g hours picked (at most %d)",
            len(links),
            hours,
            limit,
        )
        return links

    def stored_products(self, year: int) -> dict[str, StoredProduct]:
        """Refresh: the stored rows of ``year`` by link (one query; blocking: in a thread).
        Without them every listed product of the year is read, as new."""
        try:
            return stored_products_of_year(self.refresh_engine(), self.name, year)
        except Exception as exc:
            self.logger.error("refresh: could not read the stored products of %d: %s", year, exc)
            return {}

    def stored_release_year(self, link: str) -> int:
        """The release year the database holds for ``link`` (``-a product_url=`` alone)."""
        from christmas_spiders.db.refresh import stored_release_year

        year = stored_release_year(self.refresh_engine(), self.name, link)
        if year is None:
            raise SpiderArgumentError(
                f"{self.name}: product_url={link} is not a stored product; "
                "add release_year=YYYY (the year page it was listed under)"
            )
        return year

    # ------------------------------------------------------------------ year index

    def browser_request(self, url: str, wait_css: str, **kwargs: Any) -> scrapy.Request:
        """A JS page: rendered by the Selenium pool once ``wait_css`` is present."""
        return SeleniumRequest(
            url=url,
            wait_time=self.browser_wait_seconds,
            wait_until=element_present(wait_css),
            **kwargs,
        )

    def year_links_request(self) -> scrapy.Request:
        """The request for the year index; its callback is :meth:`parse_year_index`."""
        url = self.url_for(self.year_index_path)
        meta = {"christmas_kind": YEAR_INDEX}
        if self.year_index_wait_css:
            return self.browser_request(
                url,
                self.year_index_wait_css,
                callback=self.parse_year_index,
                errback=self.request_failed,
                meta=meta,
                dont_filter=True,
            )
        return scrapy.Request(
            url,
            callback=self.parse_year_index,
            errback=self.request_failed,
            meta=meta,
            dont_filter=True,
        )

    def parse_year_index(self, response: Response) -> Iterator[scrapy.Request]:
        links = self.extract_year_links(response)
        if self.year_links_cache is not None:
            self.year_links_cache.put(self, [[link.year, link.url] for link in links])
        yield from self.follow_year_links(links)

    def year_index_entries(self, response: Response) -> Iterable[tuple[int | None, str]]:
        """(year or ``None`` for a non-year entry, href) per entry of the year index."""
        raise NotImplementedError

    def extract_year_links(self, response: Response) -> list[YearLink]:
        """Every year page of the index (non-year entries skipped), before ``years`` filtering."""
        links: dict[str, YearLink] = {}
        for year, href in self.year_index_entries(response):
            if not href:
                continue
            if year is None:
                self.crawler.stats.inc_value("christmas/years/skipped_entries")
                self.logger.debug("skipping non-year index entry %s on %s", href, response.url)
                continue
            url = self.absolute(href, response)
            links.setdefault(url, YearLink(year, url))
        if not links:
            self.logger.error("no year link found on the year index %s", response.url)
        return sorted(links.values())

    def follow_year_links(self, links: Iterable[YearLink]) -> Iterator[scrapy.Request]:
        """Requests for the year pages wanted (``-a years=``); sets ``christmas/years/total``."""
        wanted = [link for link in links if self.years is None or link.year in self.years]
        years = {link.year for link in wanted}
        self.crawler.stats.set_value("christmas/years/total", len(years))
        self.crawler.stats.set_value("christmas/years/done", 0)
        if self.years is not None and (missing := self.years - years):
            self.logger.warning(
                "years asked for but not on the year index: %s",
                ", ".join(map(str, sorted(missing))),
            )
        for link in wanted:
            request = self.year_page_request(link)
            if request is not None:
                yield request

    # ------------------------------------------------------------------ listing pages

    def year_page_request(self, link: YearLink) -> scrapy.Request | None:
        """The first listing page of a year; shops override it (``?viewall=1``, JS pages)."""
        return self.listing_request(link.url, link.year)

    def listing_request(
        self, url: str, year: int, wait_css: str | None = None
    ) -> scrapy.Request | None:
        """A listing page of ``year`` (counted as outstanding until parsed), or ``None``
        when that page was already requested."""
        if url in self._listing_urls:
            return None
        self._listing_urls.add(url)
        self._pending_listings[year] += 1
        kwargs: dict[str, Any] = {
            "callback": self.parse_refresh_listing if self.refresh else self.parse_listing,
            "errback": self.request_failed,
            "cb_kwargs": {"year": year},
            "meta": {"christmas_kind": YEAR_PAGE, "christmas_year": year},
            "dont_filter": True,  # de-duplicated above, so the year's count stays exact
        }
        if wait_css:
            return self.browser_request(url, wait_css, **kwargs)
        return scrapy.Request(url, **kwargs)

    async def parse_refresh_listing(
        self, response: Response, year: int
    ) -> AsyncIterator[scrapy.Request]:
        """A listing page of a refresh: :meth:`parse_listing` against the year's stored
        rows, read once per year (in a thread) however many listing pages it has."""
        stored = self._stored_years.get(year)
        if stored is None:
            stored = self._stored_years[year] = deferred_to_future(
                deferToThread(self.stored_products, year)
            )
        for request in self.parse_listing(response, year, await stored):
            yield request

    def parse_listing(
        self,
        response: Response,
        year: int,
        stored: Mapping[str, StoredProduct] | None = None,
    ) -> Iterator[scrapy.Request]:
        """Requests for a listing page's product pages (with ``stored``, a refresh's: only
        those :meth:`refresh_reads` picks) and for the year's further listing pages."""
        try:
            if response.meta.get("selenium_wait_timed_out"):
                # The page was rendered before its tiles were complete: what it lists
                # may be short of what the shop lists.
                self.mark_year_incomplete(year, BROWSER_WAIT_TIMED_OUT, response.url)
            # A full crawl needs no tile price, but the tile's stock in both modes.
            tiles = self.listing_tiles(response, with_price=stored is not None)
            product_hrefs = [tile.href for tile in tiles]
            for tile in tiles:
                url = self.absolute(tile.href, response)
                self.note_listed(url, tile.sold_out)
                if stored is not None and not self.refresh_reads(url, tile, stored):
                    continue
                request = self.product_request(url, year)
                if request is not None:
                    yield request
            for href in self.more_listing_hrefs(response, has_products=bool(product_hrefs)):
                request = self.listing_request(self.absolute(href, response), year)
                if request is not None:
                    yield request
            self.check_listing(response, year, product_hrefs)
        finally:
            self._listing_finished(year, ok=True)

    def listing_seen(self, href: str, response: Response) -> bool:
        """Whether the listing page ``href`` (on ``response``'s page) was requested."""
        return self.absolute(href, response) in self._listing_urls

    def listing_tiles(
        self, response: Response, with_price: bool = True, with_stock: bool = True
    ) -> list[ListingTile]:
        """The product tiles of a listing page that carry a product link, with the price
        (a refresh's, :meth:`tile_price`) and the stock (:meth:`tile_sold_out`) each
        tile shows, as asked."""
        tiles = []
        for node in select(root_of(response), self.product_tile_css):
            href = (attribute_of(first(node, self.product_link_css), "href") or "").strip()
            if href:
                tiles.append(
                    ListingTile(
                        href,
                        self.tile_price(node) if with_price else None,
                        self.tile_sold_out(node) if with_stock else None,
                    )
                )
        return tiles

    def tile_price(self, node: Any) -> Decimal | None:
        """The price of one tile, as :class:`ListingTile` holds it."""
        markup = markup_of(first(node, self.tile_price_css)) if self.tile_price_css else None
        if markup is not None:
            with contextlib.suppress(PriceError):
                return parse_price(markup)
        return None

    def tile_sold_out(self, node: Any) -> bool | None:
        """Whether one tile says sold out, as :class:`ListingTile` holds it."""
        if self.tile_stock_css is None:
            return None
        text = clean_text(text_of(first(node, self.tile_stock_css)))
        # Words on every shop (a product page's stock may be a flag), matched on their
        # leading phrase with the shop's stock wording, as a product page's are; wording
        # no phrase starts is not a sold-out word.
        return bool(text) and availability_from_text(text, self.stock_wording) == OUT_OF_STOCK

    def refresh_reads(
        self, url: str, tile: ListingTile, stored: Mapping[str, StoredProduct]
    ) -> bool:
        """Whether a refresh requests the product page at ``url`` (the reason counted in
        ``christmas/refresh/<reason>``); a product listed twice is decided once."""
        try:
            link = clean_link(url)
        except ParseError:
            return True  # product_request logs and skips it
        if link in self._decided:
            # Requested before: product_request counts the duplicate; else left unread.
            return link in self._product_links
        self._decided.add(link)
        decision = decide(
            tile,
            stored.get(link),
            stale=link in self.stale_links,
            classify=self.parse_availability,
        )
        self.crawler.stats.inc_value(STATS_PREFIX + decision.reason)
        return decision.read

    def product_hrefs(self, response: Response) -> list[str]:
        """Product links of a listing page."""
        return [
            tile.href for tile in self.listing_tiles(response, with_price=False, with_stock=False)
        ]

    def more_listing_hrefs(self, response: Response, has_products: bool) -> Iterable[str]:
        """Further listing pages of the same year (next page, view-all)."""
        raise NotImplementedError

    def check_listing(self, response: Response, year: int, product_hrefs: list[str]) -> None:
        """Hook: sanity checks of a parsed listing page (e.g. its product count); a page
        short of products calls :meth:`mark_year_incomplete`."""

    def note_listed(self, url: str, sold_out: bool | None = None) -> None:
        """Record a product link a listing page shows (cleaned as its request will be)
        and what its tile says about stock; a product listed twice keeps its first tile's,
        the one its refresh decision was made on."""
        with contextlib.suppress(ParseError):
            link = clean_link(url)
            self.listed_links.add(link)
            self.listed_stock.setdefault(link, sold_out)

    def mark_year_incomplete(self, year: int, reason: str, url: str = "") -> None:
        """``year``'s listing was not read completely (``reason``): none of its products
        is delisted by this crawl."""
        self.incomplete_years.setdefault(year, set()).add(reason)
        self.crawler.stats.inc_value(f"christmas/years/incomplete/{reason}")
        self.logger.warning("year %d listing incomplete (%s) %s", year, reason, url)

    def _listing_finished(self, year: int, ok: bool) -> None:
        if not ok:
            self._failed_years.add(year)
        self._pending_listings[year] -= 1
        if self._pending_listings[year] > 0:
            return
        self._stored_years.pop(year, None)
        if year in self._failed_years:
            self.crawler.stats.inc_value("christmas/years/failed")
            self.logger.warning("year %d finished with failed listing pages", year)
        else:
            self.crawler.stats.inc_value("christmas/years/done")

    # ------------------------------------------------------------------ product pages

    def product_request(self, url: str, year: int) -> scrapy.Request | None:
        """The product page (link cleaned), or ``None`` when it was already requested."""
        try:
            link = clean_link(url)
        except ParseError:
            self.logger.warning("skipping product link that is not http(s): %s", url)
            return None
        if link in self._product_links:
            self.crawler.stats.inc_value("christmas/duplicate_product_links")
            return None
        self._product_links.add(link)
        return scrapy.Request(
            link,
            callback=self.parse_product,
            errback=self.request_failed,
            cb_kwargs={"release_year": year},
            meta={"christmas_kind": PRODUCT_PAGE},
            # Product pages first: they finish work, listings only create more.
            priority=10,
        )

    def parse_product(self, response: Response, release_year: int) -> Iterator[ProductItem]:
        self.crawler.stats.inc_value("christmas/product_pages")
        try:
            fields = self.extract_product(response)
            item = self.build_item(fields, response, release_year)
        except DropProduct as drop:
            self.crawler.stats.inc_value(f"christmas/dropped/{drop.reason}")
            self.logger.warning("dropped product page %s: %s", response.url, drop)
            return
        if item["vendor_id"] in self._vendor_ids:
            self.crawler.stats.inc_value("christmas/duplicate_products")
            self.logger.debug("product %s seen before, at %s", item["vendor_id"], response.url)
            return
        self._vendor_ids.add(item["vendor_id"])
        if item.availability == UNKNOWN:
            self.unknown_stock(fields.get("availability"), response.url)
        yield item

    def extract_product(self, response: Response) -> dict[str, Any]:
        """Raw fields of a product page: ``vendor_id``, ``sku``, ``name``, ``price`` (text
        or number), ``availability`` (as the shop says it, see :meth:`parse_availability`),
        ``brand`` and ``was_price`` (optional), and ``price_check``: ``(source, value)``
        of the page's second price source, where it has one (compared with ``price``;
        see :attr:`price_source`). Raises :class:`DropProduct` for a page that cannot be
        read."""
        raise NotImplementedError

    def parse_availability(self, raw: object) -> str:
        """The shop's stock wording -> ``in_stock`` / ``out_of_stock`` / ``unknown``
        (the shop's phrases: :attr:`stock_wording`; a hook per shop)."""
        return availability_from_text(raw, self.stock_wording)

    def stock_text(self, raw: object) -> str | None:
        """The stock wording :meth:`parse_availability` read, as the item keeps it (text,
        white space folded), or None where the stock came from structured data (a flag):
        a refresh reads a row stored ``unknown`` again once this text reads otherwise."""
        return (clean_text(raw) or None) if isinstance(raw, str) else None

    def unknown_stock(self, raw: object, url: str) -> None:
        """Count an item whose stock wording is unknown; log each distinct text once per
        crawl, so that an operator sees the new wording and maps it."""
        self.crawler.stats.inc_value(UNKNOWN_STOCK_STAT)
        text = clean_text(raw) if isinstance(raw, str) else ("" if raw is None else repr(raw))
        # Distinct as matched: any case is the same wording.
        if text.lower() in self._unknown_stock_texts:
            return
        self._unknown_stock_texts.add(text.lower())
        self.logger.warning(
            "stock wording %r is not one %s knows (first seen on %s): items say "
            "availability unknown; map it in the configuration's stock_wording.%s",
            text or "(none)",
            self.name,
            url,
            self.name,
        )

    def check_price(self, price: object, check: tuple[str, object] | None) -> None:
        """:class:`DropProduct` (``price_conflict``) where the page's second price source
        says another amount than ``price``; a source without a readable amount is no check
        (the price itself is judged by the item definition)."""
        if check is None:
            return
        source, other = check
        try:
            mine, theirs = format_price(price), format_price(other)
        except PriceError:
            return
        if mine != theirs:
            raise DropProduct(
                PRICE_CONFLICT, f"{self.price_source} is {mine} but {source} says {theirs}"
            )

    def clean_was_price(self, raw: object, url: str) -> str | None:
        """The "was" price, or None where it cannot be read (a bad was-price never costs
        the product: the price is what matters)."""
        if raw is None or (isinstance(raw, str) and not clean_text(raw)):
            return None
        try:
            return format_price(raw)
        except PriceError as exc:
            self.crawler.stats.inc_value("christmas/was_price/unreadable")
            self.logger.debug("unreadable was-price on %s: %s", url, exc)
            return None

    def build_item(
        self, fields: dict[str, Any], response: Response, release_year: int
    ) -> ProductItem:
        """The item of a page's raw fields, or :class:`DropProduct` naming the first gap.

        The shop-specific parts are done here (stock wording, the default brand, the
        price cross-check); the item definition normalises and checks the rest, once.
        """
        availability = self.parse_availability(fields.get("availability"))
        brand = fields.get("brand")
        try:
            item = ProductItem.from_raw(
                {
                    "vendor": self.name,
                    "vendor_id": fields.get("vendor_id"),
                    "sku": fields.get("sku"),
                    "name": fields.get("name"),
                    "price": fields.get("price"),
                    "currency": self.currency,
                    "brand": brand if clean_text(brand) else self.default_brand,
                    "availability": availability,
                    "release_year": release_year,
                    "link": response.url,
                    "was_price": self.clean_was_price(fields.get("was_price"), response.url),
                    "stock_text": self.stock_text(fields.get("availability")),
                }
            )
        except InvalidProduct as invalid:
            raise _drop_for(invalid) from invalid
        self.check_price(fields.get("price"), fields.get("price_check"))
        return item

    # ------------------------------------------------------------------ failures

    def request_failed(self, failure: Failure) -> None:
        """A request failed after its retries (5xx, dropped connection, timeout...)."""
        request = failure.request  # type: ignore[attr-defined]
        kind = request.meta.get("christmas_kind", "request")
        self.crawler.stats.inc_value(f"christmas/failed/{kind}")
        self.logger.error("%s failed: %s (%s)", kind, request.url, failure.getErrorMessage())
        if kind == YEAR_PAGE:
            year = request.meta["christmas_year"]
            self.mark_year_incomplete(year, LISTING_PAGE_FAILED, request.url)
            self._listing_finished(year, ok=False)


def _same_shop(url: str, real_origin: str) -> bool:
    """``url`` is on the real shop's host (with or without ``www.``)."""
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return host == (urlsplit(real_origin).hostname or "").removeprefix("www.")


# A page's gaps, in the order a page is judged: field -> DropProduct reason when missing.
_MISSING_FIELD_REASONS: dict[str, str] = {
    "vendor_id": MISSING_VENDOR_ID,
    "name": MISSING_NAME,
    "sku": MISSING_SKU,
    "price": MISSING_PRICE,
}


def _drop_for(invalid: InvalidProduct) -> DropProduct:
    """The DropProduct of an item the definition refused (the first gap, as judged above)."""
    for field, missing_reason in _MISSING_FIELD_REASONS.items():
        reason = invalid.problems.get(field)
        if reason == MISSING:
            return DropProduct(missing_reason)
        if reason is not None:
            return DropProduct(BAD_PRICE if field == "price" else BAD_PRODUCT_DATA, reason)
    return DropProduct(BAD_PRODUCT_DATA, str(invalid))
