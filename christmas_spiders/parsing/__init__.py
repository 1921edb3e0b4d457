"""Pure parsing functions shared by every spider (no Scrapy, no I/O).

Each function takes text (or a JSON value) as a shop serves it and returns the
value an item holds, or raises a :class:`ParseError` subclass naming what was wrong.
"""

from __future__ import annotations

from christmas_spiders.parsing.availability import (
    IN_STOCK,
    OUT_OF_STOCK,
    UNKNOWN,
    AvailabilityError,
    StockWording,
    availability_from_flag,
    availability_from_text,
)
from christmas_spiders.parsing.errors import ParseError
from christmas_spiders.parsing.links import clean_link, swap_origin, validate_origin
from christmas_spiders.parsing.price import (
    PriceError,
    format_price,
    parse_price,
    struck_text,
    unstruck_text,
)
from christmas_spiders.parsing.scripts import ScriptDataError, script_object
from christmas_spiders.parsing.text import clean_text, normalise_sku
from christmas_spiders.parsing.years import (
    parse_year_list,
    year_from_first_path_segment,
    year_from_path_number,
    year_from_text_start,
)

__all__ = [
    "IN_STOCK",
    "OUT_OF_STOCK",
    "UNKNOWN",
    "AvailabilityError",
    "ParseError",
    "PriceError",
    "ScriptDataError",
    "StockWording",
    "availability_from_flag",
    "availability_from_text",
    "clean_link",
    "clean_text",
    "format_price",
    "normalise_sku",
    "parse_price",
    "parse_year_list",
    "script_object",
    "struck_text",
    "swap_origin",
    "unstruck_text",
    "validate_origin",
    "year_from_first_path_segment",
    "year_from_path_number",
    "year_from_text_start",
]
