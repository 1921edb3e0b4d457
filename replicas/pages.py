# ruff: noqa: E501 -- HTML/JS templates: one tag or statement a line reads better than split strings
"""The HTML of the three replica shops, laid out as docs/shops.md says.

``ShopSite(catalogue, vendor).resolve(path, query)`` maps a request to a ``Route``:
its kind (for stats and faults), a cache key (the same page under a tracking query
string is one page) and a ``render(day) -> bytes`` function. The server caches the
rendered bytes per (key, day).

JavaScript-built pages keep their links out of the raw HTML:

* hookedonhallmark year index: ``ul.columns-5`` is empty in the HTML; a script fetches
  ``/ajax/years-by-year.json`` after load (+50 ms) and builds the ``li`` entries.
* ornament_shop year index: the mega-menu script decodes a base64 payload after load
  (+50 ms) and builds ``li.navList-item a``.
* hallmark_ornaments year pages: tiles carry ``a.quickview`` without ``href``; a script
  fetches ``/ajax/quickview-links.json?cat=N`` after load (+50 ms), fills the hrefs and
  then marks ``#productCategoryBlock[data-quickview=ready]`` (also on a year with no
  products, so a browser wait can always end).
"""

from __future__ import annotations

import base64
import html
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qs

from replicas.catalogue import (
    PRICE_CONFLICT,
    Catalogue,
    DayState,
    Listing,
    ListingPages,
    OtherPage,
    Shop,
    Tile,
    YearPage,
    _charm,
    _unit,
)

HTML = "text/html; charset=utf-8"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
TRACKING = "?ref=year#top"
ROBOTS = b"# Replica shop: everything may be crawled.\nUser-agent: *\nDisallow:\n"

# Route kinds. Faults hit YEAR and PRODUCT pages; BROWSER_YEAR only when asked.
INDEX, YEAR, BROWSER_YEAR, PRODUCT, OTHER, AJAX, ROBOTS_TXT, HOME, ASSET = (
    "index",
    "year",
    "browser_year",
    "product",
    "other",
    "ajax",
    "robots",
    "home",
    "asset",
)


@dataclass(frozen=True, slots=True)
class Route:
    kind: str
    key: str
    render: Callable[[int], bytes]
    content_type: str = HTML


def money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _json_number(amount: Decimal) -> str:
    """A price as a JSON number the way a template prints it: 24.95, 24.9, 30."""
    text = f"{amount:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _conflicting(price: Decimal) -> Decimal:
    """Another price for a page's second price source (always differs: +15 %, rounded)."""
    return _charm(price * Decimal("1.15"))


def _tile_price(tile: Tile, element: str, css: str) -> str:
    """A tile's price element: ``<s>was</s> price`` on sale, the unreadable text, or
    nothing at all for a tile without a price element."""
    if tile.price is None:
        if not tile.unreadable_text:
            return ""
        return f'<{element} class="{css}">{html.escape(tile.unreadable_text)}</{element}>'
    shown = money(tile.price)
    if tile.was_price is not None:
        shown = f"<s>{money(tile.was_price)}</s> {shown}"
    return f'<{element} class="{css}">{shown}</{element}>'


def _tile_stock(tile: Tile) -> str:
    return "" if tile.stock is None else f'  <div class="stock">{html.escape(tile.stock)}</div>\n'


# hallmark_ornaments' other <head> scripts: the live shop's _3d_item is not the first.
_3DCART_HEAD_SCRIPTS = (
    '<script type="text/javascript">var _3d_cart = {"subtotal": 0, "itemcount": 0};</script>\n',
    "<script>window.dataLayer = window.dataLayer || [];"
    " function gtag(){dataLayer.push(arguments);}</script>\n",
    '<script type="text/javascript">var storeSettings = {"currency": "USD", "locale": "en-US"};</script>\n',
    '<script>var wishlistSettings = {"enabled": true, "items": []};</script>\n',
    "<script>document.documentElement.className += ' js';</script>\n",
    '<script type="text/javascript">var recentlyViewed = [];</script>\n',
)


def _page(title: str, body: str, head: str = "", site: str = "") -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<style>body{font-family:sans-serif;margin:0 2em}.product-item{margin:.5em 0}</style>\n"
        f'{head}</head>\n<body class="{site}">\n'
        f'<header><a href="/" class="logo">{html.escape(site)}</a></header>\n'
        f"{body}\n<footer><p>&copy; 2026 Replica shop. Prices in USD.</p></footer>\n"
        "</body>\n</html>\n"
    ).encode()


