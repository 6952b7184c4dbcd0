"""``run`` holds a plan above its threshold; ``approvals``, ``approve``, ``reject`` and ``resume``
decide over a sandbox Halo, with the notifications received by a local receiver."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cli_support import write_config
from click.testing import CliRunner, Result
from notify_support import Receiver, receiver

from halo_automate.cli import main
from halo_automate.cli.approval_view import os_user
from halo_automate.sandbox.server import SandboxServer
from halo_automate.store.journal import Journal

Invoke = Callable[..., Result]
TOKEN = "B0002/hook-token-55"


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


def setup(
    tmp_path: Path, sandbox: SandboxServer, rx: Receiver, monkeypatch: pytest.MonkeyPatch,
    approval: str = "{above: 3, expires: 2h}",
) -> Invoke:  # fmt: skip
    config = write_config(tmp_path, sandbox)
    with config.open("a", encoding="utf-8") as f:
        f.write(
            "notify:\n"
            "  console_url: https://console.example/\n"
            "  channels:\n"
            f"    desk-slack: {{type: slack, url: '{rx.base_url}/slack/{TOKEN}'}}\n"
            f"    desk-teams: {{type: teams, url: '{rx.base_url}/teams/{TOKEN}'}}\n"
            f"    audit: {{type: webhook, url: '{rx.base_url}/hook/{TOKEN}'}}\n"
        )
    spam = tmp_path / "playbooks" / "close-spam.yaml"
    spam.write_text(
        spam.read_text(encoding="utf-8") + f"approval: {approval}\n"
        "notify: {on: [awaiting_approval, approved, rejected, succeeded, failed, refused], "
        "channels: [desk-slack, desk-teams, audit]}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, **kwargs: Any) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)], **kwargs)

    return invoke


def held(invoke: Invoke) -> dict[str, Any]:
    [item] = json.loads(invoke("approvals", "--json").output)["approvals"]
    return dict(item)


def test_a_plan_above_its_threshold_waits_then_approve_apply_applies_it(
    tmp_path: Path, sandbox: SandboxServer, rx: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run holds the plan (exit 0, nothing written) and prints the console URL and the
    approve command; each channel is told; approve --apply needs --yes without a terminal;
    then the plan is applied exactly, and the queue is empty."""
    invoke = setup(tmp_path, sandbox, rx, monkeypatch)
    result = invoke("run", "close-spam", "--yes")
    assert result.exit_code == 0, result.output
    item = held(invoke)
    run_id = item["run_id"]
    assert set(item) >= {"run_id", "playbook", "instance", "changes", "requested_by", "expires_at"}
    assert (item["playbook"], item["instance"]) == ("close-spam", "default")
    assert item["changes"] > 3 and item["requested_by"].startswith(os_user())
    assert f"review:  https://console.example/runs/{run_id}" in result.output
    assert f"approve: halo-automate approve {run_id}" in result.output
    assert sandbox.counters["writes_applied"] == 0
    shown = invoke("show", run_id)
    assert shown.exit_code == 0 and "awaiting_approval" in shown.output

    got = rx.wait_for(3)
    [hook] = rx.bodies("/hook/")
    assert (hook["event"], hook["run_id"], hook["playbook"]) == ("awaiting_approval", run_id,
                                                                "close-spam")  # fmt: skip
    assert hook["counts"]["planned"] == item["changes"] == sum(hook["per_client"].values())
    assert hook["link"] == f"https://console.example/runs/{run_id}"
    assert rx.bodies("/slack/")[0]["blocks"][0]["type"] == "header"
    assert rx.bodies("/teams/")[0]["attachments"][0]["content"]["type"] == "AdaptiveCard"
    for request in got:
        assert TOKEN not in request.raw and sandbox.client_secret not in request.raw

    refused = invoke("approve", run_id, "--apply")  # no terminal, no --yes
    assert refused.exit_code == 4 and "not confirmed" in refused.output
    assert held(invoke)["run_id"] == run_id  # nothing approved

    applied = invoke("approve", run_id, "--apply", "--yes")
    assert applied.exit_code == 0, applied.output
    assert f"approved by {os_user()}" in applied.output and "[succeeded]" in applied.output
    assert sandbox.counters["writes_applied"] > 0
    assert json.loads(invoke("approvals", "--json").output)["approvals"] == []
    runs = json.loads(invoke("history", "--json").output)["runs"]
    assert [(r["status"], r["trigger"]) for r in runs] == [
        ("succeeded", "approval"), ("approved", "cli")
    ]  # fmt: skip
    assert runs[0]["counts"]["done"] == item["changes"]
    events = [b["event"] for b in rx.bodies("/hook/")]
    assert events == ["awaiting_approval", "approved", "succeeded"]


def test_a_second_run_does_not_pile_up_and_reject_ends_it(
    tmp_path: Path, sandbox: SandboxServer, rx: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a plan waits another run plans nothing; reject needs a reason; a rejected plan
    cannot be approved (exit 4) and is never applied."""
    invoke = setup(tmp_path, sandbox, rx, monkeypatch)
    invoke("run", "close-spam", "--yes")
    run_id = held(invoke)["run_id"]
    again = invoke("run", "close-spam", "--yes")
    assert again.exit_code == 0 and "nothing was planned" in again.output
    assert held(invoke)["run_id"] == run_id
    assert invoke("reject", run_id).exit_code == 2  # --reason is required
    rejected = invoke("reject", run_id, "--reason", "too broad for a Friday")
    assert rejected.exit_code == 0 and "too broad" in rejected.output
    late = invoke("approve", run_id)
    assert late.exit_code == 4 and "rejected by" in late.output
    assert invoke("approve", "no-such-run").exit_code == 2
    assert sandbox.counters["writes_applied"] == 0
    rx.wait_for(2)
    assert [b["event"] for b in rx.bodies("/hook/")] == ["awaiting_approval", "rejected"]
    assert rx.bodies("/hook/")[1]["message"].endswith("too broad for a Friday")


def test_the_planner_may_not_approve_when_approver_must_differ(
    tmp_path: Path, sandbox: SandboxServer, rx: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OS user who planned cannot approve (exit 4); the plan still waits."""
    invoke = setup(
        tmp_path, sandbox, rx, monkeypatch, "{required: true, approver_must_differ: true}"
    )
    invoke("run", "close-spam", "--yes")
    run_id = held(invoke)["run_id"]
    result = invoke("approve", run_id, "--apply", "--yes")
    assert result.exit_code == 4 and "another person must approve" in result.output
    assert held(invoke)["run_id"] == run_id and sandbox.counters["writes_applied"] == 0


def test_resume_unpauses_a_paused_playbook_and_history_shows_the_pause(
    tmp_path: Path, sandbox: SandboxServer, rx: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """history and approvals say PAUSED; resume resumes it, once."""
    invoke = setup(tmp_path, sandbox, rx, monkeypatch)
    with Journal.open(tmp_path / "journal.db") as journal:
        for _ in range(3):
            journal.count_refusal("close-spam", "default", refused=True, pause_after=3,
                                  now=datetime.now(UTC), reason="refused 3 times")  # fmt: skip
    assert "PAUSED close-spam (default)" in invoke("history").output
    assert "refused 3 times" in invoke("approvals").output
    assert "close-spam resumed on default" in invoke("resume", "close-spam").output
    assert "is not paused" in invoke("resume", "close-spam").output
    assert "PAUSED" not in invoke("history").output
