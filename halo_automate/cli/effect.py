"""What applying a plan does, in one sentence for the confirmation prompt.

``close 269 tickets, post 269 private notes, 0 e-mails, 0 other field changes``: computed
from the plan alone (the kinds of actions it posts, notes private or visible to the user,
``sendemail`` flags, the field changes besides the status a close carries), so the question
a person answers says where and what, not only how many tickets. An undo's plan reads as
what it puts back (fields restored, notes deleted and added).
"""

from __future__ import annotations

from dataclasses import dataclass

from halo_automate.core.plan import Plan


@dataclass(frozen=True)
class Effect:
    """The counts the sentence is made of."""

    tickets: int = 0
    closes: int = 0
    private_notes: int = 0
    visible_notes: int = 0
    emails: int = 0
    other_actions: int = 0
    field_changes: int = 0
    deleted_notes: int = 0


def plan_effect(plan: Plan) -> Effect:
    """Count what ``plan`` writes (a close's own status change is part of the close)."""
    closes = private = visible = emails = other = fields = deleted = 0
    for change in plan.changes:
        closing = any(a.kind == "close" for a in change.actions)
        closes += closing
        fields += sum(1 for name in change.fields if not (closing and name == "status_id"))
        deleted += len(change.remove_actions)
        for action in change.actions:
            if action.body.get("note"):
                if action.body.get("hiddenfromuser"):
                    private += 1
                else:
                    visible += 1
            elif action.kind != "close":
                other += 1
            emails += bool(action.body.get("sendemail"))
    return Effect(len(plan.changes), closes, private, visible, emails, other, fields, deleted)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def effect_sentence(plan: Plan) -> str:
    """``close 269 tickets, post 269 private notes, 0 e-mails, 0 other field changes``."""
    e = plan_effect(plan)
    undo = plan.mode == "undo"
    parts: list[str] = []
    if undo:
        parts.append(f"put back {_n(e.field_changes, 'field')} on {_n(e.tickets, 'ticket')}")
        if e.deleted_notes:
            parts.append(f"delete {_n(e.deleted_notes, 'note')}")
    else:
        if e.closes:
            parts.append(f"close {_n(e.closes, 'ticket')}")
        if e.tickets > e.closes:
            other = "other " if e.closes else ""
            parts.append(f"change {_n(e.tickets - e.closes, other + 'ticket')}")
    parts.append(f"post {_n(e.private_notes, 'private note')}")
    if e.visible_notes:
        parts.append(f"{_n(e.visible_notes, 'note')} visible to the user")
    if e.other_actions:
        parts.append(f"{_n(e.other_actions, 'other action')}")
    parts.append(_n(e.emails, "e-mail"))
    if not undo:
        parts.append(_n(e.field_changes, "other field change" if e.closes else "field change"))
    return ", ".join(parts)
