"""What a run writes and how to tell, reading a ticket back, whether it landed.

The bodies of ``POST /api/Tickets`` and ``POST /api/Actions`` elements, the run marker that
identifies each action a run posts (so a note is found, never posted twice) and the playbook
tag before it (so another run of the playbook, from any journal, finds the note too), which
parts of a planned ticket are still to write (:class:`Todo`), and the verdicts on a value
read back: at the plan's "after" (landed), at its "before" (not landed) or at a third value
(someone else changed it). Values are compared with
:func:`halo_automate.core.values.same`, the planner's own equality. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from halo_automate.core import customfields
from halo_automate.core.actions.registry import carries_fields
from halo_automate.core.dates import parse_halo_date
from halo_automate.core.groups import WRITE_ONLY
from halo_automate.core.plan import ActionSpec, FieldChange, Plan, RemoveAction, TicketChange
from halo_automate.core.values import field_value, same

Verdict = Literal["landed", "absent", "changed"]
MARKER_PREFIX = "[halo-automate run "
PLAYBOOK_PREFIX = "[halo-automate playbook "


def playbook_tag(playbook: str) -> str:
    """The text naming the playbook that posted an action, just before its run marker:
    ``[halo-automate playbook close-spam] [halo-automate run <run_id>]``. Notes posted
    before the tag existed carry only the run marker, which is still recognised."""
    return f"{PLAYBOOK_PREFIX}{playbook}]"


def without_marker(note: str) -> str:
    """A note as the playbook planned it: its run marker (and the playbook tag before it,
    when the note has one) cut off."""
    cut = note.rfind(MARKER_PREFIX)
    if cut < 0:
        return note
    tag = note.rfind(PLAYBOOK_PREFIX, 0, cut)
    if tag >= 0 and note[tag:cut].rstrip().endswith("]") and "\n" not in note[tag:cut]:
        cut = tag
    return note[:cut].rstrip()


def marker_parts(note: str) -> tuple[str, int] | None:
    """(run id, action index) of the run marker a note ends with (either format)."""
    marker = marker_of(note)
    if marker is None:
        return None
    run_id, _, number = marker[len(MARKER_PREFIX) : -1].partition(" #")
    return run_id, int(number) - 1 if number.isdigit() else 0


def posted_by_playbook(
    actions: Iterable[Mapping[str, Any]], playbook: str, note: str, since: object = None
) -> Mapping[str, Any] | None:
    """An action of ``playbook`` at the same position as ``note`` (its ``#n``), posted by
    another run (any journal's) later than ``since`` (Halo's own date of the ticket's last
    action when this run checked it; None: any time), if any. Dates Halo gives that cannot
    be read count as later: a second note is the harm to avoid."""
    mine = marker_parts(note)
    if mine is None:
        return None
    tag, after = playbook_tag(playbook), _when(since)
    for action in actions:
        text = str(action.get("note") or "") + str(action.get("note_html") or "")
        found = marker_parts(text) if tag in text else None
        if found is None or found[0] == mine[0] or found[1] != mine[1]:
            continue
        posted = _when(action.get("datetime"))
        if after is None or posted is None or posted > after:
            return action
    return None


def written_at(record: Mapping[str, Any] | None) -> str | None:
    """Halo's own time of a write, from the saved record it answered with: a ticket's
    ``last_update``, an action's ``datetime`` (None when the answer has neither or they
    cannot be read as dates). Undo compares it with the ticket's dates read later."""
    if record is None:
        return None
    for key in ("last_update", "datetime"):
        when = _when(record.get(key))
        if when is not None:
            return when.isoformat()
    return None


def _when(value: object) -> datetime | None:
    try:
        return parse_halo_date(value)
    except ValueError:
        return None


def run_marker(run_id: str, index: int = 0) -> str:
    """The text that identifies one of a run's actions on a ticket (crash-safe posting).

    ``[halo-automate run <run_id>]`` for a ticket's first action, ``[... #2]`` for its second
    and so on, so two actions of one run on one ticket never share a marker.
    """
    suffix = f" #{index + 1}" if index else ""
    return f"{MARKER_PREFIX}{run_id}{suffix}]"


def marker_of(note: str) -> str | None:
    """The run marker a note ends with, if any."""
    start = note.rfind(MARKER_PREFIX)
    end = note.find("]", start)
    return note[start : end + 1] if start >= 0 and end > start else None


