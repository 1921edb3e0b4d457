"""A tiny shop and a worker spider for the distributed-crawl tests (no browser needed)."""
