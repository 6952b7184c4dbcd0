"""``close``: a ``POST /api/Actions`` action that sets the close status, with an outcome.

``close: {status: Closed, note: ..., outcome: Close Ticket, private: true, email: false}``.
Posted only on a ticket not already in that status; the action carries the ``status_id``
change (apply journals it with the action). Undone by deleting the action and restoring the
status.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from halo_automate.core.actions.base import (
    ActionKind,
    Compiled,
    PostedKind,
    Posting,
    Render,
    Report,
    UndoneBy,
    WrittenAs,
    check_template,
    outcome_id,
    resolve,
)
from halo_automate.core.changes import FieldChange, JSONValue, Ticket, json_value
from halo_automate.core.conditions import Path
from halo_automate.core.lookups import Lookups
from halo_automate.core.templates import parse_template, render_template
from halo_automate.core.values import same

DEFAULT_OUTCOMES = ("Close Ticket", "Internal Note")
POSTED = PostedKind("close", carries_fields=True)


class CloseSpec(BaseModel):
    """``close``: an action with an outcome and the closed status, plus an optional note."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    status: str = "Closed"
    note: str | None = None
    outcome: str | None = None
    private: bool = True
    email: bool = False


class CloseAction(ActionKind[CloseSpec]):
    key = "close"
    spec_type = CloseSpec
    written_as = frozenset({WrittenAs.ACTION})
    undone_by = frozenset({UndoneBy.DELETING_ACTION, UndoneBy.RESTORING_FIELDS})
    posts = POSTED
    empty_means_defaults = True
    position = 20

    def check(self, spec: CloseSpec, path: Path, report: Report) -> list[tuple[str, Path]]:
        check_template(spec.note, (*path, "note"), report)
        return [("status_id", path)]

    def lookups(self, spec: CloseSpec) -> set[str]:
        return {"statuses", "outcomes"}

    def compile(self, spec: CloseSpec, lookups: Lookups, playbook: str) -> Compiled:
        status = resolve(playbook, "close status", lookups.statuses, spec.status).id
        outcome = outcome_id(playbook, "close", lookups, spec.outcome, DEFAULT_OUTCOMES)
        note = parse_template(spec.note) if spec.note is not None else None

        def carried(ticket: Ticket) -> Mapping[str, FieldChange] | None:
            current = ticket.get("status_id")
            if same(current, status):
                return None
            return MappingProxyType({"status_id": FieldChange(json_value(current), status)})

        def body(render: Render) -> dict[str, JSONValue]:
            out: dict[str, JSONValue] = {"outcome_id": outcome, "new_status": status}
            if note is not None:
                out["note"] = render_template(note, **render)
            out["hiddenfromuser"] = spec.private
            out["sendemail"] = spec.email
            return out

        return Compiled(postings=(Posting(POSTED, True, carried, body),))


KIND = CloseAction()
