"""The spreads, rarest and years pages against the API's answers on the same data."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from christmas_spiders.dashboard.rankings import year_chart
from tests.fixtures.api import ApiDatabase, add_key, make_api_database, remove_api_database
from tests.test_dashboard_session import log_in

pytestmark = pytest.mark.postgres

SKU_LINK = re.compile(r'<td><a href="/ornaments/([^"]+)">')


@pytest.fixture
def logged_in(make_app: Callable[..., Flask], api_key: str, tmp_path: Path) -> FlaskClient:
    app = make_app()
    app.config["CHRISTMAS"]["dashboard"]["secret_key_file"] = str(tmp_path / "secret")
    client = app.test_client()
    log_in(client, api_key)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    return client


def api_rows(client: FlaskClient, query: str) -> list[dict]:
    answer = client.get(f"/api/v1/ornaments?{query}&limit=50")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["data"]


def page_skus(client: FlaskClient, path: str) -> list[str]:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return SKU_LINK.findall(page.get_data(as_text=True))


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/spreads", "sort=-spread&min_offers=2"),
        ("/spreads?sort=percent", "sort=-spread_percent&min_offers=2"),
        ("/spreads?year={year}", "sort=-spread&min_offers=2&release_year={year}"),
    ],
)
def test_spreads_are_the_apis_biggest_spreads(
    logged_in: FlaskClient, path: str, query: str
) -> None:
    # A year with a spread: the year of the biggest one.
    year = api_rows(logged_in, "sort=-spread")[0]["release_year"]
    path, query = path.format(year=year), query.format(year=year)
    expected = [row["sku"] for row in api_rows(logged_in, query) if row["spread"] is not None]
    assert expected, "the seed has ornaments in stock at two shops"
    assert page_skus(logged_in, path) == expected


# A spreads row's sku and price cells: cheapest (price, shop), dearest, spread, percent.
SPREAD_ROW = re.compile(
    r'<tr>\n  <td><a href="/ornaments/([^"]+)">[^<]*</a></td>\n  <td>[^<]*</td>\n'
    r'  <td class="num">[^<]*</td>\n'
    r'  <td>\$([^ ]+) <span class="hint">([^<]*)</span></td>\n'
    r'  <td>\$([^ ]+) <span class="hint">([^<]*)</span></td>\n'
    r'  <td class="num">\$([^<]+)</td>\n  <td class="num">([^<]+)</td>\n</tr>'
)


def test_spreads_show_the_apis_prices_and_percents(logged_in: FlaskClient) -> None:
    expected = [
        (
            row["sku"],
            row["cheapest"]["price"],
            row["cheapest"]["vendor"],
            row["dearest"]["price"],
            row["dearest"]["vendor"],
            row["spread"]["amount"],
            row["spread"]["percent"] or "\u2013",
        )
        for row in api_rows(logged_in, "sort=-spread_percent&min_offers=2")
        if row["spread"] is not None
    ]
    assert expected, "the seed has ornaments in stock at two shops"
    page = logged_in.get("/spreads?sort=percent").get_data(as_text=True)
    assert SPREAD_ROW.findall(page) == expected


@pytest.mark.parametrize(
    ("path", "query"),
    [("/rarest", "sort=rarity"), ("/rarest?view=sold-out", "sort=rarity&in_stock_offers=0")],
)
def test_rarest_are_the_apis_rarest(logged_in: FlaskClient, path: str, query: str) -> None:
    expected = [row["sku"] for row in api_rows(logged_in, query)]
    assert expected
    assert page_skus(logged_in, path) == expected


def test_bad_page_parameters_are_400_pages(logged_in: FlaskClient) -> None:
    for path in ("/spreads?sort=nope", "/spreads?year=19x9", "/rarest?view=common"):
        page = logged_in.get(path)
        assert page.status_code == 400, path
        assert page.mimetype == "text/html"


def test_the_year_page_charts_the_apis_year_figures(logged_in: FlaskClient) -> None:
    stats = logged_in.get("/api/v1/stats/years").get_json()["data"]
    page = logged_in.get("/years").get_data(as_text=True)
    assert 'id="year-prices-chart"' in page
    for row in stats:
        assert f"<td>{row['vendor']}</td>" in page
    medians = {
        (row["vendor"], row["release_year"]): float(row["median_price"])
        for row in stats
        if row["median_price"] is not None
    }
    chart = year_chart(
        [
            {
                **row,
                "median_price": None if row["median_price"] is None else float(row["median_price"]),
            }
            for row in stats
        ]
    )
    charted = {
        (series["label"], point["x"]): point["y"]
        for series in chart["prices"]
        for point in series["points"]
    }
    assert charted == medians


@pytest.fixture
def own_db(pg_admin_url: str) -> Iterator[ApiDatabase]:
    """The API seed in a database of this test's own (the test writes to it)."""
    database = make_api_database(pg_admin_url)
    yield database
    remove_api_database(pg_admin_url, database)


