"""The journal rows that record a planned ticket's parts (its fields, or its actions).

Shared by the batches that write a run (:mod:`halo_automate.engine.batches`): the rows a
ticket update or a carried field is journaled with, and the rows that say why a ticket the
stale check (or apply's re-derivation) left out was skipped.
"""

from __future__ import annotations

from collections.abc import Iterable

from halo_automate.core.plan import TicketChange
from halo_automate.store.journal import ChangeKind, NewChange


def field_rows(change: TicketChange, names: Iterable[str], batch: int) -> list[NewChange]:
    """One row per named field of ``change`` (before, after), in batch ``batch``."""
    return [
        NewChange(change.ticket_id, n, change.fields[n].before, change.fields[n].after, batch)
        for n in names
    ]


def skip_rows(change: TicketChange, names: list[str]) -> list[NewChange]:
    """The rows journaling a skipped ticket: its checked fields, else all its fields, else
    its actions (a ticket is never skipped without a row saying so)."""
    rows = field_rows(change, names or list(change.fields), 0)
    return rows or [
        NewChange(change.ticket_id, a.kind, None, dict(a.body), 0, ChangeKind.ACTION)
        for a in change.actions
    ]
