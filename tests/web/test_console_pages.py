"""The console's pages show the journal: overview, a run's changes, history, a playbook."""

from __future__ import annotations

import re
from pathlib import Path

from apply_support import differences, playbook, rig, tickets
from web_support import client_of, console_for, console_settings, csrf_of, login

from halo_automate.sandbox import SandboxServer
from halo_automate.web.console import Console

FINGERPRINT = re.compile(r'name="fingerprint" value="([0-9a-f]+)"')


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


def test_the_run_filters_narrow_the_changes_by_client_field_and_text(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    r = rig(sandbox, tmp_path / "journal.db")
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    plan = r.plan_of(outcome.run_id)
    client = client_of(console_for(tmp_path, r))
    login(client)
    some = plan.changes[0].client_name
    of_client = [c for c in plan.changes if c.client_name == some]
    page = client.get(f"/runs/{outcome.run_id}", params={"client": some, "field": "status_id"})
    assert f"{len(of_client)} of {2 * len(plan.changes)} change lines shown (filtered)" in page.text
    other = next(c for c in plan.changes if c.client_name != some)
    assert f">{other.ticket_id}<" not in page.text
    page = client.get(f"/runs/{outcome.run_id}", params={"q": str(other.ticket_id)})
    assert f">{other.ticket_id}<" in page.text
    assert f">{of_client[0].ticket_id}<" not in page.text


def test_the_overview_lists_playbooks_with_their_last_run_and_problems(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    r = rig(sandbox, tmp_path / "journal.db")
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    console = console_for(tmp_path, r)
    (tmp_path / "playbooks" / "broken.yaml").write_text("name: broken\nactions: []\n")
    client = client_of(console)
    login(client)
    page = client.get("/").text
    assert f'href="/runs/{outcome.run_id}"' in page
    assert "*/15 * * * *" in page  # close-spam's schedule
    assert "broken.yaml" in page
    assert "requests in use" in page  # the runner's budget
    broken = client.get("/playbooks/broken.yaml").text
    assert "actions" in broken and "Valid: no problems" not in broken
    good = client.get("/playbooks/close-spam.yaml").text
    assert "Valid: no problems" in good and "name: close-spam" in good
    assert client.get("/playbooks/..%2Fjournal.db").status_code == 404


def test_history_pages_through_every_run(sandbox: SandboxServer, tmp_path: Path) -> None:
    """History shows page_size runs a page, newest first, and links the next page."""
    r = rig(sandbox, tmp_path / "journal.db")
    ids = [
        r.runner.run(playbook("close-spam"), trigger="cli", confirm=None, preview_only=True).run_id
        for _ in range(7)
    ]
    console = Console(console_settings(tmp_path, r, page_size=5), r.journal, r.runner)
    client = client_of(console)
    login(client)
    first = client.get("/history").text
    assert "Page 1 of 2 (7)" in first and ids[-1] in first and ids[0] not in first
    second = client.get("/history", params={"page": "2", "playbook": "close-spam"}).text
    assert ids[0] in second and ids[-1] not in second


def test_undo_from_the_console_previews_then_puts_the_tickets_back(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The undo page shows what would be written and changes nothing; confirming it (with the
    fingerprint of what was shown) runs the undo, and the sandbox has its tickets back."""
    r = rig(sandbox, tmp_path / "journal.db")
    before = tickets(sandbox)
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    after_run = tickets(sandbox)
    console = console_for(tmp_path, r)
    client = client_of(console)
    login(client)
    preview = client.get(f"/runs/{outcome.run_id}/undo")
    assert preview.status_code == 200
    assert tickets(sandbox) == after_run  # a GET changed nothing
    form = {
        "csrf_token": csrf_of(preview.text),
        "fingerprint": FINGERPRINT.search(preview.text).group(1),
    }  # type: ignore[union-attr]
    answer = client.post(f"/runs/{outcome.run_id}/undo", data=form)
    assert answer.status_code == 303
    undo_id = answer.headers["location"].rsplit("/", 1)[1]
    console.close()  # waits for the queued undo
    assert differences(tickets(sandbox), before) == []
    page = client.get(f"/runs/{undo_id}").text
    assert f'undo of <a href="/runs/{outcome.run_id}">' in page
    stale = client.post(f"/runs/{outcome.run_id}/undo", data={**form, "fingerprint": "x"})
    assert stale.status_code == 409


def test_a_run_that_wrote_nothing_has_nothing_to_undo(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    r = rig(sandbox, tmp_path / "journal.db")
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None, preview_only=True)
    client = client_of(console_for(tmp_path, r))
    login(client)
    page = client.get(f"/runs/{outcome.run_id}")
    assert "Undo this run" not in page.text and "planned" in page.text
    answer = client.get(f"/runs/{outcome.run_id}/undo")
    assert answer.status_code == 409 and "nothing to undo" in answer.text
