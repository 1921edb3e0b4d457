"""The one product definition: normal form, checks, schemas, and the columns it feeds."""

from __future__ import annotations

import dataclasses
import pickle
import re
from decimal import Decimal
from typing import Any

import pytest
from itemadapter import ItemAdapter

from christmas_spiders.db.audit_sql import AUDITABLE_FIELDS
from christmas_spiders.db.models import PRODUCT_FIELDS, Product
from christmas_spiders.db.store import COLUMNS, row_from_item
from christmas_spiders.items import (
    AVAILABILITIES,
    FIELD_SPECS,
    ITEM_FIELDS,
    MISSING,
    REQUIRED_FIELDS,
    STORED_AVAILABILITIES,
    VENDORS,
    InvalidProduct,
    ProductItem,
    field_json_schemas,
    price_field,
)
from tests.fixtures.items import changed

# Columns of products that no item fills: the row's key and its bookkeeping.
BOOKKEEPING_COLUMNS = {"id", "last_synced_at", "last_listed_at", "listed_sold_out", "created_at"}


RAW = {
    "vendor": "hookedonhallmark",
    "vendor_id": " 77 ",
    "sku": "qx 5257",
    "name": "  Frosty&#8482;\n Friends ",
    "price": Decimal("1299.5"),
    "currency": "usd",
    "brand": " Hallmark ",
    "availability": "in_stock",
    "release_year": 1995,
    "link": "http://127.0.0.1:1/frosty.html?ref=2#top",
}


def raw_item(**changes: Any) -> dict[str, Any]:
    return changed(RAW, **changes)


NORMAL = {
    "vendor": "hookedonhallmark",
    "vendor_id": "77",
    "sku": "QX5257",
    "name": "Frosty™ Friends",
    "price": "1299.50",
    "currency": "USD",
    "brand": "Hallmark",
    "availability": "in_stock",
    "release_year": 1995,
    "link": "http://127.0.0.1:1/frosty.html",
    "was_price": None,
    "stock_text": None,
}


def test_interface_constants() -> None:
    assert VENDORS == ("hookedonhallmark", "ornament_shop", "hallmark_ornaments")
    assert AVAILABILITIES == ("in_stock", "out_of_stock", "unknown")
    assert STORED_AVAILABILITIES == ("in_stock", "out_of_stock", "unknown", "delisted")
    nullable = ("was_price", "stock_text")
    assert tuple(name for name in ITEM_FIELDS if name not in nullable) == REQUIRED_FIELDS
    assert tuple(NORMAL) == ITEM_FIELDS
    assert tuple(f.name for f in dataclasses.fields(ProductItem)) == ITEM_FIELDS


def test_normalisation_is_exact_and_idempotent() -> None:
    item = ProductItem.from_raw(raw_item())
    assert dict(item) == NORMAL
    assert dict(ProductItem.from_raw(dict(item))) == NORMAL
    assert ProductItem(**raw_item()) == item
    assert isinstance(item["price"], str)
    assert ProductItem.from_raw(item) is item


def test_an_item_is_frozen_and_reads_like_scrapy_items() -> None:
    item = ProductItem(**NORMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.price = "1.00"  # type: ignore[misc]
    adapter = ItemAdapter(item)
    assert adapter.asdict() == NORMAL
    with pytest.raises((TypeError, dataclasses.FrozenInstanceError)):
        adapter["price"] = 24.95
    assert item["price"] == item.price == item.get("price") == "1299.50"
    assert list(item) == list(ITEM_FIELDS) and len(item) == len(ITEM_FIELDS)
    assert "colour" not in item
    with pytest.raises(KeyError):
        item["colour"]
    assert pickle.loads(pickle.dumps(item)) == item


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"price": ...}, "price", MISSING),
        ({"price": " "}, "price", MISSING),
        ({"price": 24.95}, "price", "float"),
        ({"price": "Call for price"}, "price", "no amount"),
        ({"price": "0.00"}, "price", "not positive"),
        ({"sku": "  "}, "sku", MISSING),
        ({"name": ""}, "name", MISSING),
        ({"name": ["Frosty"]}, "name", "not text"),
        ({"vendor_id": None}, "vendor_id", MISSING),
        ({"vendor": "ebay"}, "vendor", "not one of"),
        ({"availability": "maybe"}, "availability", "not one of"),
        ({"availability": "delisted"}, "availability", "not one of"),
        ({"release_year": "1995"}, "release_year", "not an integer"),
        ({"release_year": True}, "release_year", "not an integer"),
        ({"release_year": 1850}, "release_year", "outside"),
        ({"link": "/frosty/"}, "link", "not an absolute"),
        ({"currency": "EUR"}, "currency", "not one of"),
        ({"was_price": 29.9}, "was_price", "float"),
        ({"was_price": "Call for price"}, "was_price", "no amount"),
        ({"colour": "red"}, "colour", "not a product field"),
    ],
)
def test_a_bad_field_is_named(changes: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidProduct) as raised:
        ProductItem.from_raw(raw_item(**changes))
    assert (raised.value.field, raised.value.problems.keys()) == (field, {field})
    assert reason in raised.value.reason
    assert isinstance(raised.value, ValueError)
    assert f"bad {field}" in str(raised.value)


def test_every_bad_field_is_listed_the_first_one_named() -> None:
    with pytest.raises(InvalidProduct) as raised:
        ProductItem.from_raw(raw_item(name=None, sku="", link="x"))
    assert raised.value.field == "sku"
    assert list(raised.value.problems) == ["sku", "name", "link"]
    again = pickle.loads(pickle.dumps(raised.value))
    assert (again.field, again.reason, again.problems) == ("sku", MISSING, raised.value.problems)


