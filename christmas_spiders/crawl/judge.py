"""Judge a crawl run by its numbers: Spidermon monitors, a verdict and a JSON report.

:func:`judge` takes a run's :class:`~christmas_spiders.crawl.numbers.RunNumbers` (one
worker's, or a crawl session's summed over its workers) and runs one suite:

* Spidermon's ``FinishReasonMonitor`` (``SPIDERMON_EXPECTED_FINISH_REASONS``),
  ``ErrorCountMonitor`` (``SPIDERMON_MAX_ERRORS``, on the ERROR lines no counted request
  failure explains: a traceback, a lost database) and ``FieldCoverageMonitor``
  (``SPIDERMON_FIELD_COVERAGE_RULES``, on coverage computed from the numbers);
* the project's :class:`ItemCountDropMonitor`: a full crawl yields items, and a full crawl
  or a refresh no more than ``CHRISTMAS_MAX_ITEM_DROP_RATIO`` fewer than the vendor's
  previous finished session of the same kind;
* :class:`RequestFailureMonitor`: failed product pages as a share of product pages asked
  for (``CHRISTMAS_MAX_FAILED_PRODUCT_PAGE_RATIO``), failed year indexes
  (``CHRISTMAS_MAX_FAILED_YEAR_INDEXES``);
* :class:`DropShareMonitor`: dropped product pages, any one drop reason and price
  conflicts as shares of product pages, unknown availability as a share of items
  (``CHRISTMAS_MAX_DROPPED_RATIO``, ``CHRISTMAS_MAX_DROP_REASON_RATIO``,
  ``CHRISTMAS_MAX_PRICE_CONFLICT_RATIO``, ``CHRISTMAS_MAX_UNKNOWN_AVAILABILITY_RATIO``):
  a shop's layout drifting shows here first.

A refresh that walked every listing (``-a mode=refresh``) reads few product pages, and
those are where drops and unknown stock gather: its shares are taken of the products
its listings showed, and its listed count, not its item count, is compared with the
previous such refresh (:meth:`~.numbers.RunNumbers.share_base`, ``compared_count``).

Thresholds come from the crawl's settings; the monitors see the numbers as stats, not
the live crawl's stats, so what is judged is exactly what is recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from scrapy.crawler import Crawler
from spidermon import Monitor, MonitorSuite, monitors
from spidermon.contrib.monitors.mixins.spider import SpiderMonitorMixin
from spidermon.contrib.scrapy.monitors import (
    ErrorCountMonitor,
    FieldCoverageMonitor,
    FinishReasonMonitor,
)
from spidermon.contrib.scrapy.runners import SpiderMonitorResult, SpiderMonitorRunner
from spidermon.settings import MONITOR
from spidermon.utils.field_coverage import calculate_field_coverage

from christmas_spiders.crawl.numbers import FULL, REFRESH, RunNumbers
from christmas_spiders.items import ProductItem
from christmas_spiders.platforms.base import PRODUCT_PAGE, YEAR_INDEX

# Spidermon names coverage stats and rules after the item class: "ProductItem/<field>".
ITEM_TYPE = ProductItem.__name__


# Drop reason of a product page whose prices disagree (its own, stricter threshold).
PRICE_CONFLICT = "price_conflict"
# Kinds of crawl whose item count is compared with the previous session of the kind.
COMPARED_KINDS = (FULL, REFRESH)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@monitors.name("Item count")
class ItemCountDropMonitor(Monitor, SpiderMonitorMixin):
    @monitors.name("a complete crawl yields items, no fewer than the last complete one allows")
    def test_items_against_previous_complete_run(self) -> None:
        numbers: RunNumbers = self.data.numbers
        if numbers.kind not in COMPARED_KINDS:
            # A few years or one product: nothing to compare with.
            return
        if numbers.kind == FULL:
            self.assertGreater(numbers.items, 0, msg="a complete crawl yielded no items")
        previous = numbers.previous_items
        if not previous:
            return
        ratio = self.crawler.settings.getfloat("CHRISTMAS_MAX_ITEM_DROP_RATIO")
        what = numbers.compared_count
        count = int(getattr(numbers, what))
        self.assertGreaterEqual(
            count,
            previous * (1 - ratio),
            msg=(
                f"{count} {'listed products' if what == 'listed' else 'items'}, down more "
                f"than {ratio:.0%} from the previous complete run's {previous}"
            ),
        )


@monitors.name("Request failures")
class RequestFailureMonitor(Monitor, SpiderMonitorMixin):
    @monitors.name("failed product pages within their share of product pages")
    def test_failed_product_pages(self) -> None:
        numbers: RunNumbers = self.data.numbers
        failed = numbers.failed.get(PRODUCT_PAGE, 0)
        limit = self.crawler.settings.getfloat("CHRISTMAS_MAX_FAILED_PRODUCT_PAGE_RATIO")
        whole = numbers.share_base(numbers.product_requests)
        share = _share(failed, whole)
        self.assertLessEqual(
            share,
            limit,
            msg=(f"{failed} of {whole} product pages failed ({share:.1%}, more than {limit:.1%})"),
        )

    @monitors.name("the year index was read")
    def test_failed_year_index(self) -> None:
        numbers: RunNumbers = self.data.numbers
        failed = numbers.failed.get(YEAR_INDEX, 0)
        limit = self.crawler.settings.getint("CHRISTMAS_MAX_FAILED_YEAR_INDEXES")
        self.assertLessEqual(
            failed, limit, msg=f"the year index failed {failed} times (at most {limit})"
        )


@monitors.name("Dropped pages")
class DropShareMonitor(Monitor, SpiderMonitorMixin):
    def _assert_share(self, what: str, count: int, whole: int, setting: str) -> None:
        limit = self.crawler.settings.getfloat(setting)
        share = _share(count, whole)
        self.assertLessEqual(
            share, limit, msg=f"{what}: {count} of {whole} ({share:.1%}, more than {limit:.1%})"
        )

    @monitors.name("dropped product pages within their share")
    def test_dropped_share(self) -> None:
        numbers: RunNumbers = self.data.numbers
        self._assert_share(
            "dropped product pages",
            sum(numbers.dropped.values()),
            numbers.share_base(numbers.product_pages),
            "CHRISTMAS_MAX_DROPPED_RATIO",
        )

    @monitors.name("no one drop reason above its share")
    def test_each_drop_reason(self) -> None:
        numbers: RunNumbers = self.data.numbers
        limit = self.crawler.settings.getfloat("CHRISTMAS_MAX_DROP_REASON_RATIO")
        whole = numbers.share_base(numbers.product_pages)
        over = {
            reason: count
            for reason, count in sorted(numbers.dropped.items())
            if _share(count, whole) > limit
        }
        self.assertFalse(
            over,
            msg="product pages dropped for "
            + ", ".join(
                f"{reason}: {count} of {whole} ({_share(count, whole):.1%})"
                for reason, count in over.items()
            )
            + f" (more than {limit:.1%} each)",
        )

    @monitors.name("price conflicts within their share")
    def test_price_conflicts(self) -> None:
        numbers: RunNumbers = self.data.numbers
        self._assert_share(
            "product pages with conflicting prices",
            numbers.dropped.get(PRICE_CONFLICT, 0),
            numbers.share_base(numbers.product_pages),
            "CHRISTMAS_MAX_PRICE_CONFLICT_RATIO",
        )

    @monitors.name("unknown availability within its share")
    def test_unknown_availability(self) -> None:
        numbers: RunNumbers = self.data.numbers
        self._assert_share(
            "items of unknown availability",
            numbers.unknown_availability,
            numbers.share_base(numbers.items),
            "CHRISTMAS_MAX_UNKNOWN_AVAILABILITY_RATIO",
        )


def crawl_suite() -> MonitorSuite:
    return MonitorSuite(
        monitors=[
            FinishReasonMonitor,
            ErrorCountMonitor,
            ItemCountDropMonitor,
            FieldCoverageMonitor,
            RequestFailureMonitor,
            DropShareMonitor,
        ]
    )


def monitor_stats(numbers: RunNumbers) -> dict[str, Any]:
    """The numbers as the stats Spidermon's monitors read (coverage by Spidermon's own sums)."""
    stats: dict[str, Any] = {
        "finish_reason": numbers.finish_reason,
        "item_scraped_count": numbers.items,
        # Always present: Spidermon skips the error monitor when the stat is missing. Each
        # failed request logs one ERROR; those are judged as shares, not counted here.
        "log_count/ERROR": numbers.unexplained_errors,
    }
    if numbers.items:
        counts = {f"spidermon_item_scraped_count/{ITEM_TYPE}": numbers.items}
        for name, filled in numbers.filled.items():
            counts[f"spidermon_item_scraped_count/{ITEM_TYPE}/{name}"] = filled
        stats.update(calculate_field_coverage(counts))
    return stats


@dataclass(frozen=True)
class Check:
    monitor: str
    status: str
    error: str | None

    @property
    def passed(self) -> bool:
        return self.status in MONITOR.STATUSES.SUCCESSFUL


@dataclass(frozen=True)
class Verdict:
    passed: bool
    checks: list[Check] = field(default_factory=list)
    previous_items: int | None = None
    #: The numbers judged (a session's: summed over its workers).
    numbers: RunNumbers | None = None

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    @property
    def reason(self) -> str:
        """One line: why the verdict failed, or that every monitor passed."""
        if self.passed:
            return "every monitor passed"
        return "; ".join(f"{c.monitor}: {c.error}" for c in self.failures)

    def failed_with(self, monitor: str, error: str) -> Verdict:
        """This verdict with one more failed check (a judgement made after the monitors)."""
        return replace(
            self, passed=False, checks=[*self.checks, Check(monitor, MONITOR.STATUS.FAILURE, error)]
        )

    def report(self) -> dict[str, Any]:
        """The JSON stored in ``crawl_runs.monitor_report``: the checks and the numbers."""
        return {
            "passed": self.passed,
            "checks": [
                {"monitor": c.monitor, "status": c.status, "error": c.error} for c in self.checks
            ],
            "previous_items": self.previous_items,
            "numbers": self.numbers.as_dict() if self.numbers is not None else None,
        }


class LoggerMonitorResult(SpiderMonitorResult):
    """Spidermon's result, logging through ``spider.logger`` (``Spider.log()`` is deprecated)."""

    def log(self, msg: Any, level: int = logging.DEBUG) -> None:
        self.spider.logger.log(level, "[Spidermon] %s", msg)


class LoggerMonitorRunner(SpiderMonitorRunner):
    def create_result(self) -> LoggerMonitorResult:
        return LoggerMonitorResult(self.spider)


def _failure_message(error: Any) -> str:
    # unittest gives a formatted traceback; keep what follows "AssertionError:".
    text = str(error)
    marker = text.rfind("Error: ")
    message = text[marker + len("Error: ") :] if marker >= 0 else text
    return " ".join(message.split())


def judge(numbers: RunNumbers, crawler: Crawler) -> Verdict:
    """Run the suite on ``numbers`` (thresholds from ``crawler.settings``; Spidermon logs
    each result through the crawler's spider) and return the verdict."""
    spider = crawler.spider
    runner = LoggerMonitorRunner(spider=spider)
    result = runner.run(
        crawl_suite(),
        stats=monitor_stats(numbers),
        numbers=numbers,
        crawler=crawler,
        spider=spider,
    )
    checks = [
        Check(
            monitor=item.item.name,
            status=item.status,
            error=_failure_message(item.error) if item.error else None,
        )
        for item in result.monitor_results
    ]
    return Verdict(
        passed=bool(result.all_monitors_passed),
        checks=checks,
        previous_items=numbers.previous_items,
        numbers=numbers,
    )
