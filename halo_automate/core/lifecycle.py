"""Warn, then close: a playbook's ``lifecycle:`` steps, each posted once per waiting period.

```yaml
lifecycle:
  - after: 3d
    note: {text: "Reminder: we are waiting for your reply.", email: true}
  - after: 5d
    note: {text: "Second reminder: this ticket closes in 2 days.", email: true}
  - after: 7d
    close: {status: Closed, note: "Closed after no reply.", email: true}
```

Each step is a ``note`` or a ``close`` (the action kinds' own specs: the same bodies, the
same e-mail flag, off unless ``email: true``), due ``after`` the ticket's **waiting period**
began. The period begins at the ticket's last action that this playbook did not post: a
customer's reply (or an agent's action) updates the ticket's last action date and so starts
a new period, with every step to come again.

What a ticket has had is a fact passed in (:class:`History`, built by
:mod:`halo_automate.engine.lifecycle_facts` from the journal's rows of the playbook's runs and
the ticket's actions): ``since``, the date of the last action not posted by the playbook
(None: none known, the ticket's ``lastactiondate`` is used), and ``had``, how many of the
playbook's actions were posted since then. A ticket with no history has had nothing and its
period began at its ``lastactiondate``. Steps go in order, one per ticket per run: the next
step (index ``had``) is due when its ``after`` has passed since the period began; a step is
never skipped, so a ticket is never closed before its reminders were sent (a backlog ticket
gets them on successive runs). Deterministic from the ticket, the lookups, ``now`` and the
history: planning again on the same facts plans the same step.

A close step may carry ``require: {time_logged: true}``: when it is due on a ticket with no
time logged (``timetaken``, which Halo's list rows carry, is 0 or absent), the ticket is not
closed but listed as not evaluated ("close held: ...") on every run until time is logged or
the customer replies.

Pure: no I/O; ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from halo_automate.core.actions.base import ActionKind, Compiled, PlaybookAction, Posting, Report
from halo_automate.core.actions.close import KIND as CLOSE
from halo_automate.core.actions.close import CloseSpec
from halo_automate.core.actions.note import KIND as NOTE
from halo_automate.core.actions.note import NoteSpec
from halo_automate.core.changes import FieldChange, Ticket
from halo_automate.core.conditions import Path
from halo_automate.core.dates import parse_halo_date
from halo_automate.core.lookups import Lookups
from halo_automate.core.schedule import parse_duration

KEY = "lifecycle"


class Require(BaseModel):
    """``require``: what a ticket must have before a close step closes it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    time_logged: bool = False
    """Time was logged on the ticket (its ``timetaken``, a list-row field, above 0)."""


class StepSpec(BaseModel):
    """One ``lifecycle`` entry: ``after`` and exactly one of ``note`` or ``close``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    after: str
    note: NoteSpec | None = None
    close: CloseSpec | None = None
    require: Require | None = None

    @model_validator(mode="after")
    def _one_action(self) -> StepSpec:
        if (self.note is None) == (self.close is None):
            raise ValueError("a lifecycle step has exactly one of note or close")
        if self.require is not None and self.close is None:
            raise ValueError("'require' guards a close step only")
        parse_duration(self.after)
        return self


@dataclass(frozen=True)
class LifecycleStep:
    """A validated step: due ``after`` the waiting period began; its action."""

    after: timedelta
    action: PlaybookAction
    require: Require | None = None

    @property
    def emails(self) -> bool:
        return bool(getattr(self.action.spec, "email", False))


@dataclass(frozen=True)
class History:
    """What a ticket has had in its waiting period (see the module docstring)."""

    since: str | None
    """Halo's date of the last action the playbook did not post (None: use lastactiondate)."""
    had: int
    """The playbook's actions posted since then."""


