"""Halo's permissions (issue 14, #4; FACTS.md §9.3): the sandbox models them, the product
names what to grant and fails only the tickets a per-ticket refusal touches."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from apply_support import NOTE_AND_CLOSE, client_for, quiet_logs, rig
from conftest import SandboxFactory

from halo_automate.core.playbook import load_playbook_text
from halo_automate.errors import ExitCode, HaloAuthError, HaloPermissionError
from halo_automate.halo.permissions import OUTCOME_REFUSED, explain_refusal, permission_for
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.permissions import API_AGENT_REFUSED, Permissions, parse_rule


def bearer(sb: SandboxServer) -> dict[str, str]:
    resp = httpx.post(
        f"{sb.base_url}/auth/token",
        data={"grant_type": "client_credentials", "client_id": sb.client_id,
              "client_secret": sb.client_secret},
    )  # fmt: skip
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


# ---------------------------------------------------------------------- sandbox fidelity


def test_parse_rule() -> None:
    assert parse_rule("POST /api/Actions") == ("POST", "actions")
    assert parse_rule("get Agent") == ("GET", "agent")
    assert parse_rule("Priority") == ("*", "priority")
    for bad in ("FETCH /api/Agent", "GET /api/Tickets/5", "a b c", "GET /api/"):
        with pytest.raises(ValueError, match=r"rule|method|resource"):
            parse_rule(bad)
    with pytest.raises(ValueError, match="unknown outcome 'Nope'"):
        Permissions.of(allowed_outcomes=["Nope"])


def test_denied_endpoint_is_403_with_an_empty_body(sandbox_factory: SandboxFactory) -> None:
    """A denied endpoint answers 403 with no body, for that verb only (or every verb); the
    others answer as before."""
    sb = sandbox_factory(deny=("GET /api/Agent", "Priority", "DELETE /api/Actions"))
    auth = bearer(sb)
    get = lambda path: httpx.get(f"{sb.base_url}/api/{path}", headers=auth)  # noqa: E731
    for path in ("Agent", "agent/2", "Priority", "Priority/1"):
        resp = get(path)
        assert (resp.status_code, resp.content) == (403, b""), path
    assert get("Status").status_code == 200
    assert get("Tickets").status_code == 200
    resp = httpx.delete(f"{sb.base_url}/api/Actions/1?ticket_id=1", headers=auth)
    assert (resp.status_code, resp.content) == (403, b"")
    # Without a token it is still 401: the bearer check comes first.
    assert httpx.get(f"{sb.base_url}/api/Agent").status_code == 401


def test_outcome_the_agent_may_not_use_is_refused(sandbox_factory: SandboxFactory) -> None:
    """An action with an outcome outside --allowed-outcomes is Halo's 400 "You do not have
    access to this Action at the moment" (CIPP PR #106); the batch applies nothing."""
    sb = sandbox_factory(allowed_outcomes=("Internal Note", "1"))
    auth = bearer(sb)
    with sb.locked_state() as state:
        tid = min(t for t, v in state.tickets.items() if not v.get("deleted"))
    post = lambda body: httpx.post(  # noqa: E731
        f"{sb.base_url}/api/Actions", headers=auth, json=body
    )
    refused = post([{"ticket_id": tid, "outcome_id": 7, "note": "ok"},
                    {"ticket_id": tid, "outcome": "Close Ticket", "note": "no"}])  # fmt: skip
    assert refused.status_code == 400
    assert refused.json()["Message"] == OUTCOME_REFUSED
    assert refused.json()["ClassName"] == "System.Exception"
    assert sb.counters["actions_written"] == 0
    assert post([{"ticket_id": tid, "outcome_id": 7, "note": "ok"}]).status_code == 201


def test_api_only_agent_cannot_be_assigned(sandbox_factory: SandboxFactory) -> None:
    """Assigning a ticket to the API-only agent the application logs in as is refused."""
    sb = sandbox_factory()
    auth = bearer(sb)
    with sb.locked_state() as state:
        tid = min(t for t, v in state.tickets.items() if not v.get("deleted"))
    resp = httpx.post(
        f"{sb.base_url}/api/Tickets", headers=auth, json=[{"id": tid, "agent_id": ref.API_AGENT}]
    )
    assert resp.status_code == 400 and resp.json()["Message"] == API_AGENT_REFUSED
    assert sb.counters["tickets_written"] == 0
    ok = httpx.post(f"{sb.base_url}/api/Tickets", headers=auth, json=[{"id": tid, "agent_id": 2}])
    assert ok.status_code == 201


# ---------------------------------------------------------------------- the product


