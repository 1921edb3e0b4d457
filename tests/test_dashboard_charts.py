"""The ornament chart's points and offers rows, the changes page's kinds, from rows as queried."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from christmas_spiders.dashboard.charts import epoch_ms, offer_points, series_label
from christmas_spiders.dashboard.pages import change_kind

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=30)


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def interval(price: str, start: float, end: float | None) -> SimpleNamespace:
    return SimpleNamespace(
        price=Decimal(price), valid_from=day(start), valid_to=None if end is None else day(end)
    )


def point(at: dt.datetime, price: float | None, sold_out: int = 0) -> dict[str, object]:
    return {"x": epoch_ms(at), "y": price, "s": sold_out}


def test_each_price_is_a_step_drawn_on_to_now() -> None:
    intervals = [interval("24.95", 0, 3), interval("19.99", 3, 10), interval("22.00", 10, None)]
    points = offer_points(intervals, [(day(0), "in_stock")], "in_stock", NOW)
    assert points == [
        point(day(0), 24.95),
        point(day(3), 19.99),
        point(day(10), 22.0),
        point(NOW, 22.0),
    ]


def test_sold_out_spans_are_marked_between_price_changes() -> None:
    intervals = [interval("10.00", 0, 5), interval("12.00", 5, None)]
    availability = [(day(0), "in_stock"), (day(2), "out_of_stock"), (day(7), "in_stock")]
    points = offer_points(intervals, availability, "in_stock", NOW)
    assert points == [
        point(day(0), 10.0),
        point(day(2), 10.0, 1),
        point(day(5), 12.0, 1),
        point(day(7), 12.0),
        point(NOW, 12.0),
    ]


def test_without_an_availability_record_the_offer_counts_as_it_is_now() -> None:
    points = offer_points([interval("5.00", 1, None)], [], "out_of_stock", NOW)
    assert points == [point(day(1), 5.0, 1), point(NOW, 5.0, 1)]


def test_a_gap_between_deletion_and_relisting_breaks_the_line() -> None:
    intervals = [interval("8.00", 0, 4), interval("9.00", 6, None)]
    points = offer_points(intervals, [(day(0), "in_stock")], "in_stock", NOW)
    assert points == [
        point(day(0), 8.0),
        point(day(4), None),
        point(day(6), 9.0),
        point(NOW, 9.0),
    ]
    deleted = offer_points([interval("8.00", 0, 4)], [], "delisted", NOW)
    assert deleted[-1] == point(day(4), 8.0, 1)


def test_no_price_history_is_no_points() -> None:
    assert offer_points([], [(day(0), "in_stock")], "in_stock", NOW) == []


def test_labels_name_the_shop_and_its_id_only_when_a_shop_lists_a_sku_twice() -> None:
    one = {"vendor": "ornament_shop", "vendor_id": "1"}
    two = {"vendor": "ornament_shop", "vendor_id": "2"}
    other = {"vendor": "hookedonhallmark", "vendor_id": "9"}
    assert series_label(other, [one, other]) == "hookedonhallmark"
    assert series_label(one, [one, two, other]) == "ornament_shop (1)"


def change(field: str, old: str | None, new: str | None, operation: str = "UPDATE") -> object:
    return SimpleNamespace(field=field, old_value=old, new_value=new, operation=operation)


def test_change_kinds() -> None:
    assert change_kind(change("price", "10.00", "9.99")) == "drop"
    # Numbers, not text: "9.99" > "10.00" as text.
    assert change_kind(change("price", "9.99", "10.00")) == "rise"
    assert change_kind(change("price", "10.00", "10.00")) is None
    assert change_kind(change("availability", "in_stock", "out_of_stock")) == "sellout"
    assert change_kind(change("availability", "out_of_stock", "in_stock")) == "restock"
    assert change_kind(change("availability", "delisted", "in_stock")) == "restock"
    assert change_kind(change("availability", "in_stock", "delisted")) is None
    assert change_kind(change("price", None, "10.00", "INSERT")) is None
    assert change_kind(change("price", "n/a", "10.00")) is None


def test_an_offers_row_escapes_and_formats_its_cells() -> None:
    from christmas_spiders.dashboard.pages import offer_row

    offer = {
        "link": 'https://shop.example/p?a=1&b="2"',
        "vendor": "shop <b>",
        "name": "Santa's Sleigh",
        "price": Decimal("24.5"),
        "availability": "out_of_stock",
        "lowest_price_seen": None,
        "highest_price_seen": Decimal("30"),
        "last_synced_at": dt.datetime(2026, 11, 3, 4, 5, 6, tzinfo=dt.UTC),
    }
    assert offer_row(offer) == (
        "\n<tr>\n"
        '  <td><a href="https://shop.example/p?a=1&amp;b=&#34;2&#34;" '
        'rel="noopener noreferrer nofollow">shop &lt;b&gt;</a></td>\n'
        "  <td>Santa&#39;s Sleigh</td>\n"
        '  <td class="num">$24.50</td>\n'
        '  <td><span class="stock stock-out_of_stock">out of stock</span></td>\n'
        '  <td class="num">\u2013</td>\n'
        '  <td class="num">$30.00</td>\n'
        "  <td>2026-11-03 04:05</td>\n"
        "</tr>\n"
    )
