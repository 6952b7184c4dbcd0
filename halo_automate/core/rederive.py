"""Apply's re-derivation: the change a playbook would make to a ticket as read now.

Between planning and writing, minutes (a confirmation prompt) or days (a saved plan) pass,
and a plan file may have been edited. So before a ticket is written, its change is derived
again from the playbook (the whole ``select`` re-check, the ``where``, every action, notes
rendered from the ticket as read now) and compared with the planned change. Only when the
playbook would still make exactly the planned change is the ticket written, and then with
the re-derived change (:meth:`Rederiver.__call__` returns it): no field, flag, note text or
removal is ever taken from the plan itself. Anything else is skipped with
:data:`NOT_NOW` and the difference. ``run`` (after its prompt) and ``apply`` share it
(:mod:`halo_automate.engine.batches` calls it in its stale check).

The facts a change depends on beyond the ticket's list row are gathered before re-deriving,
as planning gathered them: a playbook that reads custom fields
(:attr:`Rederiver.reads_custom_fields`) gets each ticket's array read first; a ``lifecycle:``
playbook's step depends on each ticket's history (the journal and its actions), which
:meth:`Rederiver.prepare` asks of the ``history`` source for the tickets about to be checked.
A ``group:`` playbook's change to a duplicate depends on its survivor, which the plan names
(``Plan.groups``) and :meth:`Rederiver.prepare` reads again through the ``tickets`` source:
the duplicate is written only while the pair still stands
(:func:`~halo_automate.core.groups.still_grouped`, and the survivor still matches the
playbook). A ticket whose facts could not be had (its custom fields unread, its history
unknown, its survivor unread, no source given) is skipped with :data:`NOT_NOW`, never written
with another change.
Pure: no I/O (the history source is the engine's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from halo_automate.core import customfields, groups
from halo_automate.core.changes import Group, Ticket, TicketChange
from halo_automate.core.conditions import compile_where
from halo_automate.core.lifecycle import History
from halo_automate.core.lookups import Lookups
from halo_automate.core.operators import Unknown
from halo_automate.core.plan import compile_playbook, evaluate, reads_custom_fields
from halo_automate.core.playbook import Playbook
from halo_automate.core.selection import build_query, compile_recheck
from halo_automate.core.values import same

NOT_NOW = "not what the playbook would do now"

HistorySource = Callable[[Sequence[int]], tuple[Mapping[int, History], frozenset[int]]]
"""For ticket ids: each one's lifecycle history (absent: it had nothing) and the ids whose
history could not be read."""
TicketSource = Callable[[Sequence[int]], Iterable[Ticket]]
"""The tickets of these ids as read now (list rows; a missing one was not found)."""


class Rederiver:
    """The playbook compiled once (lookups resolved, ``where`` at ``now``) for one run."""

    def __init__(
        self,
        playbook: Playbook,
        lookups: Lookups,
        *,
        now: datetime,
        run_id: str,
        history: HistorySource | None = None,
        groups: Sequence[Group] = (),
        tickets: TicketSource | None = None,
    ):
        self.playbook = playbook
        self.run_id = run_id
        self.reads_custom_fields = reads_custom_fields(playbook)
        """Whether each ticket needs its custom field array read before re-deriving."""
        self._lookups, self._now, self._history = lookups, now, history
        self._known: frozenset[int] = frozenset()  # lifecycle: tickets whose history is known
        self._matcher = compile_where(playbook.where, now=now)
        self._compiled = compile_playbook(playbook, lookups, now=now, history={})
        self._recheck = compile_recheck(build_query(playbook.select, lookups), lookups)
        self._survivor_of = {m: g.survivor for g in groups for m in g.members}
        self._tickets = tickets
        self._survivors: dict[int, Ticket] = {}

    def prepare(self, ticket_ids: Sequence[int]) -> None:
        """Gather the history a ``lifecycle:`` playbook's steps depend on for these tickets
        and the survivors a ``group:`` playbook's duplicates depend on (right before they are
        re-derived; nothing for other playbooks)."""
        if self.playbook.group is not None and self._tickets is not None:
            wanted = sorted({self._survivor_of[t] for t in ticket_ids if t in self._survivor_of})
            self._survivors = {int(t["id"]): t for t in self._tickets(wanted)} if wanted else {}
        if not self.playbook.lifecycle or self._history is None:
            return
        history, unknown = self._history(ticket_ids)
        self._known = frozenset(ticket_ids) - unknown
        self._compiled = compile_playbook(
            self.playbook, self._lookups, now=self._now, history=history
        )

    def __call__(self, planned: TicketChange, ticket: Mapping[str, Any]) -> TicketChange | str:
        """The change to write (re-derived, equal to ``planned``), or why the ticket is
        skipped (``not what the playbook would do now: ...``)."""
        if self.playbook.lifecycle and planned.ticket_id not in self._known:
            return f"{NOT_NOW}: its lifecycle history (journal and ticket actions) is not known"
        if self.reads_custom_fields and customfields.entries(ticket) is None:
            return f"{NOT_NOW}: its custom fields could not be read"
        if self.playbook.group is not None:
            paired = self._paired(planned.ticket_id, ticket)
            if isinstance(paired, str):
                return f"{NOT_NOW}: {paired}"
            ticket = paired
        derived = evaluate(
            self.playbook, self._compiled, self._matcher, self._recheck, ticket, self.run_id
        )
        if isinstance(derived, Unknown):
            return f"{NOT_NOW}: it cannot be evaluated now ({derived.why})"
        if derived is None:
            return f"{NOT_NOW}: the playbook would not change it now"
        why = difference(planned, derived)
        return derived if why is None else f"{NOT_NOW}: {why}"

    def _paired(self, ticket_id: int, ticket: Mapping[str, Any]) -> Ticket | str:
        """The duplicate's row with its survivor as read now, or why the pair is gone."""
        spec = self.playbook.group
        assert spec is not None
        survivor_id = self._survivor_of.get(ticket_id)
        if survivor_id is None:
            return "the plan lists it in no group"
        survivor = self._survivors.get(survivor_id)
        if survivor is None:
            return f"its survivor #{survivor_id} could not be read"
        try:
            verdict = None if self._recheck(survivor) is not None else self._matcher(survivor)
        except (ValueError, TypeError) as e:
            return f"its survivor #{survivor_id} cannot be evaluated now ({e})"
        if not isinstance(verdict, str):
            return f"its survivor #{survivor_id} no longer matches the playbook"
        why = groups.still_grouped(spec, self.playbook.keep, ticket, survivor)
        return why if why is not None else groups.with_survivor(ticket, survivor)


