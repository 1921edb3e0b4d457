from __future__ import annotations

from decimal import Decimal

import pytest

from christmas_spiders.parsing import (
    PriceError,
    format_price,
    parse_price,
    struck_text,
    unstruck_text,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$24.95", Decimal("24.95")),
        ("$1,299.00", Decimal("1299.00")),
        ("  USD 12,345.5 ", Decimal("12345.5")),
        ("$7", Decimal("7")),
        ("<s>$29.95</s> $24.95", Decimal("24.95")),
        ('<span id="price"><del>$1,029.95</del>\n <b>$999.00</b></span>', Decimal("999.00")),
        ("<strike>$10.00</strike>$8.50", Decimal("8.50")),
        ("&#36;19.99", Decimal("19.99")),
        (24.95, Decimal("24.95")),
        (Decimal("24.95"), Decimal("24.95")),
        (25, Decimal("25")),
        ("24.95", Decimal("24.95")),
    ],
)
def test_parse_price_reads_the_amount_a_buyer_pays(raw: object, expected: Decimal) -> None:
    price = parse_price(raw)
    assert price == expected
    assert isinstance(price, Decimal)


@pytest.mark.parametrize(
    "raw",
    ["Call for price", "", "   ", None, "<s>$29.95</s>", "$29.95 $24.95", "$0.00", "-5", True],
)
def test_parse_price_rejects_text_without_one_positive_amount(raw: object) -> None:
    with pytest.raises(PriceError):
        parse_price(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("$24.9", "24.90"), ("$1,299", "1299.00"), (Decimal("3.005"), "3.01"), (0.1, "0.10")],
)
def test_format_price_gives_two_place_strings(raw: object, expected: str) -> None:
    assert format_price(raw) == expected
    assert format_price(format_price(raw)) == expected


def test_unstruck_text_keeps_only_the_current_price() -> None:
    assert unstruck_text('<span id="price"><s>$29.95</s> $24.95</span>') == "$24.95"
    assert unstruck_text("<span id=price></span>") == ""


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<span id="price"><s>$29.95</s> $24.95</span>', "$29.95"),
        ("<del> &#36;1,029.95 </del><b>$999.00</b>", "$1,029.95"),
        ("<STRIKE>$10.00</STRIKE>$8.50", "$10.00"),
        ("$24.95", None),
        ("<s> </s> $24.95", None),
    ],
)
def test_struck_text_is_the_was_price_of_sale_markup(markup: str, expected: str | None) -> None:
    assert struck_text(markup) == expected
