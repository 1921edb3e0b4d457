"""Judge a crawl run by its numbers: Spidermon monitors, a verdict and a JSON report.

:func:`judge` takes a run's :class:`~christmas_spiders.crawl.numbers.RunNumbers` (one
worker's, or a crawl session's summed over its workers) and runs one suite:

* Spidermon's ``FinishReasonMonitor`` (``SPIDERMON_EXPECTED_FINISH_REASONS``),
  ``ErrorCountMonitor`` (``SPIDERMON_MAX_ERRORS``) and ``FieldCoverageMonitor``
  (``SPIDERMON_FIELD_COVERAGE_RULES``, on coverage computed from the numbers);
* the project's :class:`ItemCountDropMonitor`: a complete crawl yields items, no more
  than ``CHRISTMAS_MAX_ITEM_DROP_RATIO`` fewer than the vendor's previous complete run.

Thresholds come from the crawl's settings; the monitors see the numbers as stats, not
the live crawl's stats, so what is judged is exactly what is recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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

from christmas_spiders.crawl.numbers import RunNumbers
from christmas_spiders.items import ProductItem

# Spidermon names coverage stats and rules after the item class: "ProductItem/<field>".
ITEM_TYPE = ProductItem.__name__


@monitors.name("Item count")
class ItemCountDropMonitor(Monitor, SpiderMonitorMixin):
    @monitors.name("a complete crawl yields items, no fewer than the last complete one allows")
    def test_items_against_previous_complete_run(self) -> None:
        numbers: RunNumbers = self.data.numbers
        if not numbers.full_crawl:
            # A refresh or a few years: nothing to compare with.
            return
        self.assertGreater(numbers.items, 0, msg="a complete crawl yielded no items")
        previous = numbers.previous_items
        if not previous:
            return
        ratio = self.crawler.settings.getfloat("CHRISTMAS_MAX_ITEM_DROP_RATIO")
        self.assertGreaterEqual(
            numbers.items,
            previous * (1 - ratio),
            msg=(
                f"{numbers.items} items, down more than {ratio:.0%} from the "
                f"previous complete run's {previous}"
            ),
        )


def crawl_suite() -> MonitorSuite:
    return MonitorSuite(
        monitors=[
            FinishReasonMonitor,
            ErrorCountMonitor,
            ItemCountDropMonitor,
            FieldCoverageMonitor,
        ]
    )


def monitor_stats(numbers: RunNumbers) -> dict[str, Any]:
    """The numbers as the stats Spidermon's monitors read (coverage by Spidermon's own sums)."""
    stats: dict[str, Any] = {
        "finish_reason": numbers.finish_reason,
        "item_scraped_count": numbers.items,
        # Always present: Spidermon skips the error monitor when the stat is missing.
        "log_count/ERROR": numbers.errors,
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

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def report(self) -> dict[str, Any]:
        """The JSON stored in ``crawl_runs.monitor_report``."""
        return {
            "passed": self.passed,
            "checks": [
                {"monitor": c.monitor, "status": c.status, "error": c.error} for c in self.checks
            ],
            "previous_items": self.previous_items,
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
    )
