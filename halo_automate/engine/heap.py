"""A run's garbage collection looks only at what the run allocates (issue 15, CPU).

CPython's cyclic collector scans every tracked object at each full (oldest-generation)
collection. When a run starts, the process already holds tens of thousands of long-lived
objects (the modules of httpx, pydantic and the rest, the config, cached lookups), none of
which the run will free, and a run allocates enough (pages of tickets, the plan) to trigger
full collections: each one re-scanned all of them, a pause of 50-70 ms holding every thread
(benchmark runs of 2,000 changes; BENCHMARKS.md). :func:`young_heap` sets what is alive when
a run starts aside for the run (``gc.freeze``) and gives it back when the run ends
(``gc.unfreeze``); garbage the run makes is collected as before. Runs of one process that
overlap (the daemon) only hand each other's objects back sooner: freezing never frees or keeps
anything, it only narrows what a collection looks at.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def young_heap() -> Iterator[None]:
    """Full collections in the block skip the objects alive when it began (see the module)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