def find_marked(actions: Iterable[Mapping[str, Any]], note: str) -> Mapping[str, Any] | None:
    """The action whose note carries the same run marker as ``note``, if any."""
    marker = marker_of(note) or note
    for action in actions:
        text = str(action.get("note") or "") + str(action.get("note_html") or "")
        if marker and marker in text:
            return action
    return None


def field_state(value: Any, change: FieldChange) -> Literal["after", "before", "other"]:
    """Where a ticket's current value stands relative to a planned change."""
    if same(value, change.after):
        return "after"
    return "before" if same(value, change.before) else "other"


def stale_reason(
    change: TicketChange, current: Mapping[str, Any] | None, names: Iterable[str] | None = None
) -> str | None:
    """Why a planned change no longer applies (None when every 'before' still holds).

    ``names`` limits the check to some of the change's fields (default: all of them).
    """
    if current is None:
        return "ticket no longer exists (deleted or out of reach)"
    for name in change.fields if names is None else names:
        fc = change.fields[name]
        now = field_value(current, name)
        if not same(now, fc.before):
            return f"changed since the plan: {name} is {now!r}, plan expected {fc.before!r}"
    if names is None or any(customfields.is_plan_field(n) for n in names):
        return customfields.others_moved(change.ticket_update, current)
    return None


def ticket_verdict(
    fields: Mapping[str, FieldChange], written: Iterable[str], current: Mapping[str, Any] | None
) -> tuple[Verdict, object]:
    """Did a ticket write of the fields ``written`` land? Every one at 'after' = landed; any
    at a third value = changed by someone else; otherwise (some still at 'before') absent."""
    if current is None:
        return "changed", "ticket no longer exists (deleted or out of reach)"
    written = list(written)
    if customfields.ARRAY in written:  # the array carries the planned custom fields
        written += [n for n in fields if customfields.is_plan_field(n)]
    read = [n for n in written if n in fields and n not in WRITE_ONLY]
    states = {n: field_state(field_value(current, n), fields[n]) for n in read}
    for name, state in states.items():
        if state == "other":
            now, expected = field_value(current, name), fields[name].before
            return "changed", f"changed by someone else: {name} is {now!r}, expected {expected!r}"
    if all(s == "after" for s in states.values()):
        return "landed", None
    return "absent", None


def carrier_index(change: TicketChange) -> int | None:
    """The action that carries the fields not in the ticket update (a close: the posted kind
    that carries fields, :func:`~halo_automate.core.actions.registry.carries_fields`)."""
    for index, action in enumerate(change.actions):
        if carries_fields(action.kind):
            return index
    return 0 if change.actions else None


def carried_fields(change: TicketChange) -> list[str]:
    """Fields an action changes (journaled with the carrier action, e.g. a close's status)."""
    return [n for n in change.fields if n not in change.ticket_update]


def action_body(plan: Plan, ticket_id: int, action: ActionSpec, index: int = 0) -> dict[str, Any]:
    """The POST /api/Actions element: the planned body, ticket id, rules flag and run marker."""
    body: dict[str, Any] = {"ticket_id": ticket_id, **action.body}
    note = str(body.get("note") or "")
    marker = f"{playbook_tag(plan.playbook)} {run_marker(plan.run_id, index)}"
    body["note"] = f"{note}\n\n{marker}" if note else marker
    body.setdefault("sendemail", False)
    if not plan.halo_rules:
        body["dont_do_rules"] = True
    return body


def ticket_body(plan: Plan, ticket_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """The POST /api/Tickets element: id, the values, and the rules flag."""
    body: dict[str, Any] = {"id": ticket_id, **customfields.sent(values)}
    if not plan.halo_rules:
        body["dont_do_rules"] = True
    return body


@dataclass(frozen=True)
class Todo:
    """The parts of one planned ticket still to write: update, actions (by index), removals."""

    change: TicketChange
    update: bool
    actions: tuple[int, ...]
    removals: tuple[RemoveAction, ...]

    @classmethod
    def whole(cls, change: TicketChange) -> Todo:
        indexes = tuple(range(len(change.actions)))
        return cls(change, bool(change.ticket_update), indexes, change.remove_actions)

    @property
    def parts(self) -> int:
        return int(self.update) + len(self.actions) + len(self.removals)

    def checked_fields(self) -> list[str]:
        """The planned fields these parts write (their 'before' must still hold)."""
        names = [n for n in self.change.fields if n in self.change.ticket_update]
        names = names if self.update else []
        if carrier_index(self.change) in self.actions:
            names += carried_fields(self.change)
        return names
