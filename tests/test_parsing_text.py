from __future__ import annotations

import pytest

from christmas_spiders.parsing import (
    AvailabilityError,
    availability_from_flag,
    availability_from_text,
    clean_text,
    normalise_sku,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Frosty&#8482;   Friends\n\t2024 ", "Frosty™ Friends 2024"),
        ("Caf&eacute; &amp; Cocoa", "Café & Cocoa"),
        ("No\u00a0break\u2009space", "No break space"),
        ("Père Noël ☃", "Père Noël ☃"),
        (None, ""),
        ("   ", ""),
    ],
)
def test_clean_text_decodes_folds_and_strips(raw: object, expected: str) -> None:
    assert clean_text(raw) == expected
    assert clean_text(clean_text(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("qx 5257", "QX5257"), (" QXI\t4321\n", "QXI4321"), ("qxm1234", "QXM1234"), (None, "")],
)
def test_normalise_sku_upper_cases_and_removes_white_space(raw: object, expected: str) -> None:
    assert normalise_sku(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("In Stock", "in_stock"),
        (" in  stock ", "in_stock"),
        ("Only 3 left", "in_stock"),
        ("Only 1 left!", "in_stock"),
        ("Out of Stock", "out_of_stock"),
        ("Sold Out", "out_of_stock"),
    ],
)
def test_availability_from_text(raw: str, expected: str) -> None:
    assert availability_from_text(raw) == expected


@pytest.mark.parametrize("raw", ["", None, "Pre-order", "Only a few left", "Stock"])
def test_availability_from_text_rejects_unknown_wording(raw: object) -> None:
    with pytest.raises(AvailabilityError):
        availability_from_text(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1, "in_stock"), ("1", "in_stock"), (0, "out_of_stock"), ("0", "out_of_stock")],
)
def test_availability_from_flag(raw: object, expected: str) -> None:
    assert availability_from_flag(raw) == expected


@pytest.mark.parametrize("raw", [None, "", 2, "yes"])
def test_availability_from_flag_rejects_other_values(raw: object) -> None:
    with pytest.raises(AvailabilityError):
        availability_from_flag(raw)
