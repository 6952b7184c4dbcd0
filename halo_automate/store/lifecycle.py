"""Which warn-then-close actions a playbook's runs posted on each ticket (from the journal).

A ``lifecycle:`` playbook (:mod:`halo_automate.core.lifecycle`) must never send a step twice
in one waiting period, whatever the crashes and re-runs. The journal already holds every
action a run posted: a ``changes`` row of kind ``action``, journaled *pending* before it was
sent and marked ``done`` with the id Halo gave it. So no new table is needed: this module
reads, for one playbook on one Halo instance, every such row that is pending (its outcome
unknown: counted as sent, so it is never sent again) or done, with its action id.

Undo runs are left out (they delete, they do not warn); an action an undo deleted still
counts as sent: a reminder's e-mail cannot be unsent, and undo does not re-arm it.

Functions over the journal's own transaction, kept out of :mod:`halo_automate.store.journal`,
which is full.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

from halo_automate.store.journal import Journal

_SQL = (
    "SELECT c.ticket_id, c.state, c.action_ids FROM changes c JOIN runs r "
    "ON r.run_id = c.run_id WHERE r.playbook = ? AND r.instance_name = ? AND r.mode = 'apply' "
    "AND c.kind = 'action' AND c.state IN ('pending', 'done') ORDER BY c.id"
)

Posted = tuple[int | None, ...]
"""The posted actions' Halo ids on one ticket (None: pending, its id unknown)."""


def posted_actions(
    journal: Journal, playbook: str, instance: str, tickets: Iterable[int] | None = None
) -> dict[int, Posted]:
    """Per ticket, the actions the playbook's apply runs posted on it on this instance."""
    wanted = None if tickets is None else set(tickets)
    out: dict[int, list[int | None]] = defaultdict(list)
    with journal._tx("reading lifecycle steps", write=False) as db:  # the journal's transaction
        for ticket_id, state, ids_text in db.execute(_SQL, (playbook, instance)):
            if wanted is not None and ticket_id not in wanted:
                continue
            ids = [i for i in json.loads(ids_text or "[]") if isinstance(i, int)]
            if state == "pending" or not ids:
                out[ticket_id].append(None)
            else:
                out[ticket_id].extend(ids)
    return {k: tuple(v) for k, v in out.items()}
