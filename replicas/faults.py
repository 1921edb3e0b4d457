"""Fault switches of the replica servers, deterministic by seed.

A fault spec is a dict or a string ``"slow=0.05,slow_seconds=1.5,error=0.05,error_times=1,
drop=0.03,drop_times=1,permanent_error=2"``:

``slow``             share of pages answered after ``slow_seconds`` (every time)
``error``            share of pages answered ``503`` for their first ``error_times`` requests
``drop``             share of pages whose connection is closed without an answer for their
                     first ``drop_times`` requests
``permanent_error``  number of product pages (good ones, reachable from a year page)
                     answered ``500`` every time: a correct crawl ends them in a counted
                     failure; ``ground_truth(..., faults=...)`` leaves them out
``permanent_status`` the status those pages answer: 500 (default), or 404 / 410 (a page
                     the shop took away while a listing still links it; not retried)
``tile_links``       share of the tiles of a faulted hallmark_ornaments year page whose link
                     the grid's script never fills in (at least one tile; 1: every tile, so
                     the browser wait for a tile link times out); the year's product count
                     then says more products than the page lists
``tile_link_years``  number of hallmark_ornaments years hit by ``tile_links`` (default 1);
                     with ``tile_links`` below 1 only years of two or more products, so the
                     page keeps a link and the browser wait holds;
                     ``ground_truth(..., faults=...)`` leaves the unlisted products out
``browser_pages``    1 to let faults hit pages the spiders render in the browser
                     (hallmark_ornaments year pages); 0 (default) spares them
``seed``             the seed of the page choice (default: the catalogue's seed)

Faults hit year pages (every page of a listing, sub-category or view-all) and product
pages; never the year index, robots.txt, the JSON endpoints (``tile_links`` aside, which
changes what the quickview-links endpoint answers) or ``/__replica__/``. Which
pages get which fault follows from (seed, vendor, page key) alone: the shares of drop,
error and slow are disjoint slices of one stable draw per page.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

from replicas.catalogue import Catalogue, _unit

# Statuses a permanent_error page may answer (the server's reply table has each).
PERMANENT_STATUSES = (404, 410, 500)


@dataclass(frozen=True, slots=True)
class FaultConfig:
    slow: float = 0.0
    slow_seconds: float = 1.5
    error: float = 0.0
    error_times: int = 1
    drop: float = 0.0
    drop_times: int = 1
    permanent_error: int = 0
    permanent_status: int = 500
    tile_links: float = 0.0
    tile_link_years: int = 1
    browser_pages: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("slow", "error", "drop", "tile_links"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {name}={value} must be a share within 0..1")
        if self.slow + self.error + self.drop > 1.0:
            raise ValueError("fault shares slow + error + drop must not exceed 1")
        if self.permanent_status not in PERMANENT_STATUSES:
            raise ValueError(
                f"fault permanent_status={self.permanent_status}: one of {PERMANENT_STATUSES}"
            )
        for name in (
            "slow_seconds",
            "error_times",
            "drop_times",
            "permanent_error",
            "tile_link_years",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"fault {name} must be >= 0")

    @property
    def active(self) -> bool:
        """Whether page faults are on (``tile_links`` acts on its JSON endpoint alone)."""
        return bool(self.slow or self.error or self.drop or self.permanent_error)

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_CASTS = {
    "slow": float,
    "slow_seconds": float,
    "error": float,
    "error_times": int,
    "drop": float,
    "drop_times": int,
    "permanent_error": int,
    "permanent_status": int,
    "tile_links": float,
    "tile_link_years": int,
    "browser_pages": lambda v: bool(int(v)),
    "seed": int,
}


def parse_faults(spec: FaultConfig | dict[str, object] | str | None) -> FaultConfig:
    """A FaultConfig from a dict, a ``k=v,k=v`` string, a FaultConfig or None (no faults)."""
    if spec is None or spec == "":
        return FaultConfig()
    if isinstance(spec, FaultConfig):
        return spec
    if isinstance(spec, str):
        pairs: dict[str, object] = {}
        for part in spec.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault spec part {part!r} is not key=value")
            pairs[key.strip()] = value.strip()
        spec = pairs
    unknown = sorted(set(spec) - set(_CASTS))
    if unknown:
        raise ValueError(f"unknown fault switch(es) {unknown}; known: {sorted(_CASTS)}")
    try:
        values = {key: _CASTS[key](value) for key, value in spec.items()}  # type: ignore[operator]
    except (TypeError, ValueError) as error:
        raise ValueError(f"bad fault spec {spec!r}: {error}") from error
    return FaultConfig(**values)  # type: ignore[arg-type]


def permanent_error_paths(catalogue: Catalogue, vendor: str, faults: FaultConfig) -> set[str]:
    """Product page paths that always answer 500 under ``faults``."""
    if not faults.permanent_error:
        return set()
    shop = catalogue.shops[vendor]
    good = sorted(
        shop.listings[v].path
        for v in shop.reachable_vendor_ids()
        if shop.listings[v].malformed is None
    )
    seed = catalogue.seed if faults.seed is None else faults.seed
    rng = random.Random(f"{seed}:{vendor}:permanent")
    return set(rng.sample(good, min(faults.permanent_error, len(good))))


def withheld_tile_links(
    catalogue: Catalogue, vendor: str, faults: FaultConfig
) -> dict[int, set[str]]:
    """Per hallmark_ornaments category id: the vendor ids whose tile link the grid's
    script leaves out under ``faults`` (empty for the other shops)."""
    shop = catalogue.shops[vendor]
    if not faults.tile_links or not faults.tile_link_years or vendor != "hallmark_ornaments":
        return {}
    smallest = 1 if faults.tile_links >= 1.0 else 2
    candidates = sorted(
        (year_page.category_id, year_page.listing.vendor_ids())
        for year_page in shop.years
        if len(set(year_page.listing.vendor_ids())) >= smallest
    )
    seed = catalogue.seed if faults.seed is None else faults.seed
    rng = random.Random(f"{seed}:{vendor}:tile_links")
    chosen = rng.sample(candidates, min(faults.tile_link_years, len(candidates)))
    withheld: dict[int, set[str]] = {}
    for category_id, listed in chosen:
        tiles = sorted(set(listed))
        count = min(len(tiles), max(1, round(faults.tile_links * len(tiles))))
        if faults.tile_links < 1.0:
            count = min(count, len(tiles) - 1)  # one link stays: the browser wait holds
        withheld[category_id] = set(rng.sample(tiles, count))
    return withheld


def unlisted_by_faults(catalogue: Catalogue, vendor: str, faults: FaultConfig) -> set[str]:
    """Vendor ids no year page of ``vendor`` lists with a link under ``faults``."""
    withheld = withheld_tile_links(catalogue, vendor, faults)
    if not withheld:
        return set()
    linked: set[str] = set()
    hidden: set[str] = set()
    for year_page in catalogue.shops[vendor].years:
        missing = withheld.get(year_page.category_id, set())
        for vendor_id in year_page.vendor_ids():
            (hidden if vendor_id in missing else linked).add(vendor_id)
    return hidden - linked


def fault_for(faults: FaultConfig, seed: int, vendor: str, key: str) -> str | None:
    """The fault of one page (``drop``, ``error``, ``slow``) or None."""
    draw = _unit(seed if faults.seed is None else faults.seed, "fault", vendor, key)
    if draw < faults.drop:
        return "drop"
    if draw < faults.drop + faults.error:
        return "error"
    if draw < faults.drop + faults.error + faults.slow:
        return "slow"
    return None
