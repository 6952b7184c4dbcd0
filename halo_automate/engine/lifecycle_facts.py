"""What each ticket has had of a ``lifecycle:`` playbook's steps: the facts planning needs.

For a warn-then-close playbook (:mod:`halo_automate.core.lifecycle`), before planning:

1. the journal says on which of the listed tickets the playbook's apply runs posted actions,
   and their Halo ids (:func:`~halo_automate.store.lifecycle.posted_actions`; no request);
2. only for those tickets, one ``GET /api/Actions?ticket_id=`` each: the last action that
   does not carry the playbook's tag (:func:`~halo_automate.engine.writes.playbook_tag`) began
   the current waiting period (a customer's reply, an agent's action), and the playbook's
   actions journaled after it (Halo's action ids grow per ticket; a pending row counts as
   posted) are the steps the ticket has had in it. A ticket that lists no other action (its
   last action date came from something the action list does not show) is taken to have
   begun waiting the first step's ``after`` before the playbook's first action on it: never
   earlier than it truly began, so no step comes early.

A ticket the journal has no action of has had nothing: its period began at its
``lastactiondate`` and no request is spent on it. Recovery runs before planning, so pending
rows are settled first; one still pending counts as sent (never a second reminder).

Apply's re-derivation (:mod:`halo_automate.core.rederive`) asks the same facts again for
the tickets it is about to write, under the writer lock (:func:`history_source`): a ticket
whose actions cannot be read is reported unknown, and skipped, never written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from halo_automate.core.dates import format_halo_date, parse_halo_date
from halo_automate.core.lifecycle import History
from halo_automate.core.playbook import Playbook
from halo_automate.core.rederive import HistorySource
from halo_automate.engine.writes import playbook_tag
from halo_automate.errors import HaloError
from halo_automate.halo.client import HaloClient
from halo_automate.store.journal import Journal
from halo_automate.store.lifecycle import Posted, posted_actions


def lifecycle_history(
    client: HaloClient, journal: Journal, playbook: Playbook, tickets: Iterable[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[int, History]]:
    """The listed tickets (read in full) and the history of those the playbook acted on."""
    rows = list(tickets)
    ids = [t["id"] for t in rows if isinstance(t.get("id"), int)]
    return rows, dict(_histories(client, journal, playbook, ids, tolerant=False)[0])


def history_source(client: HaloClient, journal: Journal, playbook: Playbook) -> HistorySource:
    """The facts apply's re-derivation asks for the tickets it is about to write (a ticket
    whose actions cannot be read is unknown: skipped, never written)."""

    def facts(ticket_ids: Sequence[int]) -> tuple[Mapping[int, History], frozenset[int]]:
        return _histories(client, journal, playbook, ticket_ids, tolerant=True)

    return facts


def _histories(
    client: HaloClient, journal: Journal, playbook: Playbook, ids: Iterable[int], *, tolerant: bool
) -> tuple[dict[int, History], frozenset[int]]:
    posted = posted_actions(journal, playbook.name, client.instance_name, ids)
    tag = playbook_tag(playbook.name)
    first = playbook.lifecycle[0].after if playbook.lifecycle else timedelta(0)
    history: dict[int, History] = {}
    unknown: set[int] = set()
    for ticket_id, ours in sorted(posted.items()):
        try:
            actions = client.list_actions(ticket_id)
        except HaloError:
            if not tolerant:
                raise
            unknown.add(ticket_id)
            continue
        history[ticket_id] = _history(actions, ours, tag, first)
    return history, frozenset(unknown)


def _history(actions: list[dict[str, Any]], ours: Posted, tag: str, first: timedelta) -> History:
    listed = [a for a in actions if isinstance(a.get("id"), int)]
    mine = [a for a in listed if tag in str(a.get("note") or "") + str(a.get("note_html") or "")]
    others = [a for a in listed if a not in mine]
    if not others:
        earliest = min((a for a in mine), key=lambda a: int(a["id"]), default=None)
        posted = _date(earliest.get("datetime")) if earliest else None
        since = format_halo_date(posted - first) if posted is not None else None
        return History(since=since, had=len(ours))
    last = max(others, key=lambda a: int(a["id"]))
    start = 0  # ours after the last one known to precede the period
    for index, action_id in enumerate(ours):
        if action_id is not None and action_id < last["id"]:
            start = index + 1
    return History(since=_text(last.get("datetime")), had=len(ours) - start)


def _date(value: object) -> datetime | None:
    try:
        return parse_halo_date(value)
    except ValueError:
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
