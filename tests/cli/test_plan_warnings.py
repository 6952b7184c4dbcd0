"""Issue 14 (5): ``plan`` (text and ``--json``) warns, like ``run``'s confirmation, about the
closes Halo will refuse for missing mandatory fields, where the ticket type's field settings
are readable (FACTS §9.4); a 403 on ``TicketType`` is no warning and no failure. The JSON plan
document carries them as ``warnings``, read back by ``plan_from_json``; an older document
without the key still reads."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from email.message import Message
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from halo_automate.cli import main
from halo_automate.core.plan import plan_from_json, plan_to_json
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.replies import Reply, empty
from halo_automate.sandbox.server import Handle

ROOT = Path(__file__).resolve().parents[2]
STRICT = {2: ("details", "category_1")}
Invoke = Callable[..., Result]


def cli_for(sb: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    (tmp_path / "playbooks").mkdir()
    shutil.copy(ROOT / "playbooks" / "close-spam.yaml", tmp_path / "playbooks")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"halo:\n  base_url: {sb.base_url}\n  client_id: {sb.client_id}\n"
        "  client_secret: ${SANDBOX_SECRET}\nplaybooks_dir: playbooks\njournal: journal.db\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SANDBOX_SECRET", sb.client_secret)
    monkeypatch.chdir(tmp_path)
    return lambda *args: CliRunner().invoke(main, [*args, "--config", str(config)])


def strict_ticket(sb: SandboxServer) -> int:
    """A spam ticket close-spam closes, of ticket type 2, lacking both mandatory fields."""
    tid = min(
        t["id"]
        for t in sb.state.tickets.values()
        if not t["deleted"] and t["status_id"] != ref.CLOSED_STATUS
        and t["user_email"].endswith("@news.example") and not t.get("agent_id")
    )  # fmt: skip
    sb.edit_ticket(tid, tickettype_id=2, details="", category_1="")
    return tid


def forbid_ticket_types(sb: SandboxServer) -> None:
    def hook(method: str, target: str, headers: Message, body: bytes, proceed: Handle) -> Reply:
        if target.lower().startswith("/api/tickettype"):
            return empty(403)
        return proceed(method, target, headers, body)

    sb.add_request_hook(hook)


def warning_for(tid: int) -> str:
    return (
        f"ticket {tid}: its ticket type 2 requires details, category_1 on close; "
        "Halo will refuse the close"
    )


def test_plan_text_and_json_carry_the_close_warning(
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb = sandbox_factory(mandatory=STRICT)
    tid = strict_ticket(sb)
    cli = cli_for(sb, tmp_path, monkeypatch)
    shown = cli("plan", "close-spam")
    assert shown.exit_code == 0, shown.output
    assert f"warning: {warning_for(tid)}" in " ".join(shown.output.split())
    type_reads = sb.counters["requests_by_endpoint"]["GET /api/TicketType/{id}"]
    doc = cli("plan", "close-spam", "--json")
    assert doc.exit_code == 0, doc.output
    assert json.loads(doc.output)["warnings"] == [warning_for(tid)]
    closing = [c["ticket_id"] for c in json.loads(doc.output)["changes"]]
    assert type_reads == len({sb.state.tickets[t]["tickettype_id"] for t in closing})
    assert plan_from_json(doc.output).warnings == (warning_for(tid),)
    assert sb.counters["writes_applied"] == 0


def test_a_403_on_ticket_types_is_no_warning_and_no_failure(
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb = sandbox_factory(mandatory=STRICT)
    strict_ticket(sb)
    forbid_ticket_types(sb)
    cli = cli_for(sb, tmp_path, monkeypatch)
    shown = cli("plan", "close-spam")
    assert shown.exit_code == 0, shown.output
    assert "warning:" not in shown.output
    doc = cli("plan", "close-spam", "--json")
    assert doc.exit_code == 0, doc.output
    assert json.loads(doc.output)["warnings"] == []


def test_a_document_without_warnings_still_reads(
    sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb = sandbox_factory()
    cli = cli_for(sb, tmp_path, monkeypatch)
    doc = json.loads(cli("plan", "close-spam", "--json").output)
    doc.pop("warnings", None)
    old = plan_from_json(json.dumps(doc))
    assert old.warnings == ()
    assert json.loads(plan_to_json(old))["warnings"] == []
