"""/api/v1/stats/years: appreciation against retail prices and against an index."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from christmas_spiders.db.imports import import_index_closes, import_retail_prices
from christmas_spiders.db.ornaments import year_stats
from tests.fixtures.api import add_key, make_api_database, remove_api_database
from tests.test_api_csv import read_csv

YEAR = 365.25


@pytest.fixture(scope="module")
def years_db(pg_admin_url, tmp_path_factory):
    """The API seed with retail prices for every other sku and two closes a year."""
    database = make_api_database(pg_admin_url)
    folder: Path = tmp_path_factory.mktemp("years")
    retail = {
        sku: (year, Decimal(10) + Decimal(index) / 4)
        for index, (sku, year) in enumerate(
            sorted({(p["sku"], p["release_year"]) for p in database.products})
        )
        if index % 2 == 0
    }
    (folder / "retail.csv").write_text(
        "sku,release_year,retail_price\n"
        + "".join(f"{sku},{year},{price}\n" for sku, (year, price) in retail.items())
    )
    closes = {}
    for year in range(2016, 2027):
        closes[dt.date(year, 1, 4)] = Decimal(100) * Decimal("1.07") ** (year - 2016)
        closes[dt.date(year, 7, 1)] = Decimal(103) * Decimal("1.07") ** (year - 2016)
    (folder / "index.csv").write_text(
        "date,close\n" + "".join(f"{day},{close:.4f}\n" for day, close in closes.items())
    )
    engine = create_engine(database.owner_url)
    try:
        import_retail_prices(engine, folder / "retail.csv")
        import_index_closes(engine, folder / "index.csv")
    finally:
        engine.dispose()
    database.retail = retail  # type: ignore[attr-defined]
    database.closes = {day: round(close, 4) for day, close in closes.items()}  # type: ignore[attr-defined]
    yield database
    remove_api_database(pg_admin_url, database)


@pytest.fixture(scope="module")
def years_key(years_db) -> str:
    return add_key(years_db.owner_url, "years")


@pytest.fixture
def years_client(make_app, years_db, years_key):
    client = make_app(years_db).test_client()
    client.environ_base["HTTP_X_API_KEY"] = years_key
    return client


def growth(ratio: float, years: float) -> float | None:
    return None if years < 1 else ratio ** (1 / years) - 1


def test_appreciation_per_vendor_and_year(years_client, years_db):
    today = dt.datetime.now(dt.UTC).date()
    groups = defaultdict(list)
    for product in years_db.products:
        groups[(product["vendor"], product["release_year"])].append(product)
    latest = max(years_db.closes)
    rows = years_client.get("/api/v1/stats/years").get_json()["data"]
    assert [(r["vendor"], r["release_year"]) for r in rows] == sorted(groups)
    known_somewhere = False
    for row in rows:
        year = row["release_year"]
        priced = [
            (p["price"], years_db.retail[p["sku"]][1])
            for p in groups[(row["vendor"], year)]
            if p["sku"] in years_db.retail
        ]
        assert row["retail_known"] == len(priced)
        first = min((day for day in years_db.closes if day.year == year), default=None)
        if first is None:
            assert row["index_growth"] is None
        else:
            ratio = float(years_db.closes[latest] / years_db.closes[first])
            want = growth(ratio, (latest - first).days / YEAR)
            assert row["index_growth"] == (None if want is None else pytest.approx(want, abs=1e-4))
        if not priced:
            assert row["median_multiple"] is row["basket_multiple"] is row["basket_growth"] is None
            continue
        known_somewhere = True
        median = statistics.median(float(price / retail) for price, retail in priced)
        assert row["median_multiple"] == pytest.approx(median, abs=1e-3)
        basket = float(sum(p for p, _ in priced) / sum(r for _, r in priced))
        assert row["basket_multiple"] == pytest.approx(basket, abs=1e-3)
        want = growth(basket, (today - dt.date(year, 1, 1)).days / YEAR)
        assert row["basket_growth"] == (None if want is None else pytest.approx(want, abs=1e-4))
    assert known_somewhere
    # 2015 has no closes; 2016 on have.
    assert {r["release_year"] for r in rows if r["index_growth"] is not None} == set(
        range(2016, 2025)
    )


def test_the_dashboard_function_answers_the_same(years_client, years_db):
    engine = create_engine(years_db.owner_url)
    try:
        with engine.connect() as conn:
            rows = year_stats(conn, vendors=["ornament_shop"], year_min=2018)
    finally:
        engine.dispose()
    served = years_client.get("/api/v1/stats/years?vendor=ornament_shop&year_min=2018")
    assert [
        {k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()} for row in rows
    ] == served.get_json()["data"]


def test_years_csv_carries_the_appreciation(years_client):
    rows = years_client.get("/api/v1/stats/years").get_json()["data"]
    lines = read_csv(years_client.get("/api/v1/stats/years?format=csv"))
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        for name in ("retail_known", "median_multiple", "basket_growth", "index_growth"):
            assert line[name] == ("" if row[name] is None else str(row[name]))


def test_without_retail_prices_or_an_index_the_figures_are_null(client):
    rows = client.get("/api/v1/stats/years").get_json()["data"]
    assert rows
    for row in rows:
        assert row["retail_known"] == 0
        assert row["median_multiple"] is None
        assert row["basket_growth"] is None
        assert row["index_growth"] is None