def parse_steps(raw: object, report: Report) -> tuple[LifecycleStep, ...] | None:
    """The steps of a ``lifecycle`` list; None (problems reported) when any is wrong."""
    if not isinstance(raw, list) or not raw:
        report((KEY,), "lifecycle: give a list of steps (after: 3d, then note: or close:)")
        return None
    steps: list[LifecycleStep] = []
    for i, item in enumerate(raw):
        path: Path = (KEY, i)
        if isinstance(item, dict) and item.get("close", 0) is None:
            item = {**item, "close": {}}  # `close:` with no value: every key at its default
        try:
            spec = StepSpec.model_validate(item)
        except ValidationError as e:
            for err in e.errors():
                where = (*path, *err["loc"])
                message = str(err["msg"]).removeprefix("Value error, ")
                report(where, f"{'.'.join(str(p) for p in where)}: {message}")
            continue
        kind: ActionKind[Any] = NOTE if spec.note is not None else CLOSE
        action = PlaybookAction(kind, spec.note if spec.note is not None else spec.close)
        kind.check(action.spec, (*path, kind.key), report)
        steps.append(LifecycleStep(parse_duration(spec.after), action, spec.require))
    if len(steps) != len(raw):
        return None
    for i in range(1, len(steps)):
        if steps[i].after <= steps[i - 1].after:
            report((KEY, i, "after"), "lifecycle: each step's 'after' must be longer than the last")
            return None
    if any(s.action.kind == "close" for s in steps[:-1]):
        report((KEY,), "lifecycle: only the last step may close the ticket")
        return None
    return tuple(steps)


def problems_with_actions(data: Mapping[str, Any], report: Report) -> None:
    if data.get("actions") is not None:
        report((KEY,), "a playbook has either actions or lifecycle steps, not both")


def next_step(
    steps: Sequence[LifecycleStep], ticket: Ticket, history: History | None, now: datetime
) -> int | None:
    """The index of the step due on ``ticket`` now, or None. ValueError: its dates are
    unreadable (the ticket is then not evaluated, never written)."""
    had = history.had if history is not None else 0
    if had >= len(steps):
        return None
    since = history.since if history is not None and history.since else None
    text = since if since is not None else ticket.get("lastactiondate")
    began = parse_halo_date(text)
    if began is None:
        raise ValueError(f"the ticket's last action date is unset ({text!r})")
    return had if now - began >= steps[had].after else None


def compile_steps(
    steps: Sequence[LifecycleStep],
    lookups: Lookups,
    playbook: str,
    *,
    now: datetime,
    history: Mapping[int, History],
) -> Compiled:
    """Each step's posting, due only on the tickets whose next step it is."""
    postings: list[Posting] = []
    for index, step in enumerate(steps):
        inner = step.action.definition.compile(step.action.spec, lookups, playbook).postings[0]
        postings.append(_due_only(inner, index, steps, now, history))
    return Compiled(postings=tuple(postings))


def _due_only(
    inner: Posting,
    index: int,
    steps: Sequence[LifecycleStep],
    now: datetime,
    history: Mapping[int, History],
) -> Posting:
    def carried(ticket: Ticket) -> Mapping[str, FieldChange] | None:
        if next_step(steps, ticket, history.get(ticket.get("id", -1)), now) != index:
            return None
        held = _held(steps[index].require, ticket)
        if held is not None:  # the ticket is listed as not evaluated, never written
            raise ValueError(held)
        return inner.carried(ticket)  # None: a close of a ticket already closed

    return Posting(inner.kind, True, carried, inner.body)


def _held(require: Require | None, ticket: Ticket) -> str | None:
    """Why a due close waits (its ``require`` does not hold), or None."""
    if require is None or not require.time_logged:
        return None
    taken = ticket.get("timetaken") or 0
    if isinstance(taken, bool) or not isinstance(taken, int | float):
        return f"close held: timetaken is {taken!r}, not a number"
    return None if taken > 0 else "close held: require time_logged, and no time is logged"


def emails_in(actions: Sequence[Mapping[str, Any]]) -> int:
    """How many of these planned action bodies e-mail the user."""
    return sum(1 for body in actions if body.get("sendemail") is True)
