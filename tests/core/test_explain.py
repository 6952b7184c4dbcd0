"""core.explain: why close-spam would (or would not) change one ticket, purely."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from halo_automate.core.explain import Verdict, explain
from halo_automate.core.lookups import Lookups
from halo_automate.core.playbook import Playbook, load_playbook

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LOOKUPS = Lookups.from_rows(
    statuses=[{"id": 1, "name": "New"}, {"id": 9, "name": "Closed"}],
    outcomes=[{"id": 1, "outcome": "Closed"}],
)


@pytest.fixture(scope="module")
def close_spam() -> Playbook:
    return load_playbook(ROOT / "playbooks" / "close-spam.yaml")


def row(ticket_id: int, summary: str, email: Any, **extra: Any) -> dict[str, Any]:
    base = {
        "id": ticket_id, "summary": summary, "user_email": email, "status_id": 1,
        "tickettype_id": 1, "priority_id": 4, "client_id": 1, "site_id": 1, "user_id": 1,
        "agent_id": 0, "dateoccurred": "2026-11-30T10:00:00Z",
        "lastactiondate": "2026-11-30T10:00:00Z",
    }  # fmt: skip
    return {**base, **extra}


def test_spam_matches_and_shows_the_change(close_spam: Playbook) -> None:
    found = explain(close_spam, row(101, "Automatic reply: away", "a@x.example"), LOOKUPS, now=NOW)
    assert found.why_not is None
    assert found.change is not None
    status = found.change.fields["status_id"]
    assert (status.before, status.after) == (1, 9)
    assert found.change.actions, "the close posts its note"
    assert [f.verdict for f in found.filters] == [Verdict.TRUE]
    assert found.filters[0].value == "1 (New)"
    top = found.conditions[0]
    assert (top.label, top.verdict) == ("all of", Verdict.TRUE)
    summary = next(c for c in found.conditions if c.label.startswith("summary matches"))
    assert summary.verdict is Verdict.TRUE
    assert summary.value == "'Automatic reply: away'"


def test_look_alike_names_the_condition_that_failed(close_spam: Playbook) -> None:
    ticket = row(102, "How do I set up an out of office reply?", "b@contoso.example")
    found = explain(close_spam, ticket, LOOKUPS, now=NOW)
    assert found.change is None
    assert found.why_not is not None
    assert found.why_not.startswith("the where conditions are false: (user_email domain")
    any_of = next(c for c in found.conditions if c.label == "any of")
    assert any_of.verdict is Verdict.FALSE
    not_agent = next(c for c in found.conditions if c.label.startswith("agent_id gt"))
    assert not_agent.verdict is Verdict.FALSE and not_agent.value == "0"


def test_already_closed(close_spam: Playbook) -> None:
    ticket = row(103, "Automatic reply: away", "a@x.example", status_id=9)
    found = explain(close_spam, ticket, LOOKUPS, now=NOW)
    assert found.change is None
    assert found.why_not is not None and found.why_not.startswith("already Closed")
    assert "open_only" in found.why_not
    assert found.filters[0].verdict is Verdict.FALSE
    assert found.filters[0].value == "9 (Closed)"


def test_already_closed_when_select_lets_it_through(close_spam: Playbook) -> None:
    book = close_spam.model_copy(update={"select": {}})
    ticket = row(104, "Automatic reply: away", "a@x.example", status_id=9)
    found = explain(book, ticket, LOOKUPS, now=NOW)
    assert (found.change, found.why_not) == (None, "already Closed")


def test_odd_value_is_unknown_and_not_evaluated(close_spam: Playbook) -> None:
    ticket = row(105, "Printer on fire", 12345)
    found = explain(close_spam, ticket, LOOKUPS, now=NOW)
    assert found.change is None
    assert found.why_not is not None
    assert found.why_not.startswith("not evaluated: field user_email is 12345, not text")
    email = [c for c in found.conditions if c.label.startswith("user_email")]
    assert email and all(c.verdict is Verdict.UNKNOWN for c in email)
    assert email[0].value.startswith("unknown (field user_email is 12345")
    assert found.conditions[0].verdict is Verdict.UNKNOWN
