"""The one definition of a product: what every spider yields, the store keeps and the API
returns (the fields and their rules are those of docs/shops.md, "The item").

Each field is declared once, on :class:`ProductItem`, with :func:`product_field`: its type
(the annotation), its normaliser, its check, its JSON schema and its description. Building
a ``ProductItem`` (``ProductItem(...)`` or :meth:`ProductItem.from_raw`) normalises and
checks every field, once; a bad value raises :class:`InvalidProduct` naming the field. The
item is frozen, so what was checked is what gets stored. Everything else derives from
here: :data:`ITEM_FIELDS` gives the products columns the store writes (``db.models``,
``db.store``), the crawl's field coverage and the API's records; :data:`AUDITABLE_FIELDS`
those the audit trigger may track (``db.audit_sql``); :func:`field_json_schemas` gives
the API's schema.

Adding a field (as ``was_price``, a nullable 2-place price: one
``was_price: str | None = price_field("...", nullable=True)`` line; or ``stock_text``,
nullable text the audit does not track) touches this module, a migration (the
``products`` column: its ``Mapped`` column in ``db/models.py`` and the Alembic revision
that adds it, and adds ``products.record_json`` again with the new column in its list;
``tests/test_items.py``, ``tests/test_storage_schema.py`` and
``tests/test_api_products.py`` fail until all three exist) and the spiders that fill it.
Nothing else.

No Scrapy here: Scrapy takes dataclass items through itemadapter, and the API and the
database code import this module without pulling in the crawler.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Self

from christmas_spiders.parsing import clean_link, clean_text, format_price, normalise_sku
from christmas_spiders.parsing.years import FIRST_YEAR, LAST_YEAR

VENDORS: tuple[str, ...] = ("hookedonhallmark", "ornament_shop", "hallmark_ornaments")
#: What a crawl may yield: ``unknown`` where the shop's stock wording is not one the
#: spider knows (the price is still good; the wording is reported, see parsing.availability).
AVAILABILITIES: tuple[str, ...] = ("in_stock", "out_of_stock", "unknown")
#: What the products table may hold: a product missing from its vendor's last complete
#: crawl is marked ``delisted`` (by the crawl's lifecycle, never by a spider).
STORED_AVAILABILITIES: tuple[str, ...] = (*AVAILABILITIES, "delisted")
CURRENCIES: tuple[str, ...] = ("USD",)

#: The reason of an :class:`InvalidProduct` for a field that is absent, None or blank.
MISSING = "missing"
_SPEC = "christmas_product_field"


class InvalidProduct(ValueError):
    """A product with a missing or unusable field.

    ``field`` and ``reason`` name the first bad field (in :data:`ITEM_FIELDS` order);
    ``problems`` maps every bad field to its reason.
    """

    def __init__(self, field: str, reason: str, problems: Mapping[str, str] | None = None):
        self.field = field
        self.reason = reason
        self.problems: dict[str, str] = dict(problems) if problems else {field: reason}
        super().__init__("; ".join(f"bad {name}: {why}" for name, why in self.problems.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.field, self.reason, self.problems)


def is_missing(value: object) -> bool:
    """No value: None, or text that is empty once cleaned (white space, ``&nbsp;``)."""
    return value is None or (isinstance(value, str) and not clean_text(value))


@dataclasses.dataclass(frozen=True)
class ProductField:
    """How one item field is normalised, checked, stored and described."""

    #: One line for the API's schema and the docs.
    description: str
    #: JSON Schema (OpenAPI 3.1 dialect) of the value as the API returns it, without
    #: the description and without null (added for a nullable field).
    schema: Mapping[str, Any]
    #: Raw value (not missing) -> the item's value; raises ValueError naming the problem.
    normalise: Callable[[Any], Any]
    #: The normalised value -> what is wrong with it, or None.
    check: Callable[[Any], str | None] | None = None
    #: The item's value -> the products column's value (a price string -> Decimal).
    to_column: Callable[[Any], Any] = str
    #: None is a value (and the default) of a nullable field; else it is missing.
    nullable: bool = False
    #: The value of an absent field (None: the field is required).
    default: Any = None
    #: Whether the audit may track the field (``audit.tracked_fields``): a fact about
    #: the product, not evidence of how it was read.
    auditable: bool = True

    def clean(self, raw: object) -> Any:
        """The item's value of ``raw``; raises ValueError(reason) (:data:`MISSING`...)."""
        if is_missing(raw):
            if self.nullable:
                return None
            if self.default is not None:
                return self.default
            raise ValueError(MISSING)
        value = self.normalise(raw)
        problem = self.check(value) if self.check is not None else None
        if problem:
            raise ValueError(problem)
        return value

    def column_value(self, value: object) -> Any:
        """The products column's value of a stored item's ``value`` (converted, not checked)."""
        if value is None or value == "":
            if self.nullable:
                return None
            if self.default is not None:
                return self.default
            raise ValueError(MISSING)
        return self.to_column(value)

    def json_schema(self) -> dict[str, Any]:
        schema = copy.deepcopy(dict(self.schema))
        if self.nullable:
            schema["type"] = [schema["type"], "null"]
        return {**schema, "description": self.description}


