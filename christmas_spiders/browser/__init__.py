"""The browser layer: renders scrapy-selenium ``SeleniumRequest``s in headless Chromium.

* :mod:`~christmas_spiders.browser.settings`: ``BrowserSettings``, read once from Scrapy's;
* :mod:`~christmas_spiders.browser.request`: the request API (``element_present``,
  meta keys, per-request ``RenderOptions``);
* :mod:`~christmas_spiders.browser.driver`: one Chromium driver and a page's render;
* :mod:`~christmas_spiders.browser.pool`: worker threads, per-host delay, watchdog, retries;
* :mod:`~christmas_spiders.browser.reaping`: killing process trees, the atexit and orphan nets;
* :mod:`~christmas_spiders.browser.errors`: what the layer raises.

The Scrapy downloader middlewares that use it are in
:mod:`christmas_spiders.middlewares.selenium`; docs/browser.md describes the whole.
"""

from __future__ import annotations

from christmas_spiders.browser.errors import (
    BrowserNetworkError,
    SeleniumNotConfigured,
    SeleniumRenderError,
    SeleniumWaitTimeout,
)
from christmas_spiders.browser.request import ElementPresent, element_present
from christmas_spiders.browser.settings import BrowserSettings

__all__ = [
    "BrowserNetworkError",
    "BrowserSettings",
    "ElementPresent",
    "SeleniumNotConfigured",
    "SeleniumRenderError",
    "SeleniumWaitTimeout",
    "element_present",
]
