"""Rendering a plan for people: the table of before → after changes and the totals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from halo_automate.cli.preview import (
    change_lines,
    plan_document,
    render_plan,
    show_value,
    totals_lines,
)
from halo_automate.core.lookups import Lookups
from halo_automate.core.plan import (
    FieldChange,
    Plan,
    RemoveAction,
    TicketChange,
    make_plan,
    plan_to_dict,
)
from halo_automate.core.playbook import load_playbook_text

LOOKUPS = Lookups.from_rows(
    statuses=[{"id": 1, "name": "New"}, {"id": 9, "name": "Closed"}],
    teams=[{"id": 1, "name": "Service Desk"}, {"id": 2, "name": "Second Line"}],
    priorities=[{"id": 2, "name": "High"}, {"id": 3, "name": "Medium"}],
    outcomes=[{"id": 7, "outcome": "Internal Note"}, {"id": 9, "outcome": "Close Ticket"}],
)
NOW = datetime(2026, 11, 24, 5, 15, tzinfo=UTC)


def _plan(body: str, rows: list[dict[str, Any]], **kw: Any) -> Plan:
    pb = load_playbook_text("name: show\n" + body, "show.yaml")
    return make_plan(pb, rows, LOOKUPS, now=NOW, run_id="run-7", query=kw.get("query", {}))


def _row(ticket_id: int, client: str = "Contoso Ltd", **fields: Any) -> dict[str, Any]:
    return {
        "id": ticket_id,
        "client_name": client,
        "summary": f"Automatic reply: [{ticket_id}] away",
        "status_id": 1,
        "team_id": 1,
        "team": "Service Desk",
        "priority_id": 3,
        **fields,
    }


def _render(plan: Plan, **kw: Any) -> str:
    console = Console(record=True, width=200, color_system=None)
    render_plan(plan, console, **kw)
    return console.export_text()


CLOSE = (
    "where: {summary: {matches: '^Automatic reply'}}\n"
    "actions:\n  - close: {note: 'Spam [{run_id}]'}\n"
)


def test_table_shows_before_after_with_names_and_reason() -> None:
    """Each change shows ticket, client, summary, before → after with names, and the reason."""
    text = _render(_plan(CLOSE, [_row(1), _row(2, "Woodgrove Bank")]), lookups=LOOKUPS)
    assert "status_id: 1 (New) → 9 (Closed)" in text
    assert "+ close (outcome 9 Close Ticket, private): 'Spam [run-7]'" in text
    assert "summary matches '^Automatic reply'" in text
    assert "Automatic reply: [1] away" in text  # brackets are text, not markup
    assert "Woodgrove Bank" in text
    assert "show: plan run-7" in text


def test_totals_show_counts_clients_requests_and_time() -> None:
    """Totals give scanned, matched, changes, ignored, per-client counts and the apply cost."""
    rows = [_row(1), _row(2, "Woodgrove Bank"), _row(3), _row(4, summary="Printer")]
    rows.append(_row(5, status_id=9))
    text = _render(
        _plan(CLOSE, rows, query={"open_only": "true"}), rate_requests=1, rate_seconds=60
    )
    assert "Scanned 5, matched 3, to change 3 ticket(s) (3 action(s))" in text
    assert "ignored by Halo (failed the select re-check): 1" in text
    assert "Per client: Contoso Ltd 2, Woodgrove Bank 1" in text
    assert (
        # issue 19.9: + a duplicate check of the action batch + the instance facts (was 2)
        "Apply needs 4 request(s); Halo's rate limit (1 per 60s) makes that take at least 3m 0s"
        in text
    )


def test_without_lookups_ids_are_shown_bare() -> None:
    """Without lookups the ids are printed as they are."""
    text = _render(_plan(CLOSE, [_row(1)]))
    assert "status_id: 1 → 9" in text
    assert "+ close (outcome 9, private)" in text


def test_set_and_note_lines() -> None:
    """Field updates show text values quoted and notes say who sees them and e-mail."""
    plan = _plan(
        "actions:\n  - set: {team: Second Line, priority: High}\n"
        "  - note: {text: hi, private: false}\n",
        [_row(1)],
    )
    lines = change_lines(plan.changes[0], LOOKUPS)
    assert lines == [
        "team_id: 1 (Service Desk) → 2 (Second Line)",
        "team: 'Service Desk' → 'Second Line'",
        "priority_id: 3 (Medium) → 2 (High)",
        "+ note (outcome 7 Internal Note, visible to user): 'hi'",
    ]
    email = _plan("actions: [{close: {email: true}}]\n", [_row(1)])
    assert change_lines(email.changes[0]) == [
        "status_id: 1 → 9",
        "+ close (outcome 9, private, e-mails the user)",
    ]


def test_undo_removals_are_listed() -> None:
    """Actions an undo deletes are shown with their id and note."""
    change = TicketChange(
        ticket_id=1,
        client_name="C",
        summary="s",
        reason="undo of run r",
        fields={"status_id": FieldChange(9, 1)},
        ticket_update={"status_id": 1},
        actions=(),
        remove_actions=(RemoveAction(12, {"note": "Closed as spam"}), RemoveAction(13, {})),
    )
    assert change_lines(change, LOOKUPS) == [
        "status_id: 9 (Closed) → 1 (New)",
        "- delete action 12: 'Closed as spam'",
        "- delete action 13",
    ]


def test_show_value() -> None:
    """Empty values say so; unknown ids stay bare; other fields are not looked up."""
    assert show_value("category_1", "", LOOKUPS) == "(empty)"
    assert show_value("agent_id", None, LOOKUPS) == "(empty)"
    assert show_value("status_id", 77, LOOKUPS) == "77"
    assert show_value("onhold", True, LOOKUPS) == "True"
    assert show_value("client_id", 3, LOOKUPS) == "3"


def test_rows_beyond_max_rows_are_counted_not_shown() -> None:
    """Only max_rows changes are drawn; the rest are counted."""
    text = _render(_plan(CLOSE, [_row(i) for i in range(1, 8)]), max_rows=3)
    assert "[3] away" in text
    assert "[4] away" not in text
    assert "… and 4 more change(s) not shown" in text


def test_empty_plan_says_nothing_to_change() -> None:
    """A plan without changes prints that, and still the totals."""
    text = _render(_plan(CLOSE, [_row(1, summary="Printer")]))
    assert "show: nothing to change." in text
    assert "Scanned 1, matched 0, to change 0 ticket(s)" in text
    assert "Per client" not in text
    assert "Apply needs 0 request(s)" in text


def test_limits_breaches_are_called_out() -> None:
    """A plan over max_changes or outside expect says it will be refused."""
    plan = _plan(CLOSE + "limits: {max_changes: 1}\nexpect: {max: 1}\n", [_row(1), _row(2)])
    lines = totals_lines(plan)
    assert "REFUSED: 2 changes exceed limits.max_changes 1" in lines
    assert "REFUSED: 2 matched is outside expect ..1" in lines
    low = _plan(CLOSE + "expect: {min: 3}\n", [_row(1)])
    assert "REFUSED: 1 matched is outside expect 3.." in totals_lines(low)


def test_plan_document_is_the_json_document() -> None:
    """plan_document gives the same versioned document plan_to_json writes."""
    plan = _plan(CLOSE, [_row(1)])
    doc = plan_document(plan)
    assert doc == plan_to_dict(plan)
    assert doc["format"] == "halo-automate/plan"
    change = doc["changes"][0]  # type: ignore[index]
    # version 2: a close's status is carried by its action, not sent in the ticket update
    assert change["fields"] == {}  # type: ignore[index]
    assert change["carried"] == {"status_id": {"before": 1, "after": 9}}  # type: ignore[index]