def test_the_year_page_is_at_most_years_cache_seconds_old(
    make_app: Callable[..., Flask], own_db: ApiDatabase, tmp_path: Path
) -> None:
    app = make_app(own_db)
    dashboard = app.config["CHRISTMAS"]["dashboard"]
    dashboard["secret_key_file"] = str(tmp_path / "secret")
    dashboard["years_cache_seconds"] = 300.0
    client = app.test_client()
    log_in(client, add_key(own_db.owner_url, "years-cache"))
    first = client.get("/years").get_data(as_text=True)
    assert 'id="year-growth-chart"' not in first  # no retail prices in the seed
    assert "computed again at most every 300 seconds" in first
    engine = create_engine(own_db.owner_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO retail_prices (sku, release_year, retail_price) "
                    "SELECT DISTINCT ON (sku) sku, release_year, 10 FROM products"
                )
            )
    finally:
        engine.dispose()
    # Within the time the figures are kept: the page computed before the import.
    assert client.get("/years").get_data(as_text=True) == first
    dashboard["years_cache_seconds"] = 1.0
    time.sleep(1.2)
    fresh = client.get("/years").get_data(as_text=True)
    assert 'id="year-growth-chart"' in fresh
    assert fresh != first


def test_year_chart_puts_the_index_beside_the_shops() -> None:
    rows = [
        {"vendor": "a", "release_year": 2000, "median_price": 10, "basket_growth": 0.05,
         "index_growth": 0.07},
        {"vendor": "a", "release_year": 2001, "median_price": 12, "basket_growth": None,
         "index_growth": 0.06},
        {"vendor": "b", "release_year": 2000, "median_price": 9, "basket_growth": 0.02,
         "index_growth": 0.07},
        {"vendor": "b", "release_year": None, "median_price": 3, "basket_growth": 0.5,
         "index_growth": None},
    ]  # fmt: skip
    chart = year_chart(rows)
    assert chart["prices"] == [
        {"label": "a", "points": [{"x": 2000, "y": 10.0}, {"x": 2001, "y": 12.0}]},
        {"label": "b", "points": [{"x": 2000, "y": 9.0}]},
    ]
    assert chart["growth"] == [
        {"label": "a", "points": [{"x": 2000, "y": 5.0}]},
        {"label": "b", "points": [{"x": 2000, "y": 2.0}]},
        {"label": "index", "points": [{"x": 2000, "y": 7.0}, {"x": 2001, "y": 6.0}]},
    ]
    assert year_chart([])["growth"] == []


def test_a_spreads_row_escapes_as_the_templates_do() -> None:
    from markupsafe import escape

    from christmas_spiders.dashboard.rankings import html

    text = """Santa's <b>"Sleigh"</b> & 'Reindeer' >"""
    assert html(text) == str(escape(text))


@pytest.mark.parametrize(
    ("sku", "href", "shown"),
    [
        ("QX5257", "/dash/ornaments/QX5257", "QX5257"),
        # Quoted for the link, then escaped for HTML, as the template's urlencode and escape.
        ("QX 1/<b>&'", "/dash/ornaments/QX%201/%3Cb%3E%26%27", "QX 1/&lt;b&gt;&amp;&#39;"),
    ],
)
def test_a_spreads_row_links_and_shows_its_sku(sku: str, href: str, shown: str) -> None:
    from christmas_spiders.dashboard.rankings import html, spread_row

    row = (
        sku,
        ["A <b>"],
        None,
        "shop & co",
        "5.00",
        "b",
        "7.50",
        "2.50",
        "50.0",
    )
    cells = spread_row(row, html("/dash/ornaments/"))
    assert f'<td><a href="{href}">{shown}</a></td>' in cells
    assert "<td>A &lt;b&gt;</td>" in cells
    assert '<td class="num">\u2013</td>' in cells
    assert '<td>$5.00 <span class="hint">shop &amp; co</span></td>' in cells
    assert '<td class="num">$2.50</td>' in cells
    assert '<td class="num">50.0</td>' in cells


@pytest.mark.parametrize(
    ("path", "links"),
    [
        ("/spreads", ['href="/spreads"', 'href="/spreads?sort=percent"']),
        (
            "/spreads?sort=percent&year=2001",
            ['href="/spreads?year=2001"', 'href="/spreads?sort=percent&amp;year=2001"'],
        ),
        # A year that is not plain digits is url_for's, encoded as it encodes it.
        (
            "/rarest?year=%202001",
            ['href="/rarest?year=+2001"', 'href="/rarest?view=sold-out&amp;year=+2001"'],
        ),
        (
            "/rarest?year=2001",
            ['href="/rarest?year=2001"', 'href="/rarest?view=sold-out&amp;year=2001"'],
        ),
    ],
)
def test_a_listings_tabs_keep_its_year(logged_in: FlaskClient, path: str, links: list[str]) -> None:
    page = logged_in.get(path)
    assert page.status_code == 200
    tabs = re.search(r'<nav class="tabs".*?</nav>', page.get_data(as_text=True), re.DOTALL)
    assert tabs is not None
    assert re.findall(r'href="[^"]*"', tabs.group(0)) == links
