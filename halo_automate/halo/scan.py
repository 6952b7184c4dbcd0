"""A ticket scan that completes while tickets change, and never silently misses one.

A long scan (hundreds of pages, minutes at Halo's rate limit) runs while agents and mail create,
close and edit tickets. Offset paging over a moving list shifts rows between pages: a ticket
that stops matching on an earlier page moves every later row one place up, and the row at a
page boundary is read by neither page. Aborting when ``record_count`` changes (the old rule)
meant a busy service desk's scans almost never finished. :class:`TicketScan` instead:

1. pages in ascending id order (``order=id``, ``orderdesc=false``), so a new ticket (highest
   id) lands after everything read and only closes/edits shift rows by a few places;
2. checks each page against its *own* ``record_count``: ids unique, integer and ascending
   (Halo honoured the order), a page as long as its count says (a short or empty page is a
   short read), a page that is all repeats means Halo ignored paging; rows a shift shows
   twice are yielded once;
3. when more than one page was read, reconciles: one id-only listing of the same filters
   (``ticketidonly=true``, FACTS.md §9.6, not paged) gives the ids matching now, and every
   one not yet read is fetched by id (``ticketids``, with the same filters, 100 at a time).

So a ticket that matched throughout the scan is always in the listing, hence read. A ticket
that stopped matching during the scan may have been yielded (it matched when its page was
read); the engine re-reads every ticket before writing it. A single-page result is one
consistent snapshot and costs no reconciliation. :attr:`TicketScan.report` counts what the
scan saw and what it cost.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from halo_automate.errors import HaloResponseError
from halo_automate.halo.paging import MAX_PAGE_SIZE, PagedRead, Reader, bounded_map

log = structlog.get_logger("halo_automate.halo")

ORDER_PARAMS = {"order": "id", "orderdesc": "false"}
"""Every ticket scan pages in ascending id order (FACTS.md §2.3 ``order``/``orderdesc``)."""


@dataclass
class ScanReport:
    """What one scan saw: pages read, how the list moved, what reconciling cost."""

    pages: int = 0
    record_count_first: int = 0
    record_count_last: int = 0
    shifted_repeats: int = 0  # rows read twice because the list shifted (yielded once)
    listed: int = 0  # ids in the id-only listing
    fetched_by_id: int = 0  # ids the pages missed, read by id
    stopped_matching: int = 0  # read on a page, gone from the listing (changed meanwhile)
    extra_requests: int = 0  # the listing and the by-id reads


class TicketScan:
    """One scan of ``GET /api/Tickets`` for ``query`` (see the module docstring)."""

    def __init__(self, client: Reader, query: Mapping[str, str]) -> None:
        self.client = client
        self.filters = dict(query)
        self.paged = PagedRead(client, "Tickets", "tickets", {**self.filters, **ORDER_PARAMS})
        self.endpoint = self.paged.endpoint
        self.seen: set[int] = set()
        self.report = ScanReport()

    def run(self) -> Iterator[dict[str, Any]]:
        count, first = self.paged.read_page(1)
        self.report.record_count_first = count
        yield from self._accept(1, count, first, per_page=max(len(first), 1))
        if len(first) >= count:
            return
        per_page = min(self.paged.page_size, len(first))
        pages = range(2, math.ceil(count / per_page) + 1)
        width = self.client.settings.concurrency
        for page_no, (page_count, rows) in zip(
            pages, bounded_map(self.paged.read_page, pages, width), strict=True
        ):
            yield from self._accept(page_no, page_count, rows, per_page)
        yield from self._reconcile()
        log.debug("ticket_scan", **vars(self.report))

    def _accept(
        self, page_no: int, count: int, rows: list[dict[str, Any]], per_page: int
    ) -> Iterator[dict[str, Any]]:
        self.report.pages += 1
        self.report.record_count_last = count
        ids = [r.get("id") for r in rows]
        int_ids = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
        if len(int_ids) != len(rows) or len(set(int_ids)) != len(rows):
            raise self._error(f"page {page_no}: rows without unique integer ids")
        if any(a >= b for a, b in itertools.pairwise(int_ids)):
            raise self._error(
                f"page {page_no}: rows are not in ascending id order; Halo ignored order=id"
            )
        expected = max(0, min(per_page, count - (page_no - 1) * per_page))
        if not rows and expected:
            raise self._error(
                f"page {page_no} came back empty after {len(self.seen)} of {count} records; "
                "refusing a short read"
            )
        if len(rows) < expected:
            raise self._error(
                f"page {page_no}: read {len(self.seen | set(int_ids))} records but Halo reported "
                f"record_count {count} ({len(rows)} rows where {expected} were due); refusing "
                "a short read"
            )
        repeated = self.seen.intersection(int_ids)
        if rows and len(repeated) == len(rows):
            raise self._error(
                f"page {page_no} repeats {len(repeated)} records already read (e.g. id "
                f"{min(repeated)}); Halo ignored paging"
            )
        self.report.shifted_repeats += len(repeated)
        self.seen.update(int_ids)
        return (r for r in rows if r["id"] not in repeated)

    def _reconcile(self) -> Iterator[dict[str, Any]]:
        """Read by id every ticket the id-only listing names and the pages did not show."""
        listed = self._listing()
        self.report.listed = len(listed)
        self.report.stopped_matching = len(self.seen - listed)
        missing = sorted(listed - self.seen)
        self.report.extra_requests = 1
        chunks = [missing[i : i + MAX_PAGE_SIZE] for i in range(0, len(missing), MAX_PAGE_SIZE)]
        self.report.extra_requests += len(chunks)

        def read(chunk: list[int]) -> list[dict[str, Any]]:
            query = {**self.filters, "ticketids": ",".join(map(str, chunk))}
            return list(PagedRead(self.client, "Tickets", "tickets", query).run())

        for rows in bounded_map(read, chunks, self.client.settings.concurrency):
            for row in rows:
                if row["id"] not in self.seen:  # a listed id still matching: not read before
                    self.seen.add(row["id"])
                    self.report.fetched_by_id += 1
                    yield row

    def _listing(self) -> set[int]:
        """The ids matching the filters now (``ticketidonly=true``, one unpaged request)."""
        data = self.client.get("Tickets", {**self.filters, "ticketidonly": "true"})
        rows = data.get("tickets") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise self._error("id-only listing: expected a 'tickets' list")
        ids = {r.get("id") for r in rows}
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise self._error("id-only listing: rows without integer ids")
        return {i for i in ids if isinstance(i, int)}

    def _error(self, message: str) -> HaloResponseError:
        return HaloResponseError(message, endpoint=self.endpoint)


def first_tickets(client: Reader, query: Mapping[str, str], limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` tickets matching ``query`` in id order, one page after another and
    no page more than needed: a sample (``record``), so no reconciliation read, and the cost
    is exactly ``ceil(min(limit, matching) / page_size)`` requests."""
    paged = PagedRead(client, "Tickets", "tickets", {**query, **ORDER_PARAMS})
    out: list[dict[str, Any]] = []
    page_no = 1
    while len(out) < limit:
        count, rows = paged.read_page(page_no)
        out += rows
        if not rows or len(out) >= count:
            break
        page_no += 1
    return out[:limit]
