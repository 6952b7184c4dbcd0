"""The console's pages show the journal: overview, a run's changes, history, a playbook."""

from __future__ import annotations

from pathlib import Path

from apply_support import playbook, rig
from web_support import client_of, console_for, login

from halo_automate.sandbox import SandboxServer


def test_a_run_page_lists_each_change_with_client_before_after_and_why(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """An applied run's page shows each ticket's client, summary, before → after, state and
    the reason it matched; the filters narrow the table by client and field."""
    r = rig(sandbox, tmp_path / "journal.db")
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert outcome.changed > 0
    client = client_of(console_for(tmp_path, r))
    login(client)
    page = client.get(f"/runs/{outcome.run_id}")
    assert page.status_code == 200
    plan = r.plan_of(outcome.run_id)
    first = plan.changes[0]
    assert f">{first.ticket_id}<" in page.text
    assert first.client_name in page.text
    assert "done" in page.text

