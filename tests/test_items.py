from __future__ import annotations

from christmas_spiders.db.models import PRODUCT_FIELDS, Product
from christmas_spiders.items import ITEM_FIELDS


def test_item_fields_are_the_stored_product_columns():
    # The upsert, the audit trigger and the API all take their column lists from
    # PRODUCT_FIELDS: an item field without a column (or the reverse) would be lost.
    assert ITEM_FIELDS == PRODUCT_FIELDS
    assert set(PRODUCT_FIELDS) <= set(Product.__table__.columns.keys())
