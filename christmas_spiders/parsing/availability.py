"""Stock status: each shop's wording mapped onto ``in_stock`` / ``out_of_stock``."""

from __future__ import annotations

import re

from christmas_spiders.parsing.errors import ParseError
from christmas_spiders.parsing.text import clean_text

IN_STOCK = "in_stock"
OUT_OF_STOCK = "out_of_stock"

# Patterns matched (case-insensitive) against the whole cleaned text.
IN_STOCK_TEXTS: tuple[str, ...] = (r"in stock", r"only \d+ left(?: in stock)?")
OUT_OF_STOCK_TEXTS: tuple[str, ...] = (r"out of stock", r"sold out")


class AvailabilityError(ParseError):
    """Stock text or flag the shop's mapping does not know."""


def availability_from_text(
    value: object,
    in_stock: tuple[str, ...] = IN_STOCK_TEXTS,
    out_of_stock: tuple[str, ...] = OUT_OF_STOCK_TEXTS,
) -> str:
    """``In Stock`` / ``Only 3 left`` -> ``in_stock``; ``Out of Stock`` / ``Sold Out`` ->
    ``out_of_stock``; anything else raises :class:`AvailabilityError`."""
    text = clean_text(value).rstrip(".!").lower()
    if any(re.fullmatch(pattern, text) for pattern in in_stock):
        return IN_STOCK
    if any(re.fullmatch(pattern, text) for pattern in out_of_stock):
        return OUT_OF_STOCK
    raise AvailabilityError(f"unknown availability text {clean_text(value)!r}")


def availability_from_flag(value: object) -> str:
    """A 3dcart ``_3d_item.availability`` flag: ``1`` -> ``in_stock``, ``0`` -> ``out_of_stock``."""
    if isinstance(value, bool):
        return IN_STOCK if value else OUT_OF_STOCK
    text = str(value).strip() if value is not None else ""
    if text == "1":
        return IN_STOCK
    if text == "0":
        return OUT_OF_STOCK
    raise AvailabilityError(f"unknown availability flag {value!r}")
