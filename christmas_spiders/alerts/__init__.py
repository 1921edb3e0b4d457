"""Price alerts: rules on a sku, matched against the audit stream, sent through Apprise.

* ``rules``     the four rule kinds and the ``alert_rules`` table
* ``verdict``   ``crawl_verdict(conn, crawl_id)``: whether a crawl's changes may be alerted
* ``matcher``   which rules one group of audit rows fires
* ``messages``  the text of an alert digest and of a failed-crawl report
* ``delivery``  Apprise sending, the outbox (``alert_deliveries``), retries with backoff
* ``service``   ``AlertService``: LISTEN, catch up from the stored position, hold
                pending crawls, write the outbox in the same transaction as the position
* ``cli``       the ``alerts`` click group (``python -m christmas_spiders.alerts``)

The service meets the crawler only in ``db/``: it never imports Scrapy or a spider.
See docs/alerts.md.
"""
