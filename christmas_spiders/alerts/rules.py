"""Alert rules: the four kinds, and reading and writing ``alert_rules``.

A rule watches one sku at every shop, or at one (``vendor``):

* ``at_or_below``   the sku's cheapest in-stock offer crosses to at or below ``threshold``
                    (once per crossing; re-armed when it goes back above, or out of stock)
* ``drop_percent``  one offer's price falls by at least ``threshold`` % from its previous price
* ``back_in_stock`` one offer goes from out_of_stock (or delisted) to in_stock
* ``new_offer``     a shop lists the sku for the first time (an INSERT audit row)

A rule judges only the changes made after it was created (``since_audit_id``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, delete, func, insert, select

from christmas_spiders.db.models import ALERT_KINDS, AlertRule, Product, ProductAudit

KINDS: tuple[str, ...] = ALERT_KINDS
OUT_OF_STOCK: frozenset[str] = frozenset({"out_of_stock", "delisted"})


class RuleError(ValueError):
    """A rule that cannot be stored (the message says why)."""


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    sku: str
    vendor: str | None
    kind: str
    threshold: Decimal | None
    notify: tuple[str, ...]
    armed: bool
    since_audit_id: int

    def watches(self, vendor: str) -> bool:
        return self.vendor is None or self.vendor == vendor

    def describe(self) -> str:
        where = f"at {self.vendor}" if self.vendor else "at any shop"
        if self.kind == "at_or_below":
            return f"cheapest in stock {where} at or below ${self.threshold:.2f}"
        if self.kind == "drop_percent":
            return f"a price drop {where} of {self.threshold:g}% or more"
        if self.kind == "back_in_stock":
            return f"back in stock {where}"
        return f"a new offer {where}"


def _rule(row: AlertRule) -> Rule:
    return Rule(
        id=row.id,
        name=row.name,
        sku=row.sku,
        vendor=row.vendor,
        kind=row.kind,
        threshold=row.threshold,
        notify=tuple(row.notify),
        armed=row.armed,
        since_audit_id=row.since_audit_id,
    )


_COLUMNS = (
    AlertRule.id,
    AlertRule.name,
    AlertRule.sku,
    AlertRule.vendor,
    AlertRule.kind,
    AlertRule.threshold,
    AlertRule.notify,
    AlertRule.armed,
    AlertRule.since_audit_id,
)


def load_rules(conn: Connection, skus: Iterable[str] | None = None) -> list[Rule]:
    """Every rule (or those on ``skus``), by id."""
    query = select(*_COLUMNS).order_by(AlertRule.id)
    if skus is not None:
        query = query.where(AlertRule.sku.in_(sorted(set(skus))))
    return [_rule(row) for row in conn.execute(query)]  # type: ignore[arg-type]


def get_rule(conn: Connection, name: str) -> Rule | None:
    row = conn.execute(select(*_COLUMNS).where(AlertRule.name == name)).one_or_none()
    return _rule(row) if row is not None else None  # type: ignore[arg-type]


def validate(kind: str, threshold: Decimal | None) -> None:
    if kind not in KINDS:
        raise RuleError(f"unknown rule kind {kind!r}; known: {', '.join(KINDS)}")
    if kind == "at_or_below" and (threshold is None or threshold < 0):
        raise RuleError("--at-or-below needs a price of 0 or more")
    if kind == "drop_percent" and (threshold is None or not 0 < threshold <= 100):
        raise RuleError("--drop-percent needs a percentage above 0 and at most 100")
    if kind in ("back_in_stock", "new_offer") and threshold is not None:
        raise RuleError(f"{kind} takes no threshold")


def current_cheapest(conn: Connection, sku: str, vendor: str | None) -> Decimal | None:
    """The sku's cheapest in-stock price in ``products`` now (at ``vendor``, if given)."""
    query = select(func.min(Product.price)).where(
        Product.sku == sku, Product.availability == "in_stock"
    )
    if vendor:
        query = query.where(Product.vendor == vendor)
    return conn.execute(query).scalar()


def add_rule(
    conn: Connection,
    name: str,
    sku: str,
    kind: str,
    notify: Sequence[str],
    vendor: str | None = None,
    threshold: Decimal | None = None,
) -> Rule:
    """Store a rule; it judges changes from now on. Raises RuleError (a name in use...)."""
    validate(kind, threshold)
    if not 1 <= len(name) <= 64:
        raise RuleError("NAME must be 1 to 64 characters")
    if not notify:
        raise RuleError("a rule needs at least one --notify URL")
    if get_rule(conn, name) is not None:
        raise RuleError(f"a rule named {name!r} exists already")
    armed = True
    if kind == "at_or_below":
        # A sku already at or below the price has not crossed: it fires after going above.
        cheapest = current_cheapest(conn, sku, vendor)
        armed = cheapest is None or cheapest > threshold  # type: ignore[operator]
    since = conn.execute(select(func.coalesce(func.max(ProductAudit.id), 0))).scalar_one()
    conn.execute(
        insert(AlertRule).values(
            name=name,
            sku=sku,
            vendor=vendor or None,
            kind=kind,
            threshold=threshold,
            notify=list(notify),
            armed=armed,
            since_audit_id=since,
        )
    )
    rule = get_rule(conn, name)
    assert rule is not None
    return rule


def remove_rule(conn: Connection, name: str) -> bool:
    return bool(conn.execute(delete(AlertRule).where(AlertRule.name == name)).rowcount)
