"""The audit's SQL: one product's history and the changes across products.

Both are built once per shape (see ``product_queries.product_list_statement``): the
filter values, the cursor's key and the limit are bound parameters.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import Numeric, String, bindparam, case, cast, select

from christmas_spiders.api.db import compiled_sql
from christmas_spiders.api.pagination import Keyset
from christmas_spiders.db.audit_sql import NUMERIC_TEXT
from christmas_spiders.db.models import Product, ProductAudit

AUDIT_COLUMNS = (
    "id",
    "product_id",
    "operation",
    "field",
    "old_value",
    "new_value",
    "changed_at",
    "crawl_id",
)
AUDIT_SELECT = [ProductAudit.__table__.c[name] for name in AUDIT_COLUMNS]
# The product a change belongs to (null once the product is deleted).
CHANGE_PRODUCT_COLUMNS = ("vendor", "sku", "name")
CHANGE_COLUMNS = (*AUDIT_COLUMNS, *CHANGE_PRODUCT_COLUMNS)
AUDIT_ORDER = Keyset(
    sorts={"changed_at": (ProductAudit.changed_at, dt.datetime.fromisoformat)},
    id_column=ProductAudit.id,
    id_type=int,
)


def audit_numeric(value: Any) -> Any:
    # CASE guards the cast: only a value that looks like a number is cast to NUMERIC.
    return case((value.op("~")(NUMERIC_TEXT), cast(value, Numeric(12, 2))), else_=None)


def audit_record(row: Any) -> dict[str, Any]:
    return dict(zip(AUDIT_COLUMNS, row, strict=True))


def change_record(row: Any) -> dict[str, Any]:
    return dict(zip(CHANGE_COLUMNS, row, strict=True))


def _in_list(name: str, column: Any, count: int) -> Any:
    return column.in_([bindparam(f"{name}_{index}", type_=column.type) for index in range(count)])


# Filters bound as lists (``field_0``, ``field_1``...) and as one value.
LIST_FILTERS = ("field", "vendor")
TIME_FILTERS = ("since", "until")


def audit_values(filters: dict[str, Any]) -> dict[str, Any]:
    """The bound values of the audit filters given."""
    values: dict[str, Any] = {}
    for name in LIST_FILTERS:
        values.update({f"{name}_{index}": item for index, item in enumerate(filters.get(name, ()))})
    for name in TIME_FILTERS:
        if name in filters:
            values[name] = filters[name]
    return values


def _audit_conditions(fields: int, since: bool, until: bool) -> list[Any]:
    changed_at = ProductAudit.changed_at
    conditions = []
    if fields:
        conditions.append(_in_list("field", ProductAudit.field, fields))
    if since:
        conditions.append(changed_at >= bindparam("since", type_=changed_at.type))
    if until:
        conditions.append(changed_at < bindparam("until", type_=changed_at.type))
    return conditions


@functools.lru_cache(maxsize=128)
def history_statement(
    fields: int, since: bool, until: bool, sort: str, after: bool, limited: bool
) -> Any:
    """One product's audit rows (``:product_id``) for one combination of filters (the
    number of fields), sort, cursor and limit."""
    statement = select(*AUDIT_SELECT).where(
        ProductAudit.product_id == bindparam("product_id", type_=String),
        *_audit_conditions(fields, since, until),
    )
    return AUDIT_ORDER.statement(statement, sort, after, limited)


@functools.lru_cache(maxsize=128)
def history_sql(
    fields: int, since: bool, until: bool, sort: str, after: bool, limited: bool
) -> str:
    """:func:`history_statement` as SQL text, for ``db.fetch_rows`` (the JSON page)."""
    return compiled_sql(history_statement(fields, since, until, sort, after, limited))


@functools.lru_cache(maxsize=256)
def changes_statement(
    fields: int,
    since: bool,
    until: bool,
    direction: str | None,
    vendors: int,
    sort: str,
    after: bool,
    limited: bool,
) -> Any:
    """Audit rows across products with their product's vendor, sku and name, for one
    combination of filters (numbers of fields and vendors), sort, cursor and limit."""
    conditions = _audit_conditions(fields, since, until)
    if direction is not None:
        old = audit_numeric(ProductAudit.old_value)
        new = audit_numeric(ProductAudit.new_value)
        conditions.append(ProductAudit.field == "price")
        # Numeric, not text, comparison: "9.99" < "10.00".
        conditions.append(new < old if direction == "down" else new > old)
    if vendors:
        conditions.append(_in_list("vendor", Product.vendor, vendors))
    product = Product.__table__.c
    # Outer join: the audit outlives a deleted product.
    statement = (
        select(*AUDIT_SELECT, *(product[name] for name in CHANGE_PRODUCT_COLUMNS))
        .select_from(ProductAudit)
        .outerjoin(Product, Product.id == ProductAudit.product_id)
        .where(*conditions)
    )
    return AUDIT_ORDER.statement(statement, sort, after, limited)
