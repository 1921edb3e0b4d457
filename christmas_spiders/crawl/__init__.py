"""The crawl's lifecycle, one component per module.

* :mod:`.database`: the crawl's one engine (:func:`~.database.crawl_database`), shared by
  the upsert pipeline, the lifecycle extension and the spider's refresh queries;
* :mod:`.numbers`: a run's numbers (pages, items, errors, drops, field coverage);
* :mod:`.record`: its ``crawl_runs`` row, at open and at close;
* :mod:`.judge`: the monitors' verdict on the numbers;
* :mod:`.delist`: marking unseen products delisted, on a proof of completeness;
* :mod:`.lifecycle`: the extension that runs record -> judge -> delist;
* :mod:`.progress` and :mod:`.stats_file`: the progress line and the final stats file.
"""
