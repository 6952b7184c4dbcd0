"""``note``: a note action, posted only on tickets that get another change.

``note: {text: "Moved by {playbook}", private: true, outcome: Internal Note, email: false}``
(``email: true`` e-mails it to the user, Halo's ``sendemail``; never by default). A note
changes nothing conditions can see, so it rides along with another change (a playbook of
only notes is refused: it would post again on every run). Undone by deleting the action.
"""

from __future__ import annotations

from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field

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
)
from halo_automate.core.changes import JSONValue
from halo_automate.core.conditions import Path
from halo_automate.core.lookups import Lookups
from halo_automate.core.templates import parse_template, render_template

DEFAULT_OUTCOME = "Internal Note"
POSTED = PostedKind("note")


class NoteSpec(BaseModel):
    """``note``: a note action, posted only on tickets that get another change."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    text: str = Field(min_length=1)
    private: bool = True
    outcome: str | None = None
    email: bool = False
    """E-mail the note to the ticket's user (Halo's ``sendemail``); an e-mailed note is
    visible to the user whatever ``private`` says. Off unless written."""


class NoteAction(ActionKind[NoteSpec]):
    key = "note"
    spec_type = NoteSpec
    written_as = frozenset({WrittenAs.ACTION})
    undone_by = frozenset({UndoneBy.DELETING_ACTION})
    posts = POSTED
    changes_ticket = False
    position = 30

    def check(self, spec: NoteSpec, path: Path, report: Report) -> list[tuple[str, Path]]:
        check_template(spec.text, (*path, "text"), report)
        return []

    def lookups(self, spec: NoteSpec) -> set[str]:
        return {"outcomes"}

    def compile(self, spec: NoteSpec, lookups: Lookups, playbook: str) -> Compiled:
        outcome = outcome_id(playbook, "note", lookups, spec.outcome, (DEFAULT_OUTCOME,))
        text = parse_template(spec.text)

        def body(render: Render) -> dict[str, JSONValue]:
            return {
                "outcome_id": outcome,
                "note": render_template(text, **render),
                "hiddenfromuser": spec.private and not spec.email,
                "sendemail": spec.email,
            }

        posting = Posting(POSTED, False, lambda ticket: MappingProxyType({}), body)
        return Compiled(postings=(posting,))


KIND = NoteAction()
