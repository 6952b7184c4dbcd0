"""The journal rows that record a planned ticket's parts (its fields, or its actions).

Shared by the batches that write a run (:mod:`halo_automate.engine.batches`): the rows a
ticket update or a carried field is journaled with, the rows that say why a ticket the
stale check (or apply's re-derivation) left out was skipped, a batch element
(:class:`Write`) with the rows it settles, and the marks that settle it done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from halo_automate.core.plan import TicketChange
from halo_automate.engine.writes import written_at
from halo_automate.store.journal import ChangeKind, ChangeMark, NewChange


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


@dataclass
class Write:
    """One element of a batched write (or one DELETE) with the journal rows it settles."""

    change: TicketChange
    kind: Literal["ticket", "action", "delete"]
    body: dict[str, Any]
    rows: list[NewChange] = field(default_factory=list)
    row_ids: list[int] = field(default_factory=list)
    action_id: int | None = None  # the action a "delete" removes
    error: str = ""

    @property
    def ticket_id(self) -> int:
        return self.change.ticket_id


def done_marks(
    write: Write, record: Mapping[str, Any] | None, why: str | None = None
) -> list[ChangeMark]:
    """Done marks; an action's id goes on its ``action`` row (the write's first)."""
    at = written_at(record)  # Halo's own time of the write (undo compares it, v7)
    marks = [ChangeMark(i, "done", why, halo_at=at) for i in write.row_ids]
    if write.kind == "action" and record is not None and isinstance(record.get("id"), int):
        marks[0] = ChangeMark(write.row_ids[0], "done", why, [int(record["id"])], halo_at=at)
    return marks
