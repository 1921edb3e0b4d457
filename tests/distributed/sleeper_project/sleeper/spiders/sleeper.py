"""A spider that only waits ``-a seconds=N``: a job that stays "running" for the overlap test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from scrapy import Spider


class SleeperSpider(Spider):
    name = "sleeper"

    async def start(self) -> AsyncIterator[Any]:
        self.logger.info("sleeper args: %s", {k: v for k, v in vars(self).items() if k[0] != "_"})
        await asyncio.sleep(float(getattr(self, "seconds", "0")))
        return
        yield
