"""The ornament chart's series: each offer's price as steps, its sold-out spans marked.

Pure functions over the rows of ``price_history`` (``api.product_queries.price_intervals``)
and the offer's availability audit, so the page and its tests agree on one shape:
``{"label", "vendor", "product_id", "points": [{"x": ms, "y": price, "s": 0|1}]}``.
A point holds from its ``x`` until the next point's (Chart.js ``stepped: "after"``);
``s`` is 1 where the offer was not in stock; ``y`` is null where the offer had no price
(deleted, then listed again), which breaks the line.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from typing import Any

IN_STOCK = "in_stock"


def epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def offer_points(
    intervals: Sequence[Any],
    availability: Sequence[tuple[dt.datetime, str | None]],
    current_availability: str,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The chart points of one offer.

    ``intervals``: rows with ``price``, ``valid_from``, ``valid_to`` (oldest first);
    ``availability``: (changed_at, new value) of its availability changes, oldest first.
    Before its first recorded availability (or after a change to no value) an offer
    counts as it is now.
    """
    if not intervals:
        return []
    times = [moment for moment, _ in availability]
    # Out of stock from each change on (1) or not: worked out once, not per point.
    current = int(current_availability != IN_STOCK)
    sold = [int(value != IN_STOCK) if value else current for _, value in availability]
    points: list[dict[str, Any]] = []

    def add(moment: dt.datetime, price: float | None) -> None:
        if price is None:
            sold_out = 0
        else:
            index = bisect.bisect_right(times, moment) - 1
            sold_out = sold[index] if index >= 0 else current
        if not points:
            points.append({"x": epoch_ms(moment), "y": price, "s": sold_out})
            return
        last = points[-1]
        if last["y"] == price and last["s"] == sold_out:
            return
        point = {"x": epoch_ms(moment), "y": price, "s": sold_out}
        if last["x"] == point["x"]:
            points[-1] = point  # a later change at the same instant wins
        else:
            points.append(point)

    for index, interval in enumerate(intervals):
        start: dt.datetime = interval.valid_from
        end: dt.datetime = interval.valid_to or now
        price = None if interval.price is None else float(interval.price)
        add(start, price)
        for moment in times[bisect.bisect_right(times, start) : bisect.bisect_left(times, end)]:
            add(moment, price)
        following = intervals[index + 1] if index + 1 < len(intervals) else None
        if following is not None and following.valid_from > end:
            add(end, None)  # no price between a deletion and the next listing
    last = intervals[-1]
    end = last.valid_to or now
    # The last price held until now (or the deletion): a closing point draws that step.
    if epoch_ms(end) > points[-1]["x"]:
        points.append({"x": epoch_ms(end), "y": float(last.price), "s": points[-1]["s"]})
    return points


def series_label(offer: dict[str, Any], offers: Sequence[dict[str, Any]]) -> str:
    """The vendor, with its own id where one shop lists the sku twice."""
    same_shop = sum(1 for other in offers if other["vendor"] == offer["vendor"])
    return offer["vendor"] if same_shop == 1 else f"{offer['vendor']} ({offer['vendor_id']})"
