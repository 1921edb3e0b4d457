"""The words of the messages: an alert digest, a failed crawl, a test.

One message per (crawl, destination): a single alert gets a title of its own; several
go as one digest, one paragraph per alert. Each paragraph names the ornament (name
and sku), the shop, the old and new price or stock, the product page and, when
``alerts.dashboard_url`` is set, the dashboard's ornament page.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from christmas_spiders.alerts.matcher import Alert, drop_percent, price
from christmas_spiders.alerts.rules import Rule

STOCK_WORDS = {
    "in_stock": "in stock",
    "out_of_stock": "out of stock",
    "delisted": "no longer listed",
    None: "not listed",
}


def money(value: str | Decimal | None) -> str:
    amount = price(value) if not isinstance(value, Decimal) else value
    return f"${amount:,.2f}" if amount is not None else "no price"


def stock(value: str | None) -> str:
    return STOCK_WORDS.get(value, str(value))


def dashboard_link(dashboard_url: str | None, sku: str) -> str | None:
    return f"{dashboard_url.rstrip('/')}/ornaments/{sku}" if dashboard_url else None


def change_text(alert: Alert) -> str:
    """What happened, in one line (without the ornament's name)."""
    kind = alert.rule.kind
    shop = alert.offer.vendor
    if kind == "at_or_below":
        was = alert.was_cheapest
        before = (
            f"was {money(was.price)} at {was.vendor}" if was is not None else "none was in stock"
        )
        return (
            f"cheapest in stock now {money(alert.new)} at {shop} ({before}); "
            f"at or below {money(alert.rule.threshold)}"
        )
    if kind == "drop_percent":
        old, new = price(alert.old), price(alert.new)
        fall = f" (-{drop_percent(old, new):.1f}%)" if old and new is not None else ""
        return f"price at {shop} {money(alert.old)} -> {money(alert.new)}{fall}"
    if kind == "back_in_stock":
        return (
            f"back in stock at {shop}: {stock(alert.old)} -> {stock(alert.new)}, "
            f"{money(alert.offer.price)}"
        )
    return f"new offer at {shop}: {money(alert.new)}, {stock(alert.offer.availability)}"


def title_of(alert: Alert) -> str:
    offer = alert.offer
    headline = {
        "at_or_below": f"{money(alert.new)} at {offer.vendor}",
        "drop_percent": f"price drop to {money(alert.new)} at {offer.vendor}",
        "back_in_stock": f"back in stock at {offer.vendor}",
        "new_offer": f"new offer at {offer.vendor}",
    }[alert.rule.kind]
    return f"{offer.name} ({offer.sku}): {headline}"


def paragraph(alert: Alert, dashboard_url: str | None) -> str:
    offer = alert.offer
    lines = [
        f"{offer.name} ({offer.sku})",
        f"  {change_text(alert)}",
        f"  rule {alert.rule.name}: {alert.rule.describe()}",
    ]
    if offer.link:
        lines.append(f"  {offer.link}")
    board = dashboard_link(dashboard_url, offer.sku)
    if board:
        lines.append(f"  {board}")
    return "\n".join(lines)


def digest(
    alerts: Sequence[Alert], crawl_id: str | None, dashboard_url: str | None
) -> tuple[str, str]:
    """(title, body) of one message carrying ``alerts``."""
    if not alerts:
        raise ValueError("a digest needs one alert at least")
    source = f"crawl {crawl_id}" if crawl_id else "changes made by hand"
    if len(alerts) == 1:
        title = title_of(alerts[0])
    else:
        title = f"{len(alerts)} ornament alerts from {source}"
    body = "\n\n".join(paragraph(alert, dashboard_url) for alert in alerts)
    return title, f"{body}\n\n({source})"


def failed_crawl(crawl_id: str, reason: str, changes: int) -> tuple[str, str]:
    title = f"Crawl {crawl_id} failed: its changes are not alerted"
    body = (
        f"Crawl {crawl_id} failed its verdict: {reason}\n\n"
        f"{changes} audited change(s) made by this crawl were matched against no alert "
        "rule and will not be alerted (the products table still holds them)."
    )
    return title, body


def test_message(rule: Rule, dashboard_url: str | None) -> tuple[str, str]:
    lines = [
        f"This is a test of the alert rule {rule.name}.",
        f"It watches {rule.sku}: {rule.describe()}.",
    ]
    board = dashboard_link(dashboard_url, rule.sku)
    if board:
        lines.append(board)
    return f"Test: alert rule {rule.name} ({rule.sku})", "\n".join(lines)