def product_field(spec: ProductField) -> Any:
    """A :class:`ProductItem` field declared by ``spec``: required unless it is nullable
    (default None) or has a default."""
    if spec.nullable or spec.default is not None:
        return dataclasses.field(default=spec.default, metadata={_SPEC: spec})
    return dataclasses.field(metadata={_SPEC: spec})


# ------------------------------------------------------------------ normalisers and checks


def _as_text(value: object) -> str:
    # An integer id from shop JSON is exact text; anything else (a float, a list) is not.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"not text: {value!r}")
    return str(value)


def _text(value: object) -> str:
    return clean_text(_as_text(value))


def _sku(value: object) -> str:
    return normalise_sku(_as_text(value))


def _currency(value: object) -> str:
    return _text(value).upper()


def _price(value: object) -> str:
    if isinstance(value, float):
        raise ValueError(f"a float price would lose cents: {value!r} (give text or a Decimal)")
    return format_price(value)  # PriceError is a ValueError naming the problem


def _year(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an integer year: {value!r}")
    return value


def _link(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not a link: {value!r}")
    return clean_link(value)  # ParseError for a relative or non-http(s) link


def _decimal(value: object) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    return amount


def one_of(values: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in values else f"{value!r} is not one of {', '.join(values)}"

    return check


def _year_range(value: int) -> str | None:
    if FIRST_YEAR <= value <= LAST_YEAR:
        return None
    return f"{value} is outside {FIRST_YEAR}-{LAST_YEAR}"


def text_field(description: str, **schema: Any) -> Any:
    """Cleaned text: entities decoded, white space runs folded to one space, stripped."""
    return product_field(
        ProductField(description, {"type": "string", "minLength": 1, **schema}, _text)
    )


def choice_field(
    description: str,
    allowed: tuple[str, ...],
    *,
    stored: tuple[str, ...] | None = None,
    normalise: Callable[[Any], str] = _text,
    default: str | None = None,
) -> Any:
    """One of ``allowed`` (what an item may hold); the API may return any of ``stored``
    (a superset the database adds to, default ``allowed``)."""
    schema = {"type": "string", "enum": list(stored or allowed)}
    return product_field(
        ProductField(description, schema, normalise, one_of(allowed), default=default)
    )


def price_field(description: str, nullable: bool = False) -> Any:
    """A price: a 2-place decimal string from text, an int or a Decimal, never a float;
    stored as NUMERIC."""
    schema = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "examples": ["24.95"]}
    return product_field(
        ProductField(description, schema, _price, to_column=_decimal, nullable=nullable)
    )


# ------------------------------------------------------------------ the item


@functools.cache
def _specs(cls: type) -> dict[str, ProductField]:
    """Field name -> spec of a ProductItem class, in declaration order."""
    return {f.name: f.metadata[_SPEC] for f in dataclasses.fields(cls)}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProductItem(Mapping[str, Any]):
    """One product page of one shop, normalised and checked when built.

    Read it by attribute (``item.price``) or as a read-only mapping (``item["price"]``,
    ``dict(item)``), as Scrapy items are read.
    """

    vendor: str = choice_field("The shop: the name of the spider that crawled it.", VENDORS)
    vendor_id: str = text_field("The shop's own product id.")
    sku: str = product_field(
        ProductField(
            "The Hallmark product code, upper-cased, white space removed (QX5257).",
            {"type": "string", "pattern": r"^\S+$", "examples": ["QX5257"]},
            _sku,
        )
    )
    name: str = text_field("The product's name as the shop shows it (Unicode kept).")
    price: str = price_field(
        'The price a buyer pays now (the sale price on sale): a decimal string such as "24.95"'
        " (exact; never a binary float)."
    )
    currency: str = choice_field(
        "ISO 4217 code of the price's currency.", CURRENCIES, normalise=_currency, default="USD"
    )
    brand: str = text_field("The brand the page shows; Hallmark where the shop shows none.")
    availability: str = choice_field(
        "in_stock or out_of_stock as the shop said at the last crawl; unknown: the shop's "
        "stock wording was not one the crawler knows (never counted as in stock); delisted: "
        "not seen in the shop's last complete crawl.",
        AVAILABILITIES,
        stored=STORED_AVAILABILITIES,
    )
    release_year: int = product_field(
        ProductField(
            "The year of the shop's year page the product was found under.",
            {"type": "integer", "minimum": FIRST_YEAR, "maximum": LAST_YEAR},
            _year,
            _year_range,
            to_column=int,
        )
    )
    link: str = product_field(
        ProductField(
            "Absolute URL of the product page, without query string or fragment.",
            {"type": "string", "format": "uri"},
            _link,
        )
    )
    was_price: str | None = price_field(
        'The struck "was" or retail (MSRP) price the page shows beside the price, as a '
        "decimal string; null where it shows none.",
        nullable=True,
    )
    # Not auditable: the wording is how the page said the availability, which the audit
    # tracks itself; its day-to-day changes ("Only 3 left!", "Only 2 left!") are no
    # change of the product's state.
    stock_text: str | None = product_field(
        ProductField(
            "The stock wording the product page showed, white space folded; null where the "
            "shop's structured data gave the stock. Says why an availability is unknown.",
            {"type": "string", "minLength": 1, "examples": ["In Stock - Ships Next Business Day"]},
            _text,
            nullable=True,
            auditable=False,
        )
    )

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        for name, spec in _specs(type(self)).items():
            try:
                value = spec.clean(getattr(self, name))
            except ValueError as exc:
                problems[name] = str(exc) or MISSING
                continue
            # Frozen: the normal form is set once, here.
            object.__setattr__(self, name, value)
        if problems:
            field, reason = next(iter(problems.items()))
            raise InvalidProduct(field, reason, problems)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Self:
        """The item of ``raw`` (a dict, another item type's fields): absent fields are
        missing, and a key that is not a field is a problem of its own."""
        if isinstance(raw, cls):
            return raw
        names = _specs(cls)
        unknown = {key: "not a product field" for key in raw if key not in names}
        if unknown:
            field, reason = next(iter(unknown.items()))
            raise InvalidProduct(field, reason, unknown)
        return cls(**{name: raw.get(name) for name in names})

    # A read-only mapping of the fields, for code written against Scrapy items.
    def __getitem__(self, key: str) -> Any:
        if key not in _specs(type(self)):
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_specs(type(self)))

    def __len__(self) -> int:
        return len(_specs(type(self)))


#: Field name -> spec, in :data:`ITEM_FIELDS` order.
FIELD_SPECS: Mapping[str, ProductField] = MappingProxyType(_specs(ProductItem))
ITEM_FIELDS: tuple[str, ...] = tuple(FIELD_SPECS)
#: The fields the audit may track (every field but the evidence of how one was read).
AUDITABLE_FIELDS: tuple[str, ...] = tuple(
    name for name, spec in FIELD_SPECS.items() if spec.auditable
)
#: The fields every item fills (a nullable field such as ``was_price`` may be None).
REQUIRED_FIELDS: tuple[str, ...] = tuple(
    name for name, spec in FIELD_SPECS.items() if not spec.nullable
)


def field_json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema (OpenAPI 3.1 dialect) of each item field as the API returns it, keyed by
    field name in :data:`ITEM_FIELDS` order (fresh copies: the caller may change them)."""
    return {name: spec.json_schema() for name, spec in FIELD_SPECS.items()}