def test_an_integer_id_is_text_and_a_missing_currency_is_usd() -> None:
    item = ProductItem.from_raw(raw_item(vendor_id=512, currency=...))
    assert (item.vendor_id, item.currency) == ("512", "USD")


def test_was_price_is_a_nullable_price_and_unknown_stock_an_availability() -> None:
    item = ProductItem.from_raw(raw_item(was_price="$1,499", availability="unknown"))
    assert (item.was_price, item["was_price"], item.availability) == (
        "1499.00",
        "1499.00",
        "unknown",
    )
    assert ProductItem.from_raw(raw_item(was_price=" ")).was_price is None
    assert field_json_schemas()["was_price"]["type"] == ["string", "null"]
    row = row_from_item(item)
    assert (row["was_price"], row["availability"]) == (Decimal("1499.00"), "unknown")
    assert row_from_item(ProductItem.from_raw(raw_item()))["was_price"] is None


def test_stock_text_is_nullable_cleaned_text() -> None:
    item = ProductItem.from_raw(raw_item(stock_text="  Backordered -\n Ships in 2-3 Weeks "))
    assert item.stock_text == "Backordered - Ships in 2-3 Weeks"
    assert ProductItem.from_raw(raw_item(stock_text=" ")).stock_text is None
    assert field_json_schemas()["stock_text"]["type"] == ["string", "null"]
    assert row_from_item(item)["stock_text"] == "Backordered - Ships in 2-3 Weeks"


def test_field_json_schemas_describe_the_api_values() -> None:
    schemas = field_json_schemas()
    assert tuple(schemas) == ITEM_FIELDS
    assert all(schema["description"] for schema in schemas.values())
    assert schemas["price"]["type"] == "string"
    assert schemas["price"]["pattern"] == r"^-?[0-9]+\.[0-9]{2}$"
    assert schemas["availability"] == {
        "type": "string",
        "enum": list(STORED_AVAILABILITIES),
        "description": schemas["availability"]["description"],
    }
    assert schemas["release_year"]["type"] == "integer"
    assert schemas["vendor"]["enum"] == list(VENDORS)
    # Fresh copies: a caller's change does not leak into the next call.
    schemas["price"]["pattern"] = "changed"
    schemas["availability"]["enum"].append("changed")
    assert field_json_schemas()["price"]["pattern"] == r"^-?[0-9]+\.[0-9]{2}$"
    assert field_json_schemas()["availability"]["enum"] == list(STORED_AVAILABILITIES)


def test_a_normal_item_matches_its_schemas() -> None:
    item = ProductItem.from_raw(raw_item())
    for name, schema in field_json_schemas().items():
        value = item[name]
        if isinstance(schema["type"], list):  # a nullable field: null, or its type
            assert schema["type"][1] == "null" and FIELD_SPECS[name].nullable, name
            if value is None:
                continue
            expected_type = {"string": str, "integer": int}[schema["type"][0]]
        else:
            expected_type = {"string": str, "integer": int}[schema["type"]]
        assert isinstance(value, expected_type), name
        if "pattern" in schema:
            assert re.search(schema["pattern"], value), name
        if "enum" in schema:
            assert value in schema["enum"], name


def test_item_fields_are_the_stored_product_columns():
    # The upsert, the audit trigger and the API all take their column lists from
    # PRODUCT_FIELDS: an item field without a column (or the reverse) would be lost.
    assert ITEM_FIELDS == PRODUCT_FIELDS
    assert set(PRODUCT_FIELDS) <= set(Product.__table__.columns.keys())
    assert set(Product.__table__.columns.keys()) - BOOKKEEPING_COLUMNS == set(ITEM_FIELDS)
    assert ("id", *ITEM_FIELDS) == COLUMNS
    # The stock wording is evidence of how the availability was read, not a fact to track.
    assert tuple(name for name in ITEM_FIELDS if name != "stock_text") == AUDITABLE_FIELDS


def test_each_column_holds_what_its_field_stores() -> None:
    row = row_from_item(ProductItem.from_raw(raw_item(was_price="29.95", stock_text="In Stock")))
    for name, spec in FIELD_SPECS.items():
        column = Product.__table__.c[name]
        assert column.nullable is spec.nullable, name
        assert isinstance(row[name], column.type.python_type), name
    assert row["price"] == Decimal("1299.50")


def test_the_database_check_allows_exactly_the_stored_availabilities() -> None:
    (check,) = [
        c
        for c in Product.__table__.constraints
        if c.name and str(c.name).endswith("availability_known")
    ]
    assert set(re.findall(r"'(\w+)'", str(check.sqltext))) == set(STORED_AVAILABILITIES)


def test_a_nullable_price_is_one_declaration() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class WithListPrice(ProductItem):
        list_price: str | None = price_field("The maker's list price.", nullable=True)

    assert WithListPrice.from_raw(raw_item()).list_price is None
    item = WithListPrice.from_raw(raw_item(list_price="$29.9"))
    assert (item.list_price, item["list_price"], list(item)[-1]) == ("29.90", "29.90", "list_price")
    with pytest.raises(InvalidProduct, match="bad list_price"):
        WithListPrice.from_raw(raw_item(list_price=29.9))
    spec = dataclasses.fields(WithListPrice)[-1].metadata
    (list_price,) = spec.values()
    assert list_price.json_schema()["type"] == ["string", "null"]
    assert list_price.column_value(None) is None
    assert list_price.column_value("29.90") == Decimal("29.90")
