"""Issue 19.7: the confirmation of ``run`` / ``apply`` / ``undo`` names the instance and
spells out the effect computed from the plan (closes, notes private or visible, e-mails,
other field changes; for an undo, fields put back and notes deleted or added)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from cli_support import write_config
from click.testing import CliRunner, Result

from halo_automate.cli import main
from halo_automate.cli.effect import effect_sentence
from halo_automate.core.plan import ActionSpec, FieldChange, Plan, TicketChange
from halo_automate.sandbox.server import SandboxServer

Invoke = Callable[..., Result]


def _change(ticket: int, fields: dict[str, Any], *actions: ActionSpec) -> TicketChange:
    return TicketChange(
        ticket_id=ticket,
        client_name="Acme",
        summary="s",
        reason="r",
        fields=MappingProxyType({k: FieldChange(*v) for k, v in fields.items()}),
        ticket_update=MappingProxyType({k: v[1] for k, v in fields.items()}),
        actions=actions,
    )


def _action(kind: str, **body: Any) -> ActionSpec:
    return ActionSpec(kind, MappingProxyType(body))


def _plan(*changes: TicketChange) -> Plan:
    return Plan(
        version=2, run_id="r", playbook="p", playbook_hash="h", created_at="now",
        mode="apply", halo_rules=False, max_changes=500, expect_min=None, expect_max=None,
        query={}, scanned=3, matched=3, changes=changes,
    )  # fmt: skip


def test_sentence_counts_closes_notes_emails_and_other_fields() -> None:
    """A close's own status change is part of the close; other fields, visible notes and
    e-mails are counted."""
    close = _action("close", outcome_id=1, new_status=9, note="spam", hiddenfromuser=True,
                    sendemail=False)  # fmt: skip
    told = _action("note", outcome_id=2, note="we fixed it", hiddenfromuser=False,
                   sendemail=True)  # fmt: skip
    plan = _plan(
        _change(1, {"status_id": (1, 9)}, close),
        _change(2, {"status_id": (1, 9), "agent_id": (3, 0)}, close),
        _change(3, {"priority_id": (1, 2)}, told),
    )
    assert effect_sentence(plan) == (
        "close 2 tickets, change 1 other ticket, post 2 private notes, "
        "1 note visible to the user, 1 e-mail, 2 other field changes"
    )


@pytest.fixture
def cli(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Invoke, list[str]]:
    config = write_config(tmp_path, sandbox)
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)
    asked: list[str] = []
    answer = {"yes": False}

    def ask(question: str, *, yes: bool) -> bool:
        asked.append(question)
        return yes or answer["yes"]

    monkeypatch.setattr("halo_automate.cli.context.ask", ask)
    monkeypatch.setattr("halo_automate.cli.commands.undo.ask", ask)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)])

    return invoke, asked


def test_close_spam_and_its_undo_say_where_and_what(
    cli: tuple[Invoke, list[str]], sandbox: SandboxServer
) -> None:
    invoke, asked = cli
    refused = invoke("run", "close-spam")
    assert refused.exit_code == 4, refused.output
    [question] = asked
    host = sandbox.base_url.removeprefix("http://")
    planned = json.loads(invoke("plan", "close-spam", "--json").output)
    n = len(planned["changes"])
    assert n > 1
    assert question == (
        f"On default ({host}): close {n} tickets, post {n} private notes, 0 e-mails, "
        "0 other field changes. Apply?"
    )
    assert sandbox.counters["writes_applied"] == 0
    done = invoke("run", "close-spam", "--yes")
    assert done.exit_code == 0, done.output
    run_id = json.loads(invoke("history", "--json").output)["runs"][0]["run_id"]
    asked.clear()
    invoke("undo", run_id)
    [undo_question] = asked
    assert undo_question == (
        f"On default ({host}): undo run {run_id}: put back {n} fields on {n} tickets, "
        f"post {n} private notes, 0 e-mails. Undo?"
    )