def _page_number(query: dict[str, list[str]]) -> int | None:
    values = query.get("page")
    if not values:
        return 1
    try:
        number = int(values[0])
    except ValueError:
        return None
    return number if number >= 1 else None


class ShopSite:
    """Routes and renderers of one shop."""

    def __init__(self, catalogue: Catalogue, vendor: str) -> None:
        self.catalogue = catalogue
        self.vendor = vendor
        self.shop: Shop = catalogue.shops[vendor]
        # path -> (kind, listing pages, title, year page or None)
        self.listing_paths: dict[str, tuple[str, ListingPages, str, YearPage | None]] = {}
        self.year_by_path: dict[str, YearPage] = {}
        self.other_by_path: dict[str, OtherPage] = {}
        for year_page in self.shop.years:
            self.year_by_path[year_page.path] = year_page
            for sub in year_page.sub_categories:
                title = f"{year_page.year} {sub.title}"
                self.listing_paths[sub.listing.path] = (YEAR, sub.listing, title, None)
            if year_page.view_all is not None:
                title = f"{year_page.index_label}: View All"
                self.listing_paths[year_page.view_all.path] = (
                    YEAR,
                    year_page.view_all,
                    title,
                    None,
                )
        for other in self.shop.others:
            self.other_by_path[other.path] = other
        self.category_by_id: dict[int, YearPage | OtherPage] = {
            y.category_id: y for y in self.shop.years
        }
        self.category_by_id.update({o.category_id: o for o in self.shop.others})

    # -- routing -------------------------------------------------------------------

    def resolve(self, path: str, query_string: str) -> Route | None:
        query = parse_qs(query_string) if query_string else {}
        if path == "/robots.txt":
            return Route(ROBOTS_TXT, path, lambda day: ROBOTS, TEXT)
        if path == "/":
            return Route(HOME, path, lambda day: self._home())
        if path == "/favicon.ico":  # browsers ask for it on every page
            return Route(ASSET, path, lambda day: b"", "image/x-icon")
        if path == self.shop.index_path:
            return Route(INDEX, path, lambda day: self._index())
        listing = self.shop.by_path.get(path)
        if listing is not None:
            return Route(PRODUCT, path, lambda day: self._product(listing, day))
        if self.vendor == "hallmark_ornaments":
            return self._resolve_3dcart(path, query)
        if path == "/ajax/years-by-year.json" and self.vendor == "hookedonhallmark":
            return Route(AJAX, path, lambda day: self._hoh_years_json(), JSON)
        page = _page_number(query)
        if page is None:
            return None
        year_page = self.year_by_path.get(path)
        if year_page is not None:
            if year_page.sub_categories:
                if page != 1:
                    return None
                return Route(YEAR, path, lambda day: self._hoh_subcategories(year_page))
            if page > len(year_page.listing.pages):
                return None
            title = year_page.index_label
            return Route(
                YEAR,
                f"{path}?page={page}",
                lambda day: self._listing(year_page.listing, page, title, day, year_page.view_all),
            )
        entry = self.listing_paths.get(path)
        if entry is not None:
            kind, pages, title, _ = entry
            if page > len(pages.pages):
                return None
            return Route(
                kind, f"{path}?page={page}", lambda day: self._listing(pages, page, title, day)
            )
        other = self.other_by_path.get(path)
        if other is not None and page == 1:
            return Route(OTHER, path, lambda day: self._listing(other.listing, 1, other.title, day))
        return None

    def _resolve_3dcart(self, path: str, query: dict[str, list[str]]) -> Route | None:
        if path == "/ajax/quickview-links.json":
            try:
                category = self.category_by_id[int(query.get("cat", [""])[0])]
            except (KeyError, ValueError):
                return None
            key = f"{path}?cat={category.category_id}"
            return Route(AJAX, key, lambda day: self._quickview_json(category.listing), JSON)
        year_page = self.year_by_path.get(path)
        target: YearPage | OtherPage | None = year_page or self.other_by_path.get(path)
        if target is None:
            return None
        view_all = query.get("viewall", [""])[0] == "1"
        kind = BROWSER_YEAR if year_page is not None else OTHER
        key = f"{path}?viewall=1" if view_all else path
        return Route(kind, key, lambda day: self._3dcart_category(target, view_all, day))

    # -- shared pieces -------------------------------------------------------------

    def _home(self) -> bytes:
        index = self.shop.index_path
        body = f'<main><h1>Hallmark Keepsake Ornaments</h1><p><a href="{index}">Ornaments by year</a></p></main>'
        return _page("Home", body, site=self.vendor)

    def _link(self, listing: Listing, pages: ListingPages) -> str:
        return listing.path + TRACKING if pages.tracking else listing.path

    # -- hookedonhallmark ----------------------------------------------------------

    def _index(self) -> bytes:
        if self.vendor == "hookedonhallmark":
            return self._hoh_index()
        if self.vendor == "ornament_shop":
            return self._bc_index()
        return self._3dcart_index()

    def _hoh_entries(self) -> list[dict[str, object]]:
        entries: list[dict[str, object]] = [
            {"href": self.shop.others[0].path, "label": self.shop.others[0].title, "img": False}
        ]
        for year_page in reversed(self.shop.years):
            entries.append(
                {
                    "href": year_page.path,
                    "label": year_page.index_label,
                    "img": year_page.index_uses_img,
                }
            )
        for other in self.shop.others[1:]:
            entries.append({"href": other.path, "label": other.title, "img": False})
        return entries

    def _hoh_years_json(self) -> bytes:
        return json.dumps(self._hoh_entries()).encode()

    def _hoh_index(self) -> bytes:
        script = """<script>
window.addEventListener("load", function () {
  setTimeout(function () {
    fetch("/ajax/years-by-year.json").then(function (r) { return r.json(); }).then(function (entries) {
      var list = document.querySelector("ul.columns-5");
      entries.forEach(function (entry) {
        var li = document.createElement("li"), a = document.createElement("a");
        a.setAttribute("href", entry.href);
        if (entry.img) {
          var img = document.createElement("img");
          img.setAttribute("src", "data:image/gif;base64,R0lGODlhAQABAAAAACw=");
          img.setAttribute("alt", entry.label);
          a.appendChild(img);
        } else {
          var span = document.createElement("span");
          span.textContent = entry.label;
          a.appendChild(span);
        }
        li.appendChild(a);
        list.appendChild(li);
      });
    });
  }, 50);
});
</script>"""
        body = (
            '<div id="content"><h1>Keepsake Hallmark Ornaments by Year</h1>\n'
            "<p>Choose a year to see every Keepsake ornament of that year.</p>\n"
            '<ul class="columns-5"></ul>\n'
            "<noscript>Please enable JavaScript to see the years.</noscript></div>\n" + script
        )
        return _page("Keepsake Hallmark Ornaments by Year", body, site=self.vendor)

    def _hoh_subcategories(self, year_page: YearPage) -> bytes:
        links = "\n".join(
            f'<li><a href="{sub.listing.path}">{html.escape(sub.title)}</a></li>'
            for sub in year_page.sub_categories
        )
        body = (
            f'<div id="content"><h1>{html.escape(year_page.index_label)}</h1>\n'
            f'<p>Shop by category:</p>\n<ul class="sub-categories">\n{links}\n</ul></div>'
        )
        return _page(year_page.index_label, body, site=self.vendor)

    def _listing(
        self,
        pages: ListingPages,
        page: int,
        title: str,
        day: int,
        view_all: ListingPages | None = None,
    ) -> bytes:
        if self.vendor == "ornament_shop":
            return self._bc_listing(pages, page, title, day)
        ids = pages.pages[page - 1] if pages.pages else []
        items = []
        for vendor_id in ids:
            listing = self.shop.listings[vendor_id]
            link = self._link(listing, pages)
            tile = self.catalogue.tile(listing, day)
            price = _tile_price(tile, "div", "price")
            items.append(
                f'<div class="product-item">\n'
                f'  <div class="name"><a href="{_attr(link)}">{listing.name_html}</a></div>\n'
                + (f"  {price}\n" if price else "")
                + _tile_stock(tile)
                + "</div>"
            )
        if not items:
            items.append('<p class="empty">There are no products in this category.</p>')
        paging = ""
        count = len(pages.pages)
        if count > 1:
            links = []

            def href(n: int) -> str:
                return pages.path if n == 1 else f"{pages.path}?page={n}"

            if page > 1:
                links.append(f'<a href="{href(page - 1)}">&laquo; Prev</a>')
            for n in range(1, count + 1):
                links.append(f"<b>{n}</b>" if n == page else f'<a href="{href(n)}">{n}</a>')
            if page < count:
                links.append(f'<a href="{href(page + 1)}">{html.escape(pages.next_text)}</a>')
            paging = '<div class="paging">Page: ' + " | ".join(links) + "</div>"
        above = (
            ""
            if view_all is None
            else f'<div class="view-all-link"><a href="{view_all.path}">View All '
            f"{len(view_all.vendor_ids())} Products</a></div>\n"
        )
        body = (
            f'<div id="content"><h1>{html.escape(title)}</h1>\n{above}<div class="products">\n'
            + "\n".join(items)
            + f"\n</div>\n{paging}</div>"
        )
        return _page(title, body, site=self.vendor)

    def _hoh_product(self, listing: Listing, state: DayState) -> bytes:
        bad = listing.malformed
        vendor_id = "" if bad == "missing_vendor_id" else listing.vendor_id_shown
        name = "" if bad == "missing_name" else listing.name_html
        sku = "" if bad == "missing_sku" else listing.sku_shown
        if bad == "missing_price":
            price_row = ""
        else:
            if bad == "bad_price":
                shown = "Call for price"
            elif state.was_price is not None:
                shown = f"<s>{money(state.was_price)}</s> {money(state.price)}"
            else:
                shown = money(state.price)
            price_row = f'<tr><th>Price:</th><td><span id="price">{shown}</span></td></tr>\n'
        body = (
            '<div id="content" class="product-page">\n'
            '<form id="add" method="post" action="/cart.php">\n'
            f'<input type="hidden" name="item_id" value="{_attr(vendor_id)}">\n'
            '<input type="hidden" name="mode" value="add">\n'
            f"<h1>{name}</h1>\n"
            '<table class="details">\n'
            f'<tr><th>Item #:</th><td><span id="product_id">{html.escape(sku)}</span></td></tr>\n'
            f"{price_row}"
            f'<tr><th>Availability:</th><td><span id="availability">{state.stock_text}</span></td></tr>\n'
            "</table>\n"
            '<label>Qty <input type="text" name="qty" value="1" size="3"></label>\n'
            '<button type="submit">Add to Cart</button>\n</form>\n'
            '<div class="description"><p>A Hallmark Keepsake Ornament. Dated. '
            "Handcrafted. Comes in its original box.</p></div>\n</div>"
        )
        return _page(listing.name, body, site=self.vendor)

    # -- ornament_shop (BigCommerce) -----------------------------------------------

    def _bc_index(self) -> bytes:
        entries = [[other.path, other.title] for other in self.shop.others[:1]]
        entries += [[y.path, y.index_label] for y in reversed(self.shop.years)]
        entries += [[other.path, other.title] for other in self.shop.others[1:]]
        payload = base64.b64encode(json.dumps(entries).encode()).decode()
        script = f"""<script>
(function () {{
  var payload = "{payload}";
  function buildMegaMenu() {{
    var list = document.getElementById("navPages-years");
    JSON.parse(atob(payload)).forEach(function (entry) {{
      var li = document.createElement("li"), a = document.createElement("a");
      li.className = "navList-item";
      a.className = "navList-action";
      a.setAttribute("href", entry[0]);
      a.textContent = entry[1];
      li.appendChild(a);
      list.appendChild(li);
    }});
  }}
  window.addEventListener("load", function () {{ setTimeout(buildMegaMenu, 50); }});
}})();
</script>"""
        body = (
            '<main class="page"><h1 class="page-heading">Hallmark Ornaments by Year</h1>\n'
            '<nav class="navPages"><ul class="navList" id="navPages-years"></ul></nav>\n'
            "</main>\n" + script
        )
        return _page("Hallmark Ornaments by Year", body, site=self.vendor)

    def _bc_listing(self, pages: ListingPages, page: int, title: str, day: int) -> bytes:
        ids = pages.pages[page - 1] if pages.pages else []
        cards = []
        for vendor_id in ids:
            listing = self.shop.listings[vendor_id]
            link = _attr(self._link(listing, pages))
            tile = self.catalogue.tile(listing, day)
            price = ""
            if tile.was_price is not None:
                price += f'<span class="price price--rrp">{money(tile.was_price)}</span> '
            price += _tile_price(
                Tile(tile.price, None, None, tile.unreadable_text),
                "span",
                "price price--withoutTax",
            )
            cards.append(
                f'<li class="product">\n<article class="card" data-entity-id="{vendor_id}">\n'
                f'  <figure class="card-figure"><a href="{link}" class="card-figure__link">'
                '<div class="card-img-container"></div></a></figure>\n'
                f'  <div class="card-body">\n    <p class="card-text" data-test-info-type="brandName">'
                f"{html.escape(listing.brand)}</p>\n"
                f'    <h3 class="card-title"><a href="{link}">{listing.name_html}</a></h3>\n'
                f'    <div class="card-text" data-test-info-type="price">{price}</div>\n'
                "  </div>\n</article>\n</li>"
            )
        pagination = ""
        count = len(pages.pages)
        if count > 1:

            def href(n: int) -> str:
                return pages.path if n == 1 else f"{pages.path}?page={n}"

            items = []
            if page > 1:
                items.append(
                    '<li class="pagination-item pagination-item--previous">'
                    f'<a class="pagination-link" href="{href(page - 1)}">Previous</a></li>'
                )
            for n in range(1, count + 1):
                current = " pagination-item--current" if n == page else ""
                items.append(
                    f'<li class="pagination-item{current}"><a class="pagination-link" href="{href(n)}">{n}</a></li>'
                )
            if page < count:
                items.append(
                    '<li class="pagination-item pagination-item--next">'
                    f'<a class="pagination-link" href="{href(page + 1)}">Next</a></li>'
                )
            pagination = (
                '<nav class="pagination" aria-label="pagination"><ul class="pagination-list">\n'
                + "\n".join(items)
                + "\n</ul></nav>"
            )
        grid = "\n".join(cards) or '<p class="empty">No products found.</p>'
        body = (
            f'<main class="page"><h1 class="page-heading">{html.escape(title)}</h1>\n'
            f'<ul class="productGrid">\n{grid}\n</ul>\n{pagination}\n</main>'
        )
        return _page(title, body, site=self.vendor)

    def _bc_product(self, listing: Listing, state: DayState) -> bytes:
        bad = listing.malformed
        name = "" if bad == "missing_name" else listing.name_html
        sku = "" if bad == "missing_sku" else listing.sku_shown
        vendor_id = "" if bad == "missing_vendor_id" else listing.vendor_id_shown
        has_price = bad not in ("missing_price", "bad_price")
        price_json: dict[str, object] | None = None
        if has_price:
            data_price = _conflicting(state.price) if bad == PRICE_CONFLICT else state.price
            price_json = {
                "without_tax": {
                    "formatted": money(data_price),
                    "value": float(data_price),
                    "currency": "USD",
                }
            }
            if state.was_price is not None:
                price_json["rrp_without_tax"] = {
                    "formatted": money(state.was_price),
                    "value": float(state.was_price),
                    "currency": "USD",
                }
        bc_data = {
            "csrf_token": "replica",
            "product_attributes": {
                "sku": sku,
                "upc": None,
                "instock": state.in_stock,
                "stock": None,
                "purchasable": state.in_stock,
                "price": price_json,
            },
        }
        head = f"<script>var BCData = {json.dumps(bc_data)};</script>\n"
        price_parts = []
        if state.was_price is not None and has_price:
            price_parts.append(
                '<div class="price-section price-section--withoutTax rrp-price--withoutTax">MSRP: '
                f'<span data-product-rrp-price-without-tax class="price price--rrp">{money(state.was_price)}</span></div>'
            )
        if bad != "missing_price":
            shown = "Call for price" if bad == "bad_price" else money(state.price)
            price_parts.append(
                '<div class="price-section price-section--withoutTax"><span class="price-label">Price:</span> '
                f'<span data-product-price-without-tax class="price price--withoutTax">{shown}</span></div>'
            )
        info = []
        if listing.brand_shown is not None:
            info.append(
                '<dt class="productView-info-name">Brand:</dt>\n'
                f'<dd class="productView-info-value"><a href="/brands/{_attr(listing.brand_shown.replace(" ", "-"))}.html">'
                f"<span>{html.escape(listing.brand_shown)}</span></a></dd>"
            )
        info.append(
            '<dt class="productView-info-name">SKU:</dt>\n'
            f'<dd class="productView-info-value" data-product-sku>{html.escape(sku)}</dd>'
        )
        availability = (
            '<dt class="productView-info-name">Availability:</dt>\n'
            f'<dd class="productView-info-value">{state.stock_text}</dd>'
        )
        info += (
            self._bc_live_rows(listing, availability)
            if self.catalogue.live_variants
            else [availability]
        )
        body = (
            '<main class="page"><div class="productView">\n'
            '<section class="productView-details product-data"><div class="productView-product">\n'
            f'<h1 class="productView-title">{name}</h1>\n'
            f'<div class="productView-price">\n{chr(10).join(price_parts)}\n</div>\n'
            f'<dl class="productView-info">\n{chr(10).join(info)}\n</dl>\n</div></section>\n'
            '<section class="productView-details product-options">\n'
            '<form class="form" method="post" action="/cart.php" enctype="multipart/form-data" data-cart-item-add>\n'
            '<input type="hidden" name="action" value="add">\n'
            f'<input type="hidden" name="product_id" value="{_attr(vendor_id)}">\n'
            '<input class="form-input" name="qty[]" type="tel" value="1">\n'
            '<input id="form-action-addToCart" type="submit" class="button button--primary" value="Add to Cart">\n'
            "</form></section>\n</div></main>"
        )
        return _page(listing.name, body, head=head, site=self.vendor)

    def _bc_live_rows(self, listing: Listing, availability: str) -> list[str]:
        """The live store's other rows around ``Availability:``, in a per-product order;
        some products have no ``Availability:`` row (their stock is only in BCData)."""
        rng = random.Random(f"{self.catalogue.seed}:{listing.key}:info")
        rows = [
            '<dt class="productView-info-name">Condition:</dt>\n'
            '<dd class="productView-info-value">New</dd>',
            '<dt class="productView-info-name">Weight:</dt>\n'
            f'<dd class="productView-info-value">{rng.choice(("0.25", "0.40", "0.50", "1.00"))} LBS</dd>',
            '<dt class="productView-info-name">Shipping:</dt>\n'
            f'<dd class="productView-info-value">{rng.choice(("Calculated at Checkout", "Free Shipping"))}</dd>',
        ]
        if rng.random() >= 0.2:
            rows.append(availability)
        rng.shuffle(rows)
        return rows

    # -- hallmark_ornaments (3dcart) -----------------------------------------------

    def _3dcart_index(self) -> bytes:
        entries = [(o.path, o.title) for o in self.shop.others[:1]]
        entries += [(y.path, y.index_label) for y in reversed(self.shop.years)]
        entries += [(o.path, o.title) for o in self.shop.others[1:]]
        links = "\n".join(
            f'<div class="subcat-item"><a class="subcat" href="{path}"><span>{html.escape(label)}</span></a></div>'
            for path, label in entries
        )
        body = (
            '<div id="mainContent"><h1 class="page_header">Hallmark Ornaments By Year</h1>\n'
            f'<div class="subcategories">\n{links}\n</div></div>'
        )
        return _page("Hallmark Ornaments By Year", body, site=self.vendor)

    def _quickview_json(self, pages: ListingPages) -> bytes:
        links = {}
        for vendor_id in pages.vendor_ids():
            links[vendor_id] = self._link(self.shop.listings[vendor_id], pages)
        return json.dumps(links).encode()

    def _3dcart_category(self, target: YearPage | OtherPage, view_all: bool, day: int) -> bytes:
        pages = target.listing
        every = pages.vendor_ids()
        total = len(every)
        shown = every if view_all else every[: self.shop.page_size]
        tiles = []
        for vendor_id in shown:
            listing = self.shop.listings[vendor_id]
            tile = self.catalogue.tile(listing, day)
            price = _tile_price(Tile(tile.price, None, None, tile.unreadable_text), "span", "price")
            tiles.append(
                f'<div class="product-item" data-catalogid="{vendor_id}">\n'
                f'  <div class="product-image"><a class="quickview" data-catalogid="{vendor_id}">Quick View</a></div>\n'
                f'  <div class="product-name">{listing.name_html}</div>\n'
                f'  <div class="product-price">{price}</div>\n{_tile_stock(tile)}</div>'
            )
        first = 1 if shown else 0
        count = f"{first} - {len(shown)} of {total} Products"
        view_all_link = (
            ""
            if view_all or total <= len(shown)
            else f'<a class="view-all" href="{target.path}?viewall=1">View All</a>'
        )
        title = target.index_label if isinstance(target, YearPage) else target.title
        script = f"""<script>
window.addEventListener("load", function () {{
  setTimeout(function () {{
    var block = document.getElementById("productCategoryBlock");
    fetch("/ajax/quickview-links.json?cat={target.category_id}").then(function (r) {{ return r.json(); }}).then(function (links) {{
      block.querySelectorAll(".product-item").forEach(function (tile) {{
        var href = links[tile.getAttribute("data-catalogid")];
        if (href) {{ tile.querySelector("a.quickview").setAttribute("href", href); }}
      }});
      block.setAttribute("data-quickview", "ready");
    }});
  }}, 50);
}});
</script>"""
        body = (
            f'<div id="mainContent"><h1 class="page_header">{html.escape(title)}</h1>\n'
            f'<div class="category-toolbar"><div class="product-count">{count}</div>{view_all_link}</div>\n'
            f'<div id="productCategoryBlock">\n{chr(10).join(tiles)}\n</div></div>\n{script}'
        )
        return _page(title, body, site=self.vendor)

    def _3dcart_product(self, listing: Listing, state: DayState) -> bytes:
        bad = listing.malformed
        name = "" if bad == "missing_name" else listing.name_html
        sku = "" if bad == "missing_sku" else listing.sku_shown
        vendor_id = "" if bad == "missing_vendor_id" else listing.vendor_id_shown
        # A price conflict: one of the two price sources shows another amount.
        data_price = visible_price = state.price
        if bad == PRICE_CONFLICT:
            if _unit("conflict", listing.key) < 0.5:
                data_price = _conflicting(state.price)
            else:
                visible_price = _conflicting(state.price)
        if bad == "bad_price":
            price_value = '"Call for price"'
        elif listing.price_as_string:
            price_value = f'"{data_price:.2f}"'
        else:
            price_value = _json_number(data_price)
        fields = [
            f'"catalogid": {json.dumps(vendor_id)}',
            f'"id": {json.dumps(sku)}',
            f'"name": {json.dumps(name)}',
        ]
        if bad != "missing_price":
            fields.append(f'"price": {price_value}')
        fields += [f'"availability": {1 if state.in_stock else 0}', '"currency": "USD"']
        item = "{" + ", ".join(fields) + "}"
        if bad == "bad_product_data":
            # Two ways shops break it: a JS literal with single quotes, or a cut-off object.
            if _unit("broken", listing.key) < 0.5:
                item = item.replace('"', "'")
            else:
                item = item[: len(item) // 2]
        head = f'<script type="text/javascript">\nvar _3d_item = {item};\n</script>\n'
        if self.catalogue.live_variants:
            before = 1 + int(_unit("head-scripts", listing.key) * len(_3DCART_HEAD_SCRIPTS))
            head = "".join(_3DCART_HEAD_SCRIPTS[:before]) + head
            head += "".join(_3DCART_HEAD_SCRIPTS[before:])
        was = (
            f'<span class="old-price">{money(state.was_price)}</span> '
            if state.was_price is not None and bad not in ("missing_price", "bad_price")
            else ""
        )
        if bad == "missing_price":
            price_html = ""
        elif bad == "bad_price":
            price_html = '<span class="price">Call for price</span>'
        else:
            price_html = f'{was}<span class="price">{money(visible_price)}</span>'
        body = (
            '<div id="mainContent"><div id="itemPage">\n'
            f'<h1 class="product-title">{name}</h1>\n'
            f'<div class="product-code">Item #: <span>{html.escape(sku)}</span></div>\n'
            f'<div class="prices">{price_html}</div>\n'
            f'<div class="stock">{state.stock_text}</div>\n'
            '<form method="post" action="/add_cart.asp">'
            f'<input type="hidden" name="item_id" value="{_attr(vendor_id)}">'
            '<input type="submit" value="Add to Cart"></form>\n</div></div>'
        )
        return _page(listing.name, body, head=head, site=self.vendor)

    # -- product pages -------------------------------------------------------------

    def _product(self, listing: Listing, day: int) -> bytes:
        state = self.catalogue.state(listing, day)
        if self.vendor == "hookedonhallmark":
            return self._hoh_product(listing, state)
        if self.vendor == "ornament_shop":
            return self._bc_product(listing, state)
        return self._3dcart_product(listing, state)
