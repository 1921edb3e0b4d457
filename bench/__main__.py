"""``make bench`` / ``python -m bench [NAME ...]``: run bench/bench_<NAME>.py (default: all).

``python -m bench NAME --option ...`` passes the options to that one benchmark
(``python -m bench crawl --products 20000 --repeat 1``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    available = sorted(
        p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py")
    )
    first_option = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    chosen, options = argv[:first_option] or available, argv[first_option:]
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    if options and len(chosen) != 1:
        print("options go to one benchmark: python -m bench NAME --option ...", file=sys.stderr)
        return 2
    status = 0
    for name in chosen:
        print(f"=== bench_{name}", flush=True)
        status |= importlib.import_module(f"bench.bench_{name}").main(options) or 0
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
