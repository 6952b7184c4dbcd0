"""Reading lists from Halo: paged reads that never come back short, and bounded fan-out.

:class:`PagedRead` reads one paged list (``pageinate=true``) and refuses every way a read can
come back short or wrong: an empty page before ``record_count`` is reached, a page that
repeats records (Halo ignored paging), a ``record_count`` that changes while reading, rows
without unique integer ids. :func:`bounded_map` overlaps the latency of independent reads
(pages, id chunks, lookup lists), at most ``concurrency`` at a time, results in order.
:func:`list_rows` accepts the envelopes Halo wraps a lookup list in.
"""

from __future__ import annotations

import contextvars
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from halo_automate.config import HaloSettings
from halo_automate.errors import HaloResponseError

MAX_PAGE_SIZE = 100


class Reader(Protocol):
    """What a paged read needs of the client."""

    settings: HaloSettings

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any: ...


_T = TypeVar("_T")
_R = TypeVar("_R")


def bounded_map(func: Callable[[_T], _R], items: Sequence[_T], width: int) -> Iterator[_R]:
    """``map`` with at most ``width`` calls in flight, results in input order.

    Each call still takes its slot from the shared request budget; this only overlaps their
    latency. Calls run in a copy of the caller's context, so log lines keep run_id/playbook.
    A call starts as soon as any other ends, not only when the oldest result was consumed (a
    slow answer does not hold the other slots idle), and at most ``2 * width`` results are
    started and not yet consumed, so a long read is never held in memory at once.
    """
    if width <= 1 or len(items) <= 1:
        yield from map(func, items)
        return
    base = contextvars.copy_context()
    changed = threading.Condition()  # guards ``futures`` and ``state``; told of every end
    futures: deque[Future[_R]] = deque()  # started, not yet consumed, in input order
    state = {"next": 0, "running": 0, "closed": 0}

    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="halo-read") as pool:

        def more() -> list[Future[_R]]:  # holding ``changed``: start while slot and room
            started: list[Future[_R]] = []
            while (
                not state["closed"]
                and state["next"] < len(items)
                and state["running"] < width
                and len(futures) < 2 * width
            ):
                state["next"] += 1
                state["running"] += 1
                started.append(pool.submit(base.copy().run, func, items[state["next"] - 1]))
            futures.extend(started)
            return started

        def watch(started: list[Future[_R]]) -> None:  # not holding it: may run at once
            for future in started:
                future.add_done_callback(ended)

        def ended(_: Future[_R]) -> None:
            with changed:
                state["running"] -= 1
                started = more()
                changed.notify_all()
            watch(started)

        try:
            with changed:
                started = more()
            watch(started)
            for _ in items:
                with changed:  # the next call may start only once an earlier one has ended
                    changed.wait_for(lambda: bool(futures))
                    head = futures[0]
                result = head.result()
                with changed:
                    futures.popleft()
                    started = more()
                watch(started)
                yield result
        finally:
            with changed:
                state["closed"] = 1
                left = list(futures)
            for future in left:
                future.cancel()


class PagedRead:
    """One paged list read with the checks that make a short read an error."""

    def __init__(self, client: Reader, path: str, key: str, query: dict[str, str]) -> None:
        self.client = client
        self.path = path
        self.key = key
        self.endpoint = f"GET /api/{path}"
        self.query = query
        self.page_size = min(client.settings.page_size, MAX_PAGE_SIZE)
        self.seen: set[int] = set()
        self.record_count = 0

    def read_page(self, page_no: int) -> tuple[int, list[dict[str, Any]]]:
        params = {
            **self.query,
            "pageinate": "true",
            "page_size": str(self.page_size),
            "page_no": str(page_no),
        }
        data = self.client.get(self.path, params)
        if not isinstance(data, dict) or not isinstance(data.get("record_count"), int):
            raise HaloResponseError(
                f"page {page_no}: expected an object with record_count", endpoint=self.endpoint
            )
        rows = data.get(self.key)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise HaloResponseError(
                f"page {page_no}: expected a '{self.key}' list", endpoint=self.endpoint
            )
        return int(data["record_count"]), rows

    def _accept(self, page_no: int, count: int, rows: list[dict[str, Any]]) -> None:
        if count != self.record_count:
            raise HaloResponseError(
                f"record_count changed from {self.record_count} to {count} while reading "
                f"(page {page_no}); the list moved under us, run again",
                endpoint=self.endpoint,
            )
        ids = {r.get("id") for r in rows}
        if len(ids) != len(rows) or not all(isinstance(i, int) for i in ids):
            raise HaloResponseError(
                f"page {page_no}: rows without unique integer ids", endpoint=self.endpoint
            )
        int_ids = {i for i in ids if isinstance(i, int)}
        repeated = self.seen & int_ids
        if repeated:
            raise HaloResponseError(
                f"page {page_no} repeats {len(repeated)} records already read (e.g. id "
                f"{min(repeated)}); Halo ignored paging",
                endpoint=self.endpoint,
            )
        self.seen.update(int_ids)

    def run(self) -> Iterator[dict[str, Any]]:
        self.record_count, first = self.read_page(1)
        self._accept(1, self.record_count, first)
        yield from first
        if len(first) >= self.record_count:
            self._check_total()
            return
        if not first:
            self._short(1)
        per_page = min(self.page_size, len(first))
        pages = math.ceil(self.record_count / per_page)
        yield from self._rest(range(2, pages + 1))
        self._check_total()

    def _rest(self, pages: range) -> Iterator[dict[str, Any]]:
        width = self.client.settings.concurrency
        for page_no, result in zip(pages, bounded_map(self.read_page, pages, width), strict=True):
            yield from self._consume(page_no, result)

    def _consume(
        self, page_no: int, result: tuple[int, list[dict[str, Any]]]
    ) -> Iterator[dict[str, Any]]:
        count, rows = result
        if not rows:
            self._short(page_no)
        self._accept(page_no, count, rows)
        yield from rows

    def _short(self, page_no: int) -> None:
        raise HaloResponseError(
            f"page {page_no} came back empty after {len(self.seen)} of {self.record_count} "
            "records; refusing a short read",
            endpoint=self.endpoint,
        )

    def _check_total(self) -> None:
        if len(self.seen) != self.record_count:
            raise HaloResponseError(
                f"read {len(self.seen)} records but Halo reported record_count "
                f"{self.record_count}; refusing a short read",
                endpoint=self.endpoint,
            )


def list_rows(data: Any, key: str, endpoint: str) -> list[dict[str, Any]]:
    """A lookup list: a bare array, or an object whose array is under ``key`` or ``results``."""
    if isinstance(data, dict):
        data = data.get(key, data.get("results"))
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise HaloResponseError("expected a list of records", endpoint=endpoint)
    return data
