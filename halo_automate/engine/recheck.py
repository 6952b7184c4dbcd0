"""What the stale check reads before it compares and re-derives: the tickets as they are now.

Apply's stale check (:meth:`~halo_automate.engine.batches.ApplyRun.check`) re-reads the
planned tickets (list rows by id, 100 per request, ``concurrency`` requests at a time) and,
for each request's tickets as its answer arrives, gathers the facts the change and its
re-derivation depend on before either is judged (issue 18 on top of issue 12); so the
judging of one request's tickets overlaps the requests still in flight (issue 15):

* **custom fields**: list rows lack them, so each ticket whose change writes custom fields
  is read in full (one request each); with a re-derivation whose playbook reads custom
  fields (a ``where`` on ``customfield.X``), every ticket is
  (:func:`~halo_automate.engine.custom_reads.read_custom_fields`);
* **lifecycle history**: a ``lifecycle:`` playbook's due step depends on what each ticket
  had (journal and ticket actions), asked of the re-derivation's source for each request's
  re-read tickets (:meth:`~halo_automate.core.rederive.Rederiver.prepare`).

A fact that cannot be had leaves the ticket as read, and the re-derivation then skips it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from halo_automate.core.plan import TicketChange
from halo_automate.engine.custom_reads import read_custom_fields
from halo_automate.halo.client import MAX_PAGE_SIZE, HaloClient, bounded_map


class Rederive(Protocol):
    """The change a playbook would make now to a planned ticket, or why it is skipped
    (:class:`~halo_automate.core.rederive.Rederiver`)."""

    reads_custom_fields: bool

    def prepare(self, ticket_ids: Sequence[int]) -> None: ...

    def __call__(self, planned: TicketChange, ticket: Mapping[str, Any]) -> TicketChange | str: ...


def read_current(
    client: HaloClient, changes: Sequence[TicketChange], rederive: Rederive | None
) -> Iterator[tuple[int, dict[int, Any]]]:
    """The planned tickets as read now, a read (100 changes, in plan order) at a time as its
    answer arrives, each with the facts its checks need: (how many changes it covers, the
    tickets by id). The reads go ``concurrency`` at a time, so the checks of one overlap the
    reads still in flight."""
    parts = [changes[i : i + MAX_PAGE_SIZE] for i in range(0, len(changes), MAX_PAGE_SIZE)]
    width = max(1, int(getattr(client.settings, "concurrency", 1)))
    every = rederive is not None and rederive.reads_custom_fields

    def read(part: Sequence[TicketChange]) -> list[dict[str, Any]]:
        return list(client.tickets_by_ids([c.ticket_id for c in part]))

    for part, rows in zip(parts, bounded_map(read, parts, width), strict=True):
        current = {t["id"]: t for t in rows}
        read_custom_fields(client, current, part, every=every)
        if rederive is not None:
            rederive.prepare([c.ticket_id for c in part if c.ticket_id in current])
        yield len(part), current
