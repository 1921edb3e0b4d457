"""The project's Scrapy commands (``COMMANDS_MODULE``): ``crawl`` with a verdict exit status."""
