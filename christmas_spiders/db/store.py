"""Writing products: the one batched upsert used by the pipeline, the dead-letter replay
and the benchmark.

One statement per batch: ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT (vendor,
vendor_id) DO UPDATE``. Every seen product gets ``last_synced_at`` refreshed; the
data columns are rewritten with the same or new values, and the audit trigger's
``WHEN`` clause (see audit_sql) lets only rows whose values really changed reach the
audit function, so an unchanged re-crawl writes no audit row. The statement returns,
per row, whether it was inserted and whether any column changed (against the rows'
pre-image, read in the same statement): :class:`UpsertCounts`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from christmas_spiders.db.ids import product_id
from christmas_spiders.db.models import Product
from christmas_spiders.items import FIELD_SPECS, ITEM_FIELDS

# Columns written from an item, in statement order.
COLUMNS: tuple[str, ...] = ("id", *ITEM_FIELDS)
# The array each column travels in, by the Python type of its products column (a new
# column type fails here, at import, rather than in the first batch).
_ARRAY_CASTS: dict[type, str] = {str: "text[]", Decimal: "numeric[]", int: "int[]"}
_ARRAY_TYPES = {c: _ARRAY_CASTS[Product.__table__.c[c].type.python_type] for c in COLUMNS}

# Columns an upsert may change (a change of any of them makes a row "changed").
_UPDATED = tuple(c for c in COLUMNS if c not in ("id", "vendor", "vendor_id"))
_DIFFERS = " OR ".join(f"written.{c} IS DISTINCT FROM before.{c}" for c in _UPDATED)

# One statement: the batch, the stored rows it meets (the pre-image: every part of a
# statement sees the same snapshot), the upsert, and per row whether it was inserted
# and whether any column really changed.
UPSERT_SQL = text(
    f"""
WITH batch AS (
    SELECT {", ".join(COLUMNS)}, coalesce(synced_at, now()) AS synced_at
    FROM unnest({", ".join(f"CAST(:{c} AS {_ARRAY_TYPES[c]})" for c in COLUMNS)},
                CAST(:synced_at AS timestamptz[]))
         AS batch({", ".join(COLUMNS)}, synced_at)
),
before AS (
    SELECT {", ".join(f"products.{c}" for c in ("id", *_UPDATED))}
    FROM products JOIN batch USING (id)
),
written AS (
    INSERT INTO products ({", ".join(COLUMNS)}, last_synced_at)
    SELECT {", ".join(COLUMNS)}, synced_at FROM batch
    ON CONFLICT (vendor, vendor_id) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATED)},
        last_synced_at = EXCLUDED.last_synced_at
    -- A replayed dead letter older than what a later crawl stored must not overwrite it.
    WHERE products.last_synced_at <= EXCLUDED.last_synced_at
    RETURNING {", ".join(("(xmax = 0) AS inserted", *(f"products.{c}" for c in ("id", *_UPDATED))))}
)
SELECT written.inserted,
       written.inserted OR ({_DIFFERS}) AS changed
FROM written LEFT JOIN before USING (id)
"""
)


@dataclass(frozen=True)
class UpsertCounts:
    """Rows of one upsert: new, changed (any field), unchanged (only last_synced_at)."""

    inserted: int = 0
    changed: int = 0
    unchanged: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.changed + self.unchanged

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.changed + other.changed,
            self.unchanged + other.unchanged,
        )


class UnstorableItem(ValueError):
    """An item that cannot be stored (a field missing or not convertible)."""


def row_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The products row of one validated item, each value converted by its field's spec
    (a price string -> Decimal, a year -> int); the database checks the rest."""
    row: dict[str, Any] = {}
    try:
        for name, spec in FIELD_SPECS.items():
            row[name] = spec.column_value(item.get(name))
    except (TypeError, ValueError) as exc:
        raise UnstorableItem(f"item cannot be stored ({name}: {exc}): {dict(item)!r}") from exc
    row["id"] = product_id(row["vendor"], row["vendor_id"])
    return row


def schema_problem(conn: Connection) -> str | None:
    """Why this database cannot take products (no schema, an old one), or None."""
    if conn.execute(text("SELECT to_regclass('products')")).scalar() is None:
        return "it has no products table"
    if conn.execute(text("SELECT to_regclass('audit_settings')")).scalar() is None:
        return "its schema predates the audit settings"
    return None


def set_crawl_id(conn: Connection, crawl_id: str | None) -> None:
    """Tag this transaction's audit rows with ``crawl_id`` (SET LOCAL; None: by hand)."""
    conn.execute(
        text("SELECT set_config('christmas.crawl_id', :crawl_id, true)"),
        {"crawl_id": crawl_id or ""},
    )


def upsert_rows(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    synced_at: Sequence[dt.datetime | None] | None = None,
) -> UpsertCounts:
    """Upsert ``rows`` (from row_from_item) in one statement; returns the rows inserted,
    changed and unchanged (a row older than the stored one is none of them).

    Rows are de-duplicated on id (the last wins: one statement may not touch a row
    twice) and sent sorted by id, so concurrent writers lock rows in the same order
    and cannot deadlock each other.
    """
    if not rows:
        return UpsertCounts()
    times = list(synced_at) if synced_at is not None else [None] * len(rows)
    latest: dict[str, tuple[Mapping[str, Any], dt.datetime | None]] = {}
    for row, when in zip(rows, times, strict=True):
        latest[row["id"]] = (row, when)
    ordered = [latest[key] for key in sorted(latest)]
    params: dict[str, Any] = {c: [row[c] for row, _ in ordered] for c in COLUMNS}
    params["synced_at"] = [when for _, when in ordered]
    results = conn.execute(UPSERT_SQL, params).all()
    inserted = sum(1 for row in results if row.inserted)
    changed = sum(1 for row in results if row.changed and not row.inserted)
    return UpsertCounts(inserted, changed, len(results) - inserted - changed)


def upsert_items(
    conn: Connection, items: Iterable[Mapping[str, Any]], crawl_id: str | None
) -> UpsertCounts:
    """SET LOCAL the crawl id and upsert ``items`` in the caller's transaction."""
    set_crawl_id(conn, crawl_id)
    return upsert_rows(conn, [row_from_item(item) for item in items])
