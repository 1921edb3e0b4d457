"""``WriteStatsFile``: the crawl's final stats as JSON, for scripts that run ``scrapy crawl``.

``-s CHRISTMAS_STATS_FILE=path.json`` switches it on (the demo, the benchmark and the
end-to-end tests read it); unset, it is off. Values that are not JSON (datetimes)
are written as strings.
"""

from __future__ import annotations

import json
from pathlib import Path

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured


class WriteStatsFile:
    def __init__(self, crawler: Crawler, path: Path) -> None:
        self.crawler = crawler
        self.path = path

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WriteStatsFile:
        path = crawler.settings.get("CHRISTMAS_STATS_FILE")
        if not path:
            raise NotConfigured  # no file asked for: nothing to say
        extension = cls(crawler, Path(path))
        # After Scrapy's CoreStats set finish_time and finish_reason.
        crawler.signals.connect(extension.engine_stopped, signal=signals.engine_stopped)
        return extension

    def engine_stopped(self) -> None:
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(stats, default=str, indent=1, sort_keys=True))
