"""Issue 14 (5): the preview warns about closes Halo will refuse for missing mandatory
fields, where the ticket type's field settings are readable (FACTS §9.4)."""

from __future__ import annotations

from email.message import Message
from pathlib import Path

from apply_support import SandboxFactory, playbook, quiet_logs, rig

from halo_automate.engine.closing import close_warnings
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.replies import Reply, empty
from halo_automate.sandbox.server import Handle

STRICT = {2: ("details", "category_1")}


def spam_ticket(sb: SandboxServer) -> int:
    return min(
        t["id"]
        for t in sb.state.tickets.values()
        if not t["deleted"] and t["status_id"] != ref.CLOSED_STATUS
        and t["user_email"].endswith("@news.example")
    )  # fmt: skip


def test_plan_warns_for_a_close_halo_will_refuse(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    quiet_logs()
    sb = sandbox_factory(mandatory=STRICT)
    tid = spam_ticket(sb)
    sb.edit_ticket(tid, tickettype_id=2, details="", category_1="")
    r = rig(sb, tmp_path / "j.db")
    plan = r.runner.plan(playbook("note-and-close"))
    assert tid in {c.ticket_id for c in plan.changes}
    assert close_warnings(r.client, plan) == [
        f"ticket {tid}: its ticket type 2 requires details, category_1 on close; "
        "Halo will refuse the close"
    ]
    assert sb.counters["writes_applied"] == 0


def test_no_warning_without_rules_or_when_unreadable(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    quiet_logs()
    plain = rig(sandbox_factory(), tmp_path / "a.db")
    assert close_warnings(plain.client, plain.runner.plan(playbook("note-and-close"))) == []
    sb = sandbox_factory(mandatory=STRICT)
    sb.edit_ticket(spam_ticket(sb), tickettype_id=2, details="", category_1="")

    def hook(method: str, target: str, headers: Message, body: bytes, proceed: Handle) -> Reply:
        if target.lower().startswith("/api/tickettype/"):
            return empty(403)
        return proceed(method, target, headers, body)

    sb.add_request_hook(hook)
    hidden = rig(sb, tmp_path / "b.db")
    assert close_warnings(hidden.client, hidden.runner.plan(playbook("note-and-close"))) == []
