"""Before posting a batch of actions: did another run of this playbook post them already?

Two writers of one playbook (a laptop and the daemon on different journals, or a host that
lost its lock) can both pass their stale checks before either writes; each would then post
the same note. So right before an action batch is sent, the engine asks Halo:

1. one ``GET /api/Tickets?ticketids=…`` for the batch's tickets (100 ids per request): a
   ticket whose ``lastactiondate`` is what the stale check saw has had no action since, so
   nothing else to do (the usual case: **one request per action batch**);
2. for each ticket whose last action date moved, one ``GET /api/Actions?ticket_id=…``: an
   action carrying this playbook's tag and a run marker of another run at the same position
   (``#n``), dated after the stale check's last action date, is that other run's post. The
   action is then settled ``done`` with the found action's id, not posted again — unless it
   carries fields (a close's status) that are not at the planned value, in which case it is
   posted as planned.

So a batch of N actions costs 1 extra request, plus 1 per ticket that got an action since the
stale check (a playbook posting two actions per ticket pays it for its second batch: its own
first note moved the date). Pure decisions are in :mod:`halo_automate.engine.writes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from halo_automate.core.plan import FieldChange
from halo_automate.engine.writes import field_state, marker_parts, posted_by_playbook
from halo_automate.halo.client import HaloClient, bounded_map
from halo_automate.store.journal import NewChange

log = structlog.get_logger("halo_automate.engine.apply")


@dataclass(frozen=True)
class Planned:
    """One action about to be posted: its ticket, its body's note, the fields it carries."""

    ticket_id: int
    note: str
    carried: Sequence[NewChange]


def posted_elsewhere(
    client: HaloClient, playbook: str, items: Sequence[Planned], seen: Mapping[int, object]
) -> dict[int, tuple[Mapping[str, Any], str]]:
    """By item index: the action another run of ``playbook`` already posted for that item,
    and the journal message saying so.

    ``seen`` holds each ticket's ``lastactiondate`` as the stale check read it."""
    ids = sorted({item.ticket_id for item in items})
    if not ids:
        return {}
    current = {t["id"]: t for t in client.tickets_by_ids(ids)}
    moved = [
        tid for tid in ids if tid in current and current[tid].get("lastactiondate") != seen.get(tid)
    ]
    if not moved:
        return {}
    width = max(1, int(getattr(client.settings, "concurrency", 1)))
    listed = dict(zip(moved, bounded_map(client.list_actions, moved, width), strict=True))
    found: dict[int, tuple[Mapping[str, Any], str]] = {}
    for index, item in enumerate(items):
        actions = listed.get(item.ticket_id)
        if not actions:
            continue
        action = posted_by_playbook(actions, playbook, item.note, seen.get(item.ticket_id))
        ticket = current[item.ticket_id]
        fields_done = all(
            field_state(ticket.get(r.field), FieldChange(r.before, r.after)) == "after"  # type: ignore[arg-type]
            for r in item.carried
        )
        if action is not None and fields_done:
            other = (marker_parts(str(action.get("note") or "")) or ("?", 0))[0]
            log.warning("action_already_posted", ticket_id=item.ticket_id, by_run=other)
            found[index] = (action, f"already posted by run {other}; not posted again")
    return found
