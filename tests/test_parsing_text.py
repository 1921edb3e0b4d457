from __future__ import annotations

import pytest

from christmas_spiders.parsing import clean_text, normalise_sku


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
