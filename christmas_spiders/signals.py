"""The project's own Scrapy signals.

``items_persisted``: sent by a storing pipeline (one that sets the class
attribute ``sends_items_persisted = True``) each time a batch reaches durable
storage, with ``count=<items in the batch>``, in the order the items were
scraped. The Redis session scheduler waits for it before it forgets a fetched
page, so a worker killed while items sit in a pipeline's batch loses none.
"""

from __future__ import annotations

items_persisted = object()
