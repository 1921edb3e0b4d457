"""Pure parsing functions shared by every spider (no Scrapy, no I/O).

Each function takes text (or a JSON value) as a shop serves it and returns the
value an item holds, or raises a :class:`ParseError` subclass naming what was wrong.
"""

from __future__ import annotations

from christmas_spiders.parsing.availability import (
    AvailabilityError,
    availability_from_flag,
    availability_from_text,
)
from christmas_spiders.parsing.errors import ParseError
from christmas_spiders.parsing.links import clean_link, swap_origin, validate_origin
from christmas_spiders.parsing.price import PriceError, format_price, parse_price, unstruck_text
from christmas_spiders.parsing.text import clean_text, normalise_sku
from christmas_spiders.parsing.years import (
    parse_year_list,
    year_from_first_path_segment,
    year_from_path_number,
    year_from_text_start,
)

__all__ = [
    "AvailabilityError",
    "ParseError",
    "PriceError",
    "availability_from_flag",
    "availability_from_text",
    "clean_link",
    "clean_text",
    "format_price",
    "normalise_sku",
    "parse_price",
    "parse_year_list",
    "swap_origin",
    "unstruck_text",
    "validate_origin",
    "year_from_first_path_segment",
    "year_from_path_number",
    "year_from_text_start",
]
