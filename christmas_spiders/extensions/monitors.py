"""Spidermon monitors run at the close of every crawl by RecordCrawlRun.

They read ``self.data.stats`` (the crawl's stats) and ``self.data.meta`` (facts the
extension adds: finish reason, full_crawl, the item count of the vendor's previous
complete run, the thresholds from config ``monitors``).
"""

from __future__ import annotations

import logging
from typing import Any

from spidermon import Monitor, MonitorSuite, monitors
from spidermon.contrib.scrapy.runners import SpiderMonitorResult, SpiderMonitorRunner

from christmas_spiders.items import REQUIRED_FIELDS

COVERAGE_STAT = "christmas/coverage/{field}"


@monitors.name("Crawl health")
class CrawlHealthMonitor(Monitor):
    @monitors.name("finish reason is finished")
    def test_finish_reason(self) -> None:
        reason = self.data.meta["finish_reason"]
        self.assertEqual(reason, "finished", msg=f"the crawl ended with reason {reason!r}")

    @monitors.name("no errors logged")
    def test_no_errors(self) -> None:
        errors = self.data.stats.get("log_count/ERROR", 0)
        self.assertEqual(errors, 0, msg=f"{errors} errors were logged")


@monitors.name("Item count")
class ItemCountMonitor(Monitor):
    @monitors.name("a complete crawl yields items, no fewer than the last complete one allows")
    def test_items_against_previous_complete_run(self) -> None:
        meta = self.data.meta
        items = self.data.stats.get("item_scraped_count", 0)
        if not meta["full_crawl"]:
            # A refresh or a few years: nothing to compare with.
            return
        self.assertGreater(items, 0, msg="a complete crawl yielded no items")
        previous = meta["previous_items"]
        if not previous:
            return
        floor = previous * (1 - meta["max_item_drop_ratio"])
        self.assertGreaterEqual(
            items,
            floor,
            msg=(
                f"{items} items, down more than {meta['max_item_drop_ratio']:.0%} from the "
                f"previous complete run's {previous}"
            ),
        )


@monitors.name("Field coverage")
class FieldCoverageMonitor(Monitor):
    @monitors.name("every field filled in enough items")
    def test_field_coverage(self) -> None:
        items = self.data.stats.get("item_scraped_count", 0)
        if not items:
            return
        minimum = self.data.meta["min_field_coverage"]
        low = {}
        # A nullable field (was_price) is empty by right where a page shows none.
        for field in REQUIRED_FIELDS:
            coverage = self.data.stats.get(COVERAGE_STAT.format(field=field), 0) / items
            if coverage < minimum:
                low[field] = round(coverage, 4)
        self.assertFalse(low, msg=f"fields below {minimum:.0%} coverage: {low}")


class LoggerMonitorResult(SpiderMonitorResult):
    """Spidermon's result, logging through ``spider.logger`` (``Spider.log()`` is deprecated)."""

    def log(self, msg: Any, level: int = logging.DEBUG) -> None:
        self.spider.logger.log(level, "[Spidermon] %s", msg)


class LoggerMonitorRunner(SpiderMonitorRunner):
    def create_result(self) -> LoggerMonitorResult:
        return LoggerMonitorResult(self.spider)


def crawl_suite() -> MonitorSuite:
    return MonitorSuite(monitors=[CrawlHealthMonitor, ItemCountMonitor, FieldCoverageMonitor])


def _failure_message(error: Any) -> str:
    # unittest gives a formatted traceback; keep what follows "AssertionError:".
    text = str(error)
    marker = text.rfind("Error: ")
    message = text[marker + len("Error: ") :] if marker >= 0 else text
    return " ".join(message.split())


def run_monitors(spider: Any, stats: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """Run the suite (its results are logged by Spidermon) and return the verdict as JSON."""
    runner = LoggerMonitorRunner(spider=spider)
    result = runner.run(crawl_suite(), stats=stats, meta=meta, spider=spider)
    checks = []
    for item in result.monitor_results:
        checks.append(
            {
                "monitor": item.item.name,
                "status": item.status,
                "error": _failure_message(item.error) if item.error else None,
            }
        )
    return {"passed": bool(result.all_monitors_passed), "checks": checks}
