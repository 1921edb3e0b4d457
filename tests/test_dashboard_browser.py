"""The dashboard in a real Chromium: pages, the price chart, login and logout, a phone's width."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import create_engine, text

from tests.fixtures.api import ApiDatabase
from tests.fixtures.dashboard import PHONE_WIDTH, Browser

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def charted_sku(database: ApiDatabase) -> str:
    """A sku two or more shops list, one of whose prices changed (a chart with steps)."""
    changed = {row["product_id"] for row in database.audit if row["operation"] == "UPDATE"}
    offers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for product in database.products:
        offers[product["sku"]].append(product)
    return min(
        sku
        for sku, products in offers.items()
        if len({product["vendor"] for product in products}) >= 2
        and any(product["id"] in changed for product in products)
    )


def stored_prices(database: ApiDatabase, sku: str) -> dict[str, list[Decimal]]:
    """vendor -> the prices price_history holds for that shop's offer of ``sku``, oldest first."""
    engine = create_engine(database.owner_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT p.vendor, h.price FROM price_history h JOIN products p"
                    " ON p.id = h.product_id WHERE p.sku = :sku ORDER BY p.vendor, h.valid_from"
                ),
                {"sku": sku},
            ).all()
    finally:
        engine.dispose()
    prices: dict[str, list[Decimal]] = defaultdict(list)
    for vendor, price in rows:
        prices[vendor].append(price)
    return dict(prices)


def pages(database: ApiDatabase) -> list[str]:
    return [
        "/",
        "/search?q=Santa",
        f"/ornaments/{charted_sku(database)}",
        "/shops",
        "/changes",
        "/changes?kind=drop",
        "/changes?kind=sellout",
        "/spreads",
        "/rarest",
        "/rarest?view=sold-out",
        "/years",
    ]


CHART_JS = """
const chart = Chart.getChart(document.getElementById('price-chart'));
if (!chart) { return null; }
return chart.data.datasets.map(d => ({label: d.label, points: d.data,
    drawn: chart.getDatasetMeta(d.index === undefined ? chart.data.datasets.indexOf(d) : d.index)
        .data.length}));
"""


def test_pages_without_a_session_go_to_login(dashboard_browser: Browser) -> None:
    for path in ("/", "/shops", "/changes?kind=drop"):
        dashboard_browser.get(path)
        assert dashboard_browser.path.startswith("/login?next="), path
        assert dashboard_browser.driver.find_element(By.NAME, "api_key")


def test_login_sets_a_safe_cookie_and_logout_ends_the_session(
    dashboard_browser: Browser,
) -> None:
    dashboard_browser.log_in(next_path="/shops")
    assert dashboard_browser.path == "/shops"
    assert dashboard_browser.driver.find_element(By.TAG_NAME, "h1").text == "Shops"
    (cookie,) = dashboard_browser.driver.get_cookies()
    assert cookie["name"] == "christmas_dashboard"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert dashboard_browser.server.key not in cookie["value"]
    # Scripts cannot read it.
    assert "christmas_dashboard" not in dashboard_browser.driver.execute_script(
        "return document.cookie"
    )
    dashboard_browser.driver.find_element(By.LINK_TEXT, "Log out").click()
    assert dashboard_browser.path == "/login"
    dashboard_browser.get("/shops")
    assert dashboard_browser.path.startswith("/login?next=")


def test_a_wrong_key_is_refused(dashboard_browser: Browser) -> None:
    dashboard_browser.log_in(key="cs_not-a-key", next_path="/shops")
    assert dashboard_browser.path == "/login"
    error = dashboard_browser.driver.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert "unknown or revoked" in error.text
    dashboard_browser.get("/shops")
    assert dashboard_browser.path.startswith("/login?next=")
    # The right key still works afterwards (a new form, a new token).
    dashboard_browser.log_in(next_path="/shops")
    assert dashboard_browser.path == "/shops"


def test_every_page_loads_without_a_console_error(
    dashboard_browser: Browser, api_db: ApiDatabase
) -> None:
    dashboard_browser.log_in()
    assert dashboard_browser.console_errors() == []
    for path in pages(api_db):
        dashboard_browser.get(path)
        assert dashboard_browser.path == path
        assert dashboard_browser.driver.find_element(By.TAG_NAME, "h1").text
        assert dashboard_browser.console_errors() == [], path


def test_the_chart_draws_one_series_per_shop_with_the_stored_prices(
    dashboard_browser: Browser, api_db: ApiDatabase
) -> None:
    sku = charted_sku(api_db)
    expected = stored_prices(api_db, sku)
    dashboard_browser.log_in(next_path=f"/ornaments/{sku}")
    series = dashboard_browser.driver.execute_script(CHART_JS)
    assert series is not None, "no Chart.js chart on the ornament page"
    assert sorted(line["label"] for line in series) == sorted(expected)
    availability = {
        product["vendor"]: product["availability"]
        for product in api_db.products
        if product["sku"] == sku
    }
    for line in series:
        prices = [Decimal(str(point["y"])).quantize(Decimal("0.01")) for point in line["points"]]
        # Each stored price is a step, in order; the last one is drawn on to now.
        assert prices[:-1] == expected[line["label"]], line["label"]
        assert prices[-1] == expected[line["label"]][-1]
        assert line["drawn"] == len(line["points"])
        xs = [point["x"] for point in line["points"]]
        assert xs == sorted(xs)
        # The seed records one availability per offer: sold-out offers are marked throughout.
        sold_out = availability[line["label"]] != "in_stock"
        assert {point["s"] for point in line["points"]} == {int(sold_out)}
    assert dashboard_browser.console_errors() == []


def test_the_layout_holds_at_a_phones_width(
    dashboard_browser: Browser, api_db: ApiDatabase
) -> None:
    dashboard_browser.log_in()
    dashboard_browser.phone()
    for path in ["/login", *pages(api_db)]:
        dashboard_browser.get(path)
        width, inner = dashboard_browser.driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert inner == PHONE_WIDTH
        assert width <= inner, f"{path}: {width}px of content in a {inner}px window"
