"""``run`` re-derives every change after its confirmation prompt (issue 12, case 8).

Minutes can pass at the prompt. A ticket assigned to an agent meanwhile (close-spam's
``where`` leaves assigned tickets alone) is skipped, not closed; one whose summary changed
so that a note rendered from it would differ is skipped too (a note is never posted with
text the ticket no longer says). The rest are written. The proof is the sandbox's state.
"""

from __future__ import annotations

from pathlib import Path

from apply_support import actions, playbook, rig, tickets
from conftest import SandboxFactory

from halo_automate.core.plan import Plan
from halo_automate.core.rederive import NOT_NOW

CLOSED = 9


def test_a_ticket_assigned_at_the_prompt_is_not_closed(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    r = rig(sandbox_factory(), tmp_path / "j.db")
    seen: list[Plan] = []

    def confirm(plan: Plan) -> bool:  # the agent picks a ticket up while the prompt waits
        seen.append(plan)
        r.sb.edit_ticket(plan.changes[0].ticket_id, agent_id=4)
        return True

    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=confirm)
    (plan,) = seen
    assigned = plan.changes[0].ticket_id
    assert outcome.status == "partial" and outcome.skipped == 1
    assert outcome.changed == len(plan.changes) - 1
    after = tickets(r.sb)
    assert after[assigned]["status_id"] != CLOSED and assigned not in actions(r.sb)
    assert all(after[c.ticket_id]["status_id"] == CLOSED for c in plan.changes[1:])
    (reason,) = [why for tid, why in outcome.skips if tid == assigned]
    assert reason.startswith(NOT_NOW)
    rows = [row for row in r.journal.changes(plan.run_id) if row.ticket_id == assigned]
    assert rows and all(row.state == "skipped" for row in rows)


def test_a_note_is_rendered_from_the_ticket_as_it_is_now(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """note-and-close's note quotes the summary: changed at the prompt, the planned note no
    longer says what the playbook would write, so the ticket is skipped, nothing posted."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    seen: list[Plan] = []

    def confirm(plan: Plan) -> bool:
        seen.append(plan)
        r.sb.edit_ticket(plan.changes[0].ticket_id, summary="Automatic reply: changed text")
        return True

    outcome = r.runner.run(playbook("note-and-close"), trigger="cli", confirm=confirm)
    (plan,) = seen
    edited = plan.changes[0].ticket_id
    assert outcome.skipped == 1 and edited not in actions(r.sb)
    (reason,) = [why for tid, why in outcome.skips if tid == edited]
    assert reason == f"{NOT_NOW}: its note action #1 differs in note"
