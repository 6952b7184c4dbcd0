"""Warn-then-close steps: which step is due, from the ticket, the history and the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest

from halo_automate.core.fixture_sample import SAMPLE_LOOKUPS
from halo_automate.core.lifecycle import History, next_step
from halo_automate.core.lookups import Lookups, kind_table
from halo_automate.core.plan import make_plan
from halo_automate.core.plan_notes import emails, notes
from halo_automate.core.playbook import load_playbook_text
from halo_automate.core.schema import lookup_kind
from halo_automate.errors import PlaybookError

LOOKUPS = Lookups(
    MappingProxyType({k: kind_table(lookup_kind(k), v) for k, v in SAMPLE_LOOKUPS.items()})
)
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
BOOK = """
name: wait
lifecycle:
  - after: 3d
    note: {text: "Reminder", email: true}
  - after: 5d
    note: {text: "Second reminder"}
  - after: 7d
    close: {note: "Closed after no reply.", email: true}
"""


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ticket(days: float, **more: Any) -> dict[str, Any]:
    return {"id": 1, "status_id": 4, "lastactiondate": ago(days), **more}


@pytest.mark.parametrize(
    ("days", "history", "due"),
    [
        (2.9, None, None),
        (3, None, 0),
        (30, None, 0),  # a backlog ticket still gets the first reminder first
        (1, History(since=ago(4.9), had=1), None),  # since: not the last action (ours)
        (1, History(since=ago(5), had=1), 1),
        (1, History(since=ago(6.9), had=2), None),
        (1, History(since=ago(7), had=2), 2),
        (1, History(since=ago(30), had=3), None),  # every step had: nothing more
        (4, History(since=None, had=0), 0),
    ],
)
def test_next_step(days: float, history: History | None, due: int | None) -> None:
    steps = load_playbook_text(BOOK).lifecycle
    assert next_step(steps, ticket(days), history, NOW) == due


def test_plan_posts_the_due_step_only_and_counts_emails() -> None:
    book = load_playbook_text(BOOK)
    tickets = [ticket(4, id=1), ticket(1, id=2), ticket(1, id=3), {"id": 4, "lastactiondate": ""}]
    history = {3: History(since=ago(8), had=2)}
    plan = make_plan(book, tickets, LOOKUPS, now=NOW, run_id="r", query={}, history=history)
    kinds = {c.ticket_id: [a.kind for a in c.actions] for c in plan.changes}
    assert kinds == {1: ["note"], 3: ["close"]}
    closing = plan.changes[1]
    assert closing.fields["status_id"].after == 9 and closing.actions[0].body["sendemail"]
    assert plan.changes[0].actions[0].body["hiddenfromuser"] is False  # e-mailed: visible
    assert [n.ticket_id for n in plan.not_evaluated] == [4]
    assert emails(plan) == 2
    assert any("cannot be unsent" in line for line in notes(plan))
    again = make_plan(book, tickets, LOOKUPS, now=NOW, run_id="r2", query={},
                      history=history)  # fmt: skip
    assert [c.actions for c in again.changes] == [c.actions for c in plan.changes]


def test_notes_e_mail_only_when_written() -> None:
    book = load_playbook_text(BOOK)
    plan = make_plan(book, [ticket(1)], LOOKUPS, now=NOW, run_id="r", query={},
                     history={1: History(since=ago(6), had=1)})  # fmt: skip
    assert plan.changes[0].actions[0].body["sendemail"] is False
    assert emails(plan) == 0 and notes(plan) == []


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("  - {after: 3d}", "exactly one of note or close"),
        ("  - {after: 3d, note: {text: a}, close: {}}", "exactly one of note or close"),
        ("  - {after: soon, note: {text: a}}", "bad duration"),
        ("  - {after: 5d, note: {text: a}}\n  - {after: 3d, note: {text: b}}", "longer than"),
        ("  - {after: 3d, close: {}}\n  - {after: 5d, note: {text: b}}", "only the last step"),
        ("  - {after: 3d, note: {text: a, emial: true}}", "emial"),
        ("  []", "give a list"),
    ],
)
def test_bad_lifecycles_are_refused_at_load(steps: str, message: str) -> None:
    text = f"name: w\nlifecycle:\n{steps}\n" if steps != "  []" else "name: w\nlifecycle: []\n"
    with pytest.raises(PlaybookError, match=message):
        load_playbook_text(text)


def test_actions_and_lifecycle_together_are_refused() -> None:
    with pytest.raises(PlaybookError, match="either actions or lifecycle"):
        load_playbook_text(BOOK + "actions:\n  - set: {status: Closed}\n")


def test_require_time_logged_holds_a_due_close() -> None:
    book = load_playbook_text(
        BOOK.replace(
            'close: {note: "Closed after no reply.", email: true}',
            'close: {note: "Closed after no reply."}\n    require: {time_logged: true}',
        )
    )
    history = {1: History(since=ago(8), had=2), 2: History(since=ago(8), had=2)}
    tickets = [ticket(1, id=1), ticket(1, id=2, timetaken=0.5)]
    plan = make_plan(book, tickets, LOOKUPS, now=NOW, run_id="r", query={}, history=history)
    assert [c.ticket_id for c in plan.changes] == [2]
    [held] = plan.not_evaluated
    assert held.ticket_id == 1
    assert held.why.endswith("close held: require time_logged, and no time is logged")


def test_require_guards_close_steps_only() -> None:
    with pytest.raises(PlaybookError, match="guards a close step only"):
        load_playbook_text(
            "name: w\nlifecycle:\n  - {after: 3d, note: {text: a}, require: {time_logged: true}}\n"
        )
