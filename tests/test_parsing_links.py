from __future__ import annotations

import pytest

from christmas_spiders.parsing import ParseError, clean_link, swap_origin, validate_origin


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("https://shop.example", "https://shop.example"),
    ],
)
def test_validate_origin_accepts_http_origins(raw: str, expected: str) -> None:
    assert validate_origin(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://127.0.0.1:8080",
        "127.0.0.1:8080",
        "http://",
        "http://host/path",
        "http://host?x=1",
        "http://host:99999",
        "http://user:pw@host",
        "",
    ],
)
def test_validate_origin_rejects_anything_else(raw: str) -> None:
    with pytest.raises(ParseError, match="not an http\\(s\\) origin"):
        validate_origin(raw)


def test_swap_origin_keeps_path_and_query() -> None:
    assert (
        swap_origin("https://www.shop.example/a/b.html?page=2", "http://127.0.0.1:9")
        == "http://127.0.0.1:9/a/b.html?page=2"
    )


@pytest.mark.parametrize(
    ("href", "page", "expected"),
    [
        ("/p/frosty.html?ref=year#reviews", "http://h:1/y/", "http://h:1/p/frosty.html"),
        ("frosty.html", "http://h:1/y/2024.html", "http://h:1/y/frosty.html"),
        ("https://other.example/x?y", None, "https://other.example/x"),
    ],
)
def test_clean_link_is_absolute_without_query_or_fragment(
    href: str, page: str | None, expected: str
) -> None:
    assert clean_link(href, page) == expected


def test_clean_link_rejects_non_http_links() -> None:
    with pytest.raises(ParseError):
        clean_link("javascript:void(0)", "http://h:1/")
