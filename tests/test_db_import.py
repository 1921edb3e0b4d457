"""`christmas db import-retail-prices` and `christmas db import-index`: all or nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import text

from christmas_spiders.cli import main
from replicas.catalogue import generate_catalogue
from replicas.market import index_csv, retail_prices_csv


def christmas(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["db", "--database-url", database_url, *args], prog_name="christmas"
    )


def table(engine, statement: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(statement))]


def write(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


RETAIL = "SELECT sku, release_year, retail_price FROM retail_prices ORDER BY sku"
CLOSES = "SELECT date, close FROM index_closes ORDER BY date"


def test_retail_prices_are_imported_then_replaced(tmp_path, migrated_database_url, storage_engine):
    first = write(
        tmp_path / "retail.csv",
        "sku,release_year,retail_price\nQX5257,2019,14.99\n qx 6001 ,2020,$19.99\n\n",
    )
    result = christmas(migrated_database_url, "import-retail-prices", str(first))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{first}: 2 retail prices: 2 new, 0 replaced"
    assert table(storage_engine, RETAIL) == [
        ("QX5257", 2019, Decimal("14.99")),
        ("QX6001", 2020, Decimal("19.99")),
    ]
    # Columns by header, any order and case, extra ones ignored; a BOM is no part of it.
    second = tmp_path / "retail-2.csv"
    second.write_text(
        "Retail_Price,Name,SKU,Release_Year\n15.99,Bear,QX5257,2019\n9.50,Star,QX7000,2021\n",
        encoding="utf-8-sig",
    )
    result = christmas(migrated_database_url, "import-retail-prices", str(second))
    assert result.exit_code == 0, result.output
    assert "2 retail prices: 1 new, 1 replaced" in result.output
    assert table(storage_engine, RETAIL) == [
        ("QX5257", 2019, Decimal("15.99")),
        ("QX6001", 2020, Decimal("19.99")),
        ("QX7000", 2021, Decimal("9.50")),
    ]


def test_a_bad_line_is_named_and_nothing_is_stored(tmp_path, migrated_database_url, storage_engine):
    cases = {
        "sku,release_year,retail_price\nQX1,2019,14.99\nQX2,19,14.99\n": (
            ":3: release_year: a release year has four digits, got '19'"
        ),
        "sku,release_year,retail_price\nQX1,2019,14.99\nQX2,2019,free\n": (
            ":3: retail_price: not a positive decimal: 'free'"
        ),
        "sku,release_year,retail_price\nQX1,2019,0\n": ":2: retail_price: must be more than 0",
        "sku,release_year,retail_price\nQX1,2019,1.999\n": "has more than 2 decimal places",
        "sku,release_year,retail_price\nQX1,2019,14.99\n,2019,1.00\n": ":3: sku: a sku has",
        "sku,release_year,retail_price\nQX1,2019,14.99\nqx1,2020,2.00\n": (
            ":3: sku QX1 is on line 2 already"
        ),
        "sku,retail_price\nQX1,14.99\n": ":1: the header has no release_year column",
        "": ": empty file",
    }
    for number, (body, message) in enumerate(cases.items()):
        path = write(tmp_path / f"bad-{number}.csv", body)
        result = christmas(migrated_database_url, "import-retail-prices", str(path))
        assert result.exit_code == 2, (body, result.output)
        assert result.output.startswith(f"error: {path}"), result.output
        assert message in result.output, (body, result.output)
    assert table(storage_engine, RETAIL) == []
    missing = christmas(migrated_database_url, "import-retail-prices", str(tmp_path / "none.csv"))
    assert missing.exit_code == 2
    assert "cannot be read" in missing.output


def test_index_closes_from_an_etf_history(tmp_path, migrated_database_url, storage_engine):
    path = write(
        tmp_path / "spy.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2020-01-02,323.54,324.89,322.53,324.87,300.29,59151200\n"
        "2020-01-03,321.16,323.64,321.10,322.41,298.02,77709700\n",
    )
    result = christmas(migrated_database_url, "import-index", str(path))
    assert result.exit_code == 0, result.output
    assert "2 index closes: 2 new, 0 replaced" in result.output
    assert table(storage_engine, CLOSES) == [
        (dt.date(2020, 1, 2), Decimal("324.8700")),
        (dt.date(2020, 1, 3), Decimal("322.4100")),
    ]
    bad = write(tmp_path / "bad.csv", "date,close\n2020-01-06,323.00\n2020-13-01,1\n")
    result = christmas(migrated_database_url, "import-index", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:3: date: not a date" in result.output
    repeated = write(tmp_path / "twice.csv", "date,close\n2020-01-06,1\n2020-01-06,2\n")
    result = christmas(migrated_database_url, "import-index", str(repeated))
    assert "date 2020-01-06 is on line 2 already" in result.output
    assert len(table(storage_engine, CLOSES)) == 2


def test_the_replica_catalogues_price_files_import_whole(
    tmp_path, migrated_database_url, storage_engine
):
    # The files the offline demo imports: the catalogue's retail prices and its index.
    catalogue = generate_catalogue(3, 40)
    retail = write(tmp_path / "retail.csv", retail_prices_csv(catalogue))
    index = write(tmp_path / "index.csv", index_csv(3, end=dt.date(2026, 11, 30)))
    result = christmas(migrated_database_url, "import-retail-prices", str(retail))
    assert result.exit_code == 0, result.output
    assert table(storage_engine, RETAIL) == [
        (sku, year, price) for sku, year, price in catalogue.retail_prices()
    ]
    result = christmas(migrated_database_url, "import-index", str(index))
    assert result.exit_code == 0, result.output
    closes = table(storage_engine, CLOSES)
    assert len(closes) == len(index.read_text().splitlines()) - 1
    assert closes[-1][0] == dt.date(2026, 11, 30)
