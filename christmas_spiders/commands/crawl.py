"""``scrapy crawl``, exiting with the crawl's verdict (cron, scrapyd and scripts read it).

Exit status:

* 0: the crawl finished (reason ``finished``) and its verdict is a pass, or another
  worker of the session judges it (``pending``);
* 1: anything else: another finish reason (``database_unavailable``, ``start_error``,
  ``redis_unavailable``, ``shutdown``...), failed monitors, a run that could not be
  recorded, a crawl that could not start;
* 2: a bad ``-a`` argument, refused before any request (one line on stderr).

The verdict is also the last line of the crawl's log (scrapyd keeps it in the job's log;
scrapyd's own log says ``Process died: exitstatus=1`` for a non-zero exit).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from typing import Any

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from christmas_spiders.crawl.lifecycle import PENDING, VERDICT_REASON_STAT, VERDICT_STAT
from christmas_spiders.platforms.base import SpiderArgumentError

logger = logging.getLogger(__name__)
PASSING_VERDICTS = ("passed", PENDING)
BAD_ARGUMENT = 2


def crawl_exit_status(stats: Mapping[str, Any]) -> tuple[int, str]:
    """(exit status, one line saying why) of a crawl's final stats."""
    reason = stats.get("finish_reason")
    verdict = stats.get(VERDICT_STAT)
    why = stats.get(VERDICT_REASON_STAT) or ""
    if reason != "finished":
        return 1, f"crawl ended with reason {reason}" + (
            f"; verdict {verdict}: {why}" if verdict else ""
        )
    if verdict is not None and verdict not in PASSING_VERDICTS:
        return 1, f"crawl verdict {verdict}: {why}"
    return (
        0,
        f"crawl verdict {verdict}: {why}" if verdict else "crawl finished (not judged: no store)",
    )


class Command(ScrapyCrawlCommand):
    def short_desc(self) -> str:
        return "Run a spider of the current project, by name; exit status = its verdict"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            super().run(args, opts)  # Scrapy's usage errors
            return
        assert self.crawler_process is not None
        try:
            spider_class = self.crawler_process.spider_loader.load(args[0])
        except KeyError as exc:
            raise UsageError(f"no spider named {args[0]!r}") from exc
        check = getattr(spider_class, "check_arguments", None)
        if check is not None:
            try:
                check(dict(opts.spargs))
            except SpiderArgumentError as exc:
                print(f"error: bad spider argument: {exc}", file=sys.stderr)
                self.exitcode = BAD_ARGUMENT
                return
        crawler = self.crawler_process.create_crawler(spider_class)
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed or crawler.stats is None:
            self.exitcode = 1
            return
        self.exitcode, line = crawl_exit_status(crawler.stats.get_stats())
        if self.exitcode:
            logger.error("%s (exit status %d)", line, self.exitcode)
        else:
            logger.info(line)