def difference(planned: TicketChange, derived: TicketChange) -> str | None:
    """How ``planned`` differs from the ``derived`` change (None: exactly the same)."""
    if planned.ticket_id != derived.ticket_id:
        return f"ticket {derived.ticket_id}, not {planned.ticket_id}"
    if set(planned.fields) != set(derived.fields):  # key order is no change (jq -S)
        return (
            f"it would change {', '.join(derived.fields) or 'no field'}, the plan says "
            f"{', '.join(planned.fields) or 'no field'}"
        )
    for name, want in derived.fields.items():
        got = planned.fields[name]
        if not same(got.before, want.before):
            return f"{name} is {want.before!r} now, the plan says {got.before!r}"
        if not _equal(got.after, want.after):
            return f"it would set {name} to {want.after!r}, the plan says {got.after!r}"
    if set(planned.ticket_update) != set(derived.ticket_update):
        return "the plan writes its fields another way (ticket update or action)"
    if not _equal(
        planned.ticket_update.get(customfields.IDS), derived.ticket_update.get(customfields.IDS)
    ):
        return "its custom fields are other fields now (their ids differ from the plan's)"
    if planned.remove_actions:
        return "the plan removes actions, which the playbook never does"
    if [a.kind for a in planned.actions] != [a.kind for a in derived.actions]:
        return (
            f"it would post {', '.join(a.kind for a in derived.actions) or 'no action'}, the "
            f"plan says {', '.join(a.kind for a in planned.actions) or 'no action'}"
        )
    for index, (got_action, want_action) in enumerate(
        zip(planned.actions, derived.actions, strict=True), start=1
    ):
        if not _equal(dict(got_action.body), dict(want_action.body)):
            keys = sorted(set(got_action.body) | set(want_action.body))
            odd = [k for k in keys if not _equal(got_action.body.get(k), want_action.body.get(k))]
            return f"its {want_action.kind} action #{index} differs in {', '.join(odd)}"
    return None


def _equal(a: object, b: object) -> bool:
    """Equal JSON values, type included (``true`` is not ``1``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
