from __future__ import annotations

import pytest

from christmas_spiders.parsing import (
    ParseError,
    parse_year_list,
    year_from_first_path_segment,
    year_from_path_number,
    year_from_text_start,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1995 Hallmark Ornaments", 1995),
        ("  2024 Keepsake", 2024),
        ("Vintage", None),
        ("Pre-1973", None),
        ("19951 Things", None),
        ("", None),
        (None, None),
    ],
)
def test_year_from_text_start(text: str | None, expected: int | None) -> None:
    assert year_from_text_start(text) == expected


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("/1995-hallmark-ornaments/", 1995),
        ("http://127.0.0.1:8000/2003-hallmark-ornaments/?page=2", 2003),
        ("/ornament-accessories/", None),
        ("/vintage-1973-ornaments/", None),
        ("/", None),
    ],
)
def test_year_from_first_path_segment(href: str, expected: int | None) -> None:
    assert year_from_first_path_segment(href) == expected


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("/1995-Hallmark-Ornaments_c_245.html", 1995),
        ("/Hallmark-2001-Ornaments_c_9.html", 2001),
        ("/Ornament-Accessories_c_2011.html", None),
        ("/Vintage-Ornaments_c_31.html", None),
        ("https://x.example/1999-Ornaments_c_1999.html?viewall=1", 1999),
    ],
)
def test_year_from_path_number_ignores_category_ids(href: str, expected: int | None) -> None:
    assert year_from_path_number(href) == expected


def test_parse_year_list_reads_years_and_ranges() -> None:
    assert parse_year_list("1995,2001-2003") == {1995, 2001, 2002, 2003}
    assert parse_year_list(" 2024 ") == {2024}


@pytest.mark.parametrize("raw", ["", "abc", "95", "2003-2001", "1995,,1996", "1995;1996", "0999"])
def test_parse_year_list_rejects_bad_lists_with_the_bad_part(raw: str) -> None:
    with pytest.raises(ParseError, match="years="):
        parse_year_list(raw)
