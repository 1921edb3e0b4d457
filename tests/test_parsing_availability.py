"""Stock wording (shared/vendor-sites.md, "Stock wording"): leading phrases, any case."""

from __future__ import annotations

import pytest

from christmas_spiders.parsing import (
    AvailabilityError,
    StockWording,
    availability_from_flag,
    availability_from_text,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("In Stock", "in_stock"),
        (" in  stock ", "in_stock"),
        ("Only 3 left", "in_stock"),
        ("Only 1 left!", "in_stock"),
        ("Out of Stock", "out_of_stock"),
        ("Sold Out", "out_of_stock"),
        # The live shops' longer wording, in any case.
        ("In Stock - Ships Next Business Day", "in_stock"),
        ("IN STOCK", "in_stock"),
        ("in stock.", "in_stock"),
        ("Only 12 left in stock!", "in_stock"),
        ("ONLY 2 LEFT", "in_stock"),
        ("SOLD OUT", "out_of_stock"),
        ("sold out - check back soon", "out_of_stock"),
        ("Out&nbsp;of Stock", "out_of_stock"),
    ],
)
def test_availability_from_text(raw: str, expected: str) -> None:
    assert availability_from_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    # No phrase leads: a phrase inside the text, part of a word, no number for N, no text.
    [
        "",
        None,
        "Pre-order",
        "Only a few left",
        "Stock",
        "Usually in stock",
        "In stockings",
        "Only N left",
    ],
)
def test_other_wording_is_unknown(raw: object) -> None:
    assert availability_from_text(raw) == "unknown"


def test_configured_phrases_extend_the_built_in_ones() -> None:
    wording = StockWording.configured(
        {"in_stock": ["Backordered", "ships in N days"], "out_of_stock": ["Retired"]}
    )
    assert wording.classify("Backordered - Ships in 2-3 Weeks") == "in_stock"
    assert wording.classify("Ships in 3 days") == "in_stock"
    assert wording.classify("RETIRED") == "out_of_stock"
    assert wording.classify("In Stock") == "in_stock"
    assert wording.classify("Pre-order") == "unknown"
    assert StockWording.configured(None) == StockWording() == StockWording.configured({})


def test_the_longest_leading_phrase_decides() -> None:
    wording = StockWording.configured({"out_of_stock": ["in stock soon"]})
    assert wording.classify("In Stock Soon - Pre-order") == "out_of_stock"
    assert wording.classify("In Stock") == "in_stock"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"in_stock": "Backordered"}, "must be a list of phrases"),
        ({"in_stock": ["  "]}, "is not a phrase"),
        ({"in_stock": [3]}, "is not a phrase"),
        ({"maybe": ["x"]}, "unknown keys maybe"),
        ({"out_of_stock": ["In  STOCK"]}, "both in and out of stock: in stock"),
        (["Backordered"], "must map in_stock / out_of_stock"),
    ],
)
def test_unusable_configuration_is_refused_with_its_place(extra: object, message: str) -> None:
    with pytest.raises(AvailabilityError, match=message) as raised:
        StockWording.configured(extra, where="stock_wording.shop")  # type: ignore[arg-type]
    assert "stock_wording.shop" in str(raised.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, "in_stock"),
        ("1", "in_stock"),
        (True, "in_stock"),
        (0, "out_of_stock"),
        ("0", "out_of_stock"),
        (False, "out_of_stock"),
    ],
)
def test_availability_from_flag(raw: object, expected: str) -> None:
    assert availability_from_flag(raw) == expected


@pytest.mark.parametrize("raw", [None, "", 2, "yes"])
def test_other_flags_are_unknown(raw: object) -> None:
    assert availability_from_flag(raw) == "unknown"
