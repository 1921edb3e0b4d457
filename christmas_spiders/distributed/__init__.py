"""Crawls shared by several workers through Redis (scrapy-redis, per crawl session)."""