def test_403_names_the_endpoint_and_the_permission(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(deny=("GET /api/Agent",))
    with client_for(sb) as client, pytest.raises(HaloPermissionError) as info:
        client.get("Agent")
    error = info.value
    assert isinstance(error, HaloAuthError) and error.status == 403
    assert error.exit_code is ExitCode.UNREACHABLE
    assert error.endpoint == "GET /api/Agent" and error.permission == "read:tickets"
    text = str(error)
    assert "\n" not in text
    assert "may not use GET /api/Agent" in text and "'read:tickets'" in text and "role" in text


def test_permission_names() -> None:
    assert permission_for("POST /api/Actions") == "edit:tickets"
    assert permission_for("GET /api/Tickets/{id}") == "read:tickets"
    assert permission_for("GET /api/Users") == "read:customers"
    assert explain_refusal("other", {"outcome_id": 9}) == "other"
    text = explain_refusal(OUTCOME_REFUSED, {"outcome_id": 9})
    assert text.startswith(OUTCOME_REFUSED) and "outcome 9" in text and "role" in text


def test_run_with_a_denied_write_endpoint_fails_naming_it(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A run whose note endpoint is denied ends with one line naming POST /api/Actions and
    the permission to grant; no action is written."""
    quiet_logs()
    r = rig(sandbox_factory(deny=("POST /api/Actions",)), tmp_path / "j.db")
    outcome = r.runner.run(load_playbook_text(NOTE_AND_CLOSE), trigger="cli", confirm=None)
    assert outcome.message is not None
    assert "POST /api/Actions" in outcome.message and "'edit:tickets'" in outcome.message
    assert "\n" not in outcome.message
    assert outcome.status == "failed" and outcome.exit_code is ExitCode.UNREACHABLE
    assert r.sb.counters["actions_written"] == 0


def test_refused_outcome_fails_only_those_tickets(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """The agent may add notes but not close: each ticket's close fails with Halo's message
    and what to change, its other writes land, and the run is partial."""
    quiet_logs()
    sb = sandbox_factory(allowed_outcomes=("Internal Note", "Reply to User", "Status Change"))
    r = rig(sb, tmp_path / "j.db")
    outcome = r.runner.run(load_playbook_text(NOTE_AND_CLOSE), trigger="cli", confirm=None)
    plan = r.plan_of(outcome.run_id)
    assert plan.changes
    assert outcome.status == "partial" and outcome.exit_code is ExitCode.PARTIAL
    failed = dict(outcome.failures)
    assert set(failed) == {c.ticket_id for c in plan.changes}
    for message in failed.values():
        assert OUTCOME_REFUSED in message and "outcome 9" in message and "\n" not in message
    with sb.locked_state() as state:
        for change in plan.changes:  # the priority and the note landed; the close did not
            ticket = state.tickets[change.ticket_id]
            assert ticket["priority_id"] == 4 and ticket["status_id"] != ref.CLOSED_STATUS
            posted = state.actions[change.ticket_id]
            assert len([a for a in posted if plan.run_id in json.dumps(a)]) == 1


# ---------------------------------------------------------------------- the sandbox command


def test_sandbox_command_takes_permissions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``--deny`` (repeatable), ``--allowed-outcomes`` and ``--assertion-key`` reach the
    sandbox's options; bad values are usage errors naming the problem."""
    from click.testing import CliRunner
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from halo_automate.sandbox import command
    from halo_automate.sandbox.command import sandbox_command

    seen: list[SandboxServer] = []
    monkeypatch.setattr(
        command, "serve_until_stopped", lambda sb, stop=None: (seen.append(sb), sb.stop())
    )
    key = tmp_path / "pub.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    args = ["--port", "0", "--tickets", "5", "--deny", "POST /api/Actions", "--deny", "Agent",
            "--allowed-outcomes", "Internal Note, 1", "--assertion-key", str(key),
            "--assertion-only"]  # fmt: skip
    result = CliRunner().invoke(sandbox_command, args)
    assert result.exit_code == 0, result.output
    options = seen[0].options
    assert options.deny == ("POST /api/Actions", "Agent")
    assert options.allowed_outcomes == ("Internal Note", "1")
    assert (options.assertion_key, options.assertion_only) == (key, True)
    assert seen[0].permissions.allowed_outcomes == frozenset({1, 7})
    assert "requires a client assertion" in result.output and "permissions:" in result.output
    for bad, message in (
        (["--deny", "FETCH Agent"], "unknown method"),
        (["--allowed-outcomes", "Teleport"], "unknown outcome 'Teleport'"),
        (["--assertion-key", str(tmp_path / "none.pem")], "does not exist"),
    ):
        failed = CliRunner().invoke(sandbox_command, ["--port", "0", "--tickets", "5", *bad])
        assert failed.exit_code == 2 and message in failed.output, failed.output
