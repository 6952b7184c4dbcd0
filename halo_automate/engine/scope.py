"""A run over named tickets only: what a webhook run plans from (issue 15).

Halo's webhooks say *which* tickets changed; nothing else in them is trusted (Halo signs
nothing, FACTS §9.9). A :class:`TicketScope` holds those ids for one coalesced batch and is
shared by every webhook playbook run for it:

* the tickets are re-read once, by id (``GET /api/Tickets?ticketids=…``, 100 ids a request),
  the first time a playbook of the batch needs them, and every playbook plans from those rows;
* each playbook's query is its own ``select`` plus ``ticketids=<the ids>``: the planner's
  client-side re-check (:func:`~halo_automate.core.selection.compile_recheck`) drops the rows
  its ``select`` does not match, exactly as it drops the rows Halo should not have returned.
  A ``select`` with a filter the re-check cannot evaluate (a date window, a free filter Halo
  alone understands) is not planned from the shared rows: that playbook reads its own query
  plus ``ticketids`` from Halo instead (one more request), so no filter is ever skipped;
* ``expect.min`` does not hold for a scope (it bounds how many tickets the *whole* selection
  should match; a webhook batch matches a few): the scoped plan drops it. ``max_changes`` and
  ``expect.max`` hold as for any run, and so do the lock, the stale check and the journal.

A ``group:`` playbook (duplicate groups, issue 18) is the exception to reading only the named
tickets: a new alert's survivor is an older ticket the webhook does not name, so its run reads
the playbook's whole ``select`` (as a manual run does), groups it, and :meth:`TicketScope.
narrow` keeps only the groups a named ticket is part of (and their changes).

So a payload can at most make a playbook look at a ticket earlier than its schedule would:
every write still needs the playbook's ``select`` and ``where`` to hold on the ticket as
re-read now.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from halo_automate.core.plan import Plan
from halo_automate.core.selection import RECHECKED_PARAMS
from halo_automate.halo.client import HaloClient


class TicketScope:
    """The tickets of one webhook batch (see the module docstring)."""

    def __init__(self, client: HaloClient, ticket_ids: Iterable[int]) -> None:
        self.client = client
        self.ids: tuple[int, ...] = tuple(sorted({int(i) for i in ticket_ids}))
        self._rows: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self.reads = 0
        """How many times Halo was asked for the scope's tickets (shared or per playbook)."""

    def query(self, query: Mapping[str, str]) -> dict[str, str]:
        """A playbook's query narrowed to the scope's tickets."""
        return {**query, "ticketids": ",".join(str(i) for i in self.ids)}

    def tickets(self, query: Mapping[str, str]) -> Sequence[dict[str, Any]]:
        """The rows to plan ``query`` (already narrowed by :meth:`query`) from."""
        if not self.ids:
            return []
        if set(query) <= RECHECKED_PARAMS:
            return self._shared()
        self.reads += 1
        return list(self.client.iter_tickets(query))

    def _shared(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._rows is None:
                self.reads += 1
                self._rows = list(self.client.tickets_by_ids(list(self.ids)))
            return self._rows

    def narrow(self, plan: Plan) -> Plan:
        """The plan as a scoped run holds it: without ``expect.min``; a group plan (made
        from the whole select) with only the groups a named ticket is part of."""
        if not plan.groups:
            return dataclasses.replace(plan, expect_min=None)
        named = set(self.ids)
        groups = tuple(g for g in plan.groups if named & {g.survivor, *g.members})
        members = {m for g in groups for m in g.members}
        return dataclasses.replace(
            plan,
            expect_min=None,
            groups=groups,
            changes=tuple(c for c in plan.changes if c.ticket_id in members),
            not_evaluated=tuple(n for n in plan.not_evaluated if n.ticket_id in named),
        )
