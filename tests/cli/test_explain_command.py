"""``halo-automate explain PLAYBOOK TICKET_ID`` over a sandbox Halo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import write_config
from click.testing import CliRunner, Result

from halo_automate.cli import main
from halo_automate.sandbox.server import SandboxServer


@pytest.fixture
def invoke(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    config = write_config(tmp_path, sandbox)
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)])

    return run


def explained(invoke: Any, ticket_id: int) -> dict[str, Any]:
    result = invoke("explain", "close-spam", str(ticket_id), "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_spam_ticket_shows_its_change(invoke: Any, sandbox: SandboxServer) -> None:
    sandbox.edit_ticket(7, summary="Automatic reply: away", user_email="a@x.example",
                        status_id=1, agent_id=0)  # fmt: skip
    data = explained(invoke, 7)
    assert data["why_not"] is None
    assert data["change"]["fields"]["status_id"]["before"] == 1
    assert data["change"]["actions"]
    human = invoke("explain", "close-spam", "7")
    assert human.exit_code == 0, human.output
    assert "would change" in human.output and "status_id" in human.output


def test_look_alike_says_which_condition_failed(invoke: Any, sandbox: SandboxServer) -> None:
    sandbox.edit_ticket(8, summary="How do I set up an out of office reply?",
                        user_email="b@contoso.example", status_id=1, agent_id=0)  # fmt: skip
    data = explained(invoke, 8)
    assert data["change"] is None
    assert data["why_not"].startswith("the where conditions are false: (user_email domain")
    human = invoke("explain", "close-spam", "8")
    assert "no change:" in human.output and "false" in human.output


def test_closed_ticket_is_already_closed(invoke: Any, sandbox: SandboxServer) -> None:
    closed = invoke("lookups", "statuses", "--json")
    status = next(i["id"] for i in json.loads(closed.output)["items"] if i["name"] == "Closed")
    sandbox.edit_ticket(9, summary="Automatic reply: away", user_email="a@x.example",
                        status_id=status, agent_id=0)  # fmt: skip
    assert explained(invoke, 9)["why_not"].startswith("already Closed")


def test_odd_value_is_unknown(invoke: Any, sandbox: SandboxServer) -> None:
    sandbox.edit_ticket(10, summary="Printer on fire", user_email=12345, status_id=1,
                        agent_id=0)  # fmt: skip
    data = explained(invoke, 10)
    assert data["change"] is None
    assert data["why_not"].startswith("not evaluated: field user_email is 12345")
    assert "unknown" in {c["verdict"] for c in data["conditions"]}


def test_missing_ticket_is_a_usage_error(invoke: Any) -> None:
    result = invoke("explain", "close-spam", "999999")
    assert result.exit_code == 2
    assert "no ticket 999999 in Halo" in result.output
