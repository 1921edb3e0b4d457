"""Each rule kind on real Postgres and real Apprise: the replica's day-1 -> day-2 changes
fire each kind exactly once; a crossing fires once however many crawls follow."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from click.testing import CliRunner

from christmas_spiders.alerts.cli import alerts
from christmas_spiders.alerts.service import AlertService
from tests.fixtures.alerts import alert_settings, item, receiver, replica_days, write_crawl

__all__ = ["receiver"]

DASHBOARD = "http://127.0.0.1:9/board"


def _cli(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(alerts, ["--database-url", database_url, *args])
    assert result.exit_code == 0, result.output
    return result.output


def _dollars(amount: object) -> str:
    return f"${Decimal(str(amount)):,.2f}"


def _cheapest_in_stock(items: list[dict[str, Any]]) -> dict[str, Decimal]:
    best: dict[str, Decimal] = {}
    for it in items:
        if it["availability"] == "in_stock":
            price = Decimal(str(it["price"]))
            best[it["sku"]] = min(best.get(it["sku"], price), price)
    return best


def _subjects(day1: list[dict[str, Any]], day2: list[dict[str, Any]]) -> dict[str, Any]:
    """Skus whose day-2 changes fire each kind once, and skus that must fire nothing."""
    before = {(i["vendor"], i["vendor_id"]): i for i in day1}
    offers_of: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for new in day2:
        old = before.get((new["vendor"], new["vendor_id"]))
        if old is not None:
            offers_of[new["sku"]].append((old, new))

    def drop(old: dict[str, Any], new: dict[str, Any]) -> Decimal:
        a, b = Decimal(str(old["price"])), Decimal(str(new["price"]))
        return (a - b) / a * 100

    drops = {
        sku: [drop(o, n) for o, n in pairs if drop(o, n) > 0] for sku, pairs in offers_of.items()
    }
    drop_sku = next(sku for sku, found in sorted(drops.items()) if len(found) == 1)
    backs = {
        sku: [
            n
            for o, n in pairs
            if o["availability"] != "in_stock" and n["availability"] == "in_stock"
        ]
        for sku, pairs in offers_of.items()
    }
    back_sku = next(sku for sku, found in sorted(backs.items()) if len(found) == 1)
    cheap1, cheap2 = _cheapest_in_stock(day1), _cheapest_in_stock(day2)
    cross_sku = next(
        sku
        for sku in sorted(cheap2)
        if sku not in (drop_sku, back_sku) and cheap2[sku] < cheap1.get(sku, Decimal("1e9"))
    )
    quiet_sku = next(
        sku
        for sku, pairs in sorted(offers_of.items())
        if all(
            o["price"] == n["price"] and o["availability"] == n["availability"] for o, n in pairs
        )
    )
    return {
        "drop": (drop_sku, drops[drop_sku][0]),
        "back": back_sku,
        "cross": (cross_sku, cheap1.get(cross_sku), cheap2[cross_sku]),
        "quiet": quiet_sku,
    }


def test_each_rule_kind_fires_exactly_once_on_the_replica_day_2_changes(
    storage_engine, migrated_database_url, receiver
):
    days = replica_days(seed=3, products_per_shop=60)
    subjects = _subjects(days.day1, days.day2)
    # A shop that starts selling a sku on day 2: its day-1 listing is held back.
    quiet = subjects["quiet"]
    newcomer = next(i for i in days.day1 if i["sku"] == quiet)
    day1 = [i for i in days.day1 if i is not newcomer]
    write_crawl(storage_engine, "replica-day-1", day1)
    service = AlertService(storage_engine, alert_settings(dashboard_url=DASHBOARD))
    service.drain()

    drop_sku, fell = subjects["drop"]
    cross_sku, was, now = subjects["cross"]
    url = migrated_database_url
    n = str(int(fell))  # the drop is at least this many percent
    _cli(
        url, "add", "drop", "--sku", drop_sku, "--drop-percent", n, "--notify", receiver.url("drop")
    )
    _cli(
        url,
        "add",
        "back",
        "--sku",
        subjects["back"],
        "--back-in-stock",
        "--notify",
        receiver.url("back"),
    )
    _cli(
        url,
        "add",
        "cross",
        "--sku",
        cross_sku,
        "--at-or-below",
        str(now),
        "--notify",
        receiver.url("cross"),
    )
    _cli(url, "add", "new", "--sku", quiet, "--new-offer", "--notify", receiver.url("new"))
    # The same skus with thresholds the changes do not reach, and kinds they do not meet.
    _cli(
        url,
        "add",
        "drop-more",
        "--sku",
        drop_sku,
        "--drop-percent",
        str(min(100, int(fell) + 1)),
        "--notify",
        receiver.url("silent"),
    )
    _cli(
        url,
        "add",
        "cross-lower",
        "--sku",
        cross_sku,
        "--at-or-below",
        str(now - Decimal("0.01")),
        "--notify",
        receiver.url("silent"),
    )
    for kind in ("--back-in-stock", "--new-offer"):
        _cli(
            url, "add", f"quiet{kind}", "--sku", drop_sku, kind, "--notify", receiver.url("silent")
        )
    _cli(
        url,
        "add",
        "quiet-drop",
        "--sku",
        quiet,
        "--drop-percent",
        "1",
        "--notify",
        receiver.url("silent"),
    )

    write_crawl(storage_engine, "replica-day-2", days.day2)
    service.drain()

    for path in ("drop", "back", "cross", "new"):
        assert len(receiver.at(path)) == 1, (path, receiver.at())
    assert receiver.at("silent") == []

    drop_item = next(
        n
        for n in days.day2
        if n["sku"] == drop_sku
        and any(o["vendor_id"] == n["vendor_id"] and o["price"] != n["price"] for o in days.day1)
    )
    old_price = next(
        o["price"]
        for o in days.day1
        if o["vendor_id"] == drop_item["vendor_id"] and o["vendor"] == drop_item["vendor"]
    )
    body = receiver.at("drop")[0].body
    for expected in (
        drop_item["name"],
        drop_sku,
        drop_item["vendor"],
        _dollars(old_price),
        _dollars(drop_item["price"]),
        drop_item["link"],
        f"{DASHBOARD}/ornaments/{drop_sku}",
    ):
        assert expected in body, (expected, body)
    assert _dollars(now) in receiver.at("cross")[0].body
    if was is not None:
        assert f"was {_dollars(was)}" in receiver.at("cross")[0].body
    assert newcomer["vendor"] in receiver.at("new")[0].body
    assert "out of stock -> in stock" in receiver.at("back")[0].body

    # The same day again changes nothing, so it alerts nothing.
    write_crawl(storage_engine, "replica-day-2-again", days.day2)
    service.drain()
    assert len(receiver.at()) == 4


def test_a_crossing_fires_once_however_many_crawls_follow(
    storage_engine, migrated_database_url, receiver
):
    sku = "QX2024"
    write_crawl(
        storage_engine,
        "c0",
        [item(sku, "ornament_shop", "25.00"), item(sku, "hookedonhallmark", "30.00")],
    )
    service = AlertService(storage_engine, alert_settings())
    service.drain()
    _cli(
        migrated_database_url,
        "add",
        "under-20",
        "--sku",
        sku,
        "--at-or-below",
        "20",
        "--notify",
        receiver.url("cross"),
    )

    def crawl(name: str, shop: str, price: str, availability: str = "in_stock") -> int:
        write_crawl(storage_engine, name, [item(sku, shop, price, availability)])
        service.drain()
        return len(receiver.at("cross"))

    assert crawl("c1", "ornament_shop", "21.00") == 0
    assert crawl("c2", "ornament_shop", "19.50") == 1  # crosses
    assert crawl("c3", "ornament_shop", "18.00") == 1  # stays below
    assert crawl("c4", "hookedonhallmark", "17.00") == 1  # another shop, still below
    assert crawl("c5", "hookedonhallmark", "30.00") == 1  # the cheapest is 18.00: below
    assert crawl("c6", "ornament_shop", "18.00", "out_of_stock") == 1  # none in stock: re-armed
    assert crawl("c7", "ornament_shop", "18.00") == 2  # back in stock at 18: a new crossing
    assert crawl("c8", "ornament_shop", "22.00") == 2  # above: re-armed
    assert crawl("c9", "ornament_shop", "20.00") == 3  # at the price: crosses again
    assert "under-20" in receiver.at("cross")[-1].body


def test_a_rule_judges_only_changes_made_after_it_was_added(
    storage_engine, migrated_database_url, receiver
):
    sku = "QX3003"
    service = AlertService(storage_engine, alert_settings())
    write_crawl(storage_engine, "c0", [item(sku, "ornament_shop", "30.00")])
    service.drain()
    # Written before the rule exists, handled by the service only after.
    write_crawl(storage_engine, "c1", [item(sku, "ornament_shop", "20.00")])
    _cli(migrated_database_url, "add", "drop", "--sku", sku, "--drop-percent", "10",
         "--notify", receiver.url("drop"))  # fmt: skip
    service.drain()
    assert receiver.at("drop") == []
    write_crawl(storage_engine, "c2", [item(sku, "ornament_shop", "15.00")])
    service.drain()
    [message] = receiver.at("drop")
    assert "$20.00 -> $15.00" in message.body
