"""``link``: a duplicate of a ``group:`` becomes a child of its survivor (``parent_id``).

``link: {note: "Linked as a duplicate of #{survivor.id} by {playbook}", private: true}``.
Halo's parent/child linking is the ticket field ``parent_id`` (OpenAPI ``Faults``: with
``child_count`` and ``child_ticket_ids`` on the parent), sent in ``POST /api/Tickets``; a
duplicate already linked to its survivor gets nothing. The optional note is posted on the
duplicate with the link (an action, like ``note``'s). Undone like any field: ``parent_id``
back to what it was, the note deleted or kept as undo does for notes. To close the
duplicates as well, add a ``close:`` action after it (it acts on the duplicates only).
"""

from __future__ import annotations

from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field

from halo_automate.core.actions.base import (
    ActionKind,
    Compiled,
    Posting,
    Render,
    Report,
    UndoneBy,
    Write,
    WrittenAs,
    check_template,
    outcome_id,
)
from halo_automate.core.actions.note import DEFAULT_OUTCOME
from halo_automate.core.actions.note import POSTED as NOTE
from halo_automate.core.changes import JSONValue, Ticket
from halo_automate.core.conditions import Path
from halo_automate.core.groups import PARENT, survivor_of
from halo_automate.core.lookups import Lookups
from halo_automate.core.templates import parse_template, render_template


class LinkSpec(BaseModel):
    """``link``: set the duplicate's parent to the survivor, with an optional note."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    note: str | None = Field(None, min_length=1)
    private: bool = True
    outcome: str | None = None


class LinkAction(ActionKind[LinkSpec]):
    key = "link"
    spec_type = LinkSpec
    written_as = frozenset({WrittenAs.TICKET_FIELDS, WrittenAs.ACTION})
    undone_by = frozenset({UndoneBy.RESTORING_FIELDS, UndoneBy.DELETING_ACTION})
    empty_means_defaults = True
    needs_group = True
    position = 60

    def check(self, spec: LinkSpec, path: Path, report: Report) -> list[tuple[str, Path]]:
        check_template(spec.note, (*path, "note"), report)
        return [(PARENT, path)]

    def lookups(self, spec: LinkSpec) -> set[str]:
        return {"outcomes"} if spec.note is not None else set()

    def compile(self, spec: LinkSpec, lookups: Lookups, playbook: str) -> Compiled:
        def rule(ticket: Ticket) -> Write | None:
            survivor = survivor_of(ticket)
            return None if survivor is None else Write(PARENT, survivor["id"])

        if spec.note is None:
            return Compiled(writes=(rule,))
        outcome = outcome_id(playbook, "link note", lookups, spec.outcome, (DEFAULT_OUTCOME,))
        text = parse_template(spec.note)

        def body(render: Render) -> dict[str, JSONValue]:
            return {
                "outcome_id": outcome,
                "note": render_template(text, **render),
                "hiddenfromuser": spec.private,
                "sendemail": False,
            }

        posting = Posting(NOTE, False, lambda ticket: MappingProxyType({}), body)
        return Compiled(writes=(rule,), postings=(posting,))


KIND = LinkAction()
