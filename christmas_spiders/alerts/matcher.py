"""Which rules a group of audit rows fires (one crawl's changes, or changes by hand).

Pure functions: the service reads the rows, the offers and the rules, and writes what
comes out. Per-offer kinds (drop_percent, back_in_stock, new_offer) are judged on each
audit row's own old and new value; at_or_below on the sku's cheapest in-stock offer
before and after the group (``alert_offers``), against the rule's ``armed`` flag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from christmas_spiders.alerts.rules import OUT_OF_STOCK, Rule


@dataclass(frozen=True)
class AuditChange:
    id: int
    product_id: str
    operation: str
    field: str
    old_value: str | None
    new_value: str | None
    crawl_id: str | None


@dataclass(frozen=True)
class OfferInfo:
    """What a message says about one offer (the product as it is now)."""

    product_id: str
    sku: str
    vendor: str
    name: str
    link: str
    price: Decimal | None
    availability: str | None


@dataclass(frozen=True)
class Cheapest:
    price: Decimal
    vendor: str
    product_id: str


# (sku, vendor or None for every shop)
CheapestKey = tuple[str, str | None]


@dataclass(frozen=True)
class Alert:
    rule: Rule
    offer: OfferInfo
    # What changed: a price or a stock value, before and after (None: none before).
    old: str | None
    new: str | None
    audit_ids: tuple[int, ...]
    # at_or_below only: the cheapest offer before the change, if any.
    was_cheapest: Cheapest | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.name,
            "kind": self.rule.kind,
            "product_id": self.offer.product_id,
            "sku": self.offer.sku,
            "vendor": self.offer.vendor,
            "old": self.old,
            "new": self.new,
            "audit_ids": list(self.audit_ids),
        }


def price(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def drop_percent(old: Decimal, new: Decimal) -> Decimal:
    return (old - new) / old * 100


def _applies(rule: Rule, offer: OfferInfo, change: AuditChange) -> bool:
    return rule.sku == offer.sku and rule.watches(offer.vendor) and change.id > rule.since_audit_id


def match_offer_changes(
    rules: Sequence[Rule], changes: Iterable[AuditChange], offers: Mapping[str, OfferInfo]
) -> list[Alert]:
    """drop_percent, back_in_stock and new_offer alerts, in audit order."""
    by_sku: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.kind != "at_or_below":
            by_sku.setdefault(rule.sku, []).append(rule)
    ordered = sorted(changes, key=lambda c: c.id)
    inserted_price = {
        c.product_id: c.new_value for c in ordered if c.operation == "INSERT" and c.field == "price"
    }
    alerts: list[Alert] = []
    announced: set[tuple[int, str]] = set()
    for change in ordered:
        offer = offers.get(change.product_id)
        if offer is None:
            continue
        for rule in by_sku.get(offer.sku, ()):
            if not _applies(rule, offer, change):
                continue
            if rule.kind == "new_offer" and change.operation == "INSERT":
                # An INSERT writes one audit row per tracked field: one alert per product.
                if (rule.id, change.product_id) in announced:
                    continue
                announced.add((rule.id, change.product_id))
                new = inserted_price.get(change.product_id)
                if new is None and offer.price is not None:
                    new = f"{offer.price}"
                alerts.append(Alert(rule, offer, None, new, (change.id,)))
            elif (
                rule.kind == "drop_percent"
                and change.operation == "UPDATE"
                and change.field == "price"
            ):
                old, new = price(change.old_value), price(change.new_value)
                if old and new is not None and drop_percent(old, new) >= rule.threshold:  # type: ignore[operator]
                    alerts.append(
                        Alert(rule, offer, change.old_value, change.new_value, (change.id,))
                    )
            elif (
                rule.kind == "back_in_stock"
                and change.operation == "UPDATE"
                and change.field == "availability"
                and change.old_value in OUT_OF_STOCK
                and change.new_value == "in_stock"
            ):
                alerts.append(Alert(rule, offer, change.old_value, change.new_value, (change.id,)))
    return alerts


def crossing_keys(rules: Iterable[Rule]) -> set[CheapestKey]:
    return {(rule.sku, rule.vendor) for rule in rules if rule.kind == "at_or_below"}


def cheapest_by_key(
    offers: Iterable[tuple[str, str, str, Decimal | None, str | None]], keys: Iterable[CheapestKey]
) -> dict[CheapestKey, Cheapest | None]:
    """The cheapest in-stock offer per key from (product_id, sku, vendor, price, availability)."""
    wanted = set(keys)
    best: dict[CheapestKey, Cheapest | None] = dict.fromkeys(wanted)
    for product_id, sku, vendor, amount, availability in offers:
        if availability != "in_stock" or amount is None:
            continue
        for key in ((sku, None), (sku, vendor)):
            if key not in wanted:
                continue
            current = best[key]
            candidate = Cheapest(amount, vendor, product_id)
            if current is None or (amount, product_id) < (current.price, current.product_id):
                best[key] = candidate
    return best


def match_crossings(
    rules: Sequence[Rule],
    changes: Iterable[AuditChange],
    offers: Mapping[str, OfferInfo],
    before: Mapping[CheapestKey, Cheapest | None],
    after: Mapping[CheapestKey, Cheapest | None],
) -> tuple[list[Alert], dict[int, bool]]:
    """at_or_below alerts, and the rules whose ``armed`` flag changes (rule id -> armed)."""
    changed_ids: dict[str, list[int]] = {}
    for change in changes:
        offer = offers.get(change.product_id)
        if offer is not None:
            changed_ids.setdefault(offer.sku, []).append(change.id)
    alerts: list[Alert] = []
    arming: dict[int, bool] = {}
    for rule in rules:
        if rule.kind != "at_or_below" or rule.threshold is None:
            continue
        ids = [i for i in changed_ids.get(rule.sku, ()) if i > rule.since_audit_id]
        if not ids:
            continue
        now = after.get((rule.sku, rule.vendor))
        at_or_below = now is not None and now.price <= rule.threshold
        if rule.armed and at_or_below:
            assert now is not None
            offer = offers.get(now.product_id)
            if offer is None:
                continue
            was = before.get((rule.sku, rule.vendor))
            old = f"{was.price}" if was is not None else None
            alerts.append(Alert(rule, offer, old, f"{now.price}", tuple(sorted(ids)), was))
            arming[rule.id] = False
        elif not rule.armed and not at_or_below:
            arming[rule.id] = True
    return alerts, arming
