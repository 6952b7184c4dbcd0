"""Issue 14 (3, 5): a multi-element POST that Halo refuses may have been partly applied.

Whether Halo commits the elements before a bad one is unknown (FACTS §3.1, §9.5), so the
product must be right either way: the sandbox runs in both modes, and a run whose close
batches hold tickets Halo refuses (a CAB approval, mandatory fields: FACTS §9.4) posts no
action twice, changes every good ticket once, and reports each bad ticket with Halo's message.
"""

from __future__ import annotations

from email.message import Message
from pathlib import Path

import pytest
from apply_support import (
    SandboxFactory,
    duplicate_markers,
    marked,
    playbook,
    quiet_logs,
    rig,
)

from halo_automate.core.playbook import load_playbook_text
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.replies import Reply
from halo_automate.sandbox.server import Handle

SPAM_DOMAINS = ("news.example", "promo-mailer.example")
CAB_TYPE, STRICT_TYPE = 3, 2


def candidates(sb: SandboxServer) -> list[int]:
    """Open tickets from the spam domains (all of them match ``note-and-close``)."""
    return sorted(
        t["id"]
        for t in sb.state.tickets.values()
        if not t["deleted"]
        and t["status_id"] != ref.CLOSED_STATUS
        and t["user_email"].rpartition("@")[2] in SPAM_DOMAINS
    )


def refused_with_writes(sb: SandboxServer) -> list[int]:
    """Records, per refused POST, how many elements the sandbox kept applied."""
    kept: list[int] = []

    def hook(method: str, target: str, headers: Message, body: bytes, proceed: Handle) -> Reply:
        reply = proceed(method, target, headers, body)
        if method == "POST" and reply.status == 400:
            kept.append(reply.tickets_written + reply.actions_written)
        return reply

    sb.add_request_hook(hook)
    return kept


@pytest.mark.parametrize("partial_commit", [False, True], ids=["all-or-nothing", "partial"])
def test_refused_batches_never_duplicate_and_name_the_bad_tickets(
    sandbox_factory: SandboxFactory, tmp_path: Path, partial_commit: bool
) -> None:
    quiet_logs()
    sb = sandbox_factory(
        partial_commit=partial_commit,
        cab_types=frozenset({CAB_TYPE}),
        mandatory={STRICT_TYPE: ("details", "category_1")},
    )
    ids = candidates(sb)
    assert len(ids) >= 6
    assert not any(sb.state.tickets[i]["tickettype_id"] in (CAB_TYPE, STRICT_TYPE) for i in ids)
    cab, strict = ids[1], ids[4]
    sb.edit_ticket(cab, tickettype_id=CAB_TYPE)
    sb.edit_ticket(strict, tickettype_id=STRICT_TYPE, details="", category_1="")
    kept = refused_with_writes(sb)
    r = rig(sb, tmp_path / "j.db", batch_size=3)

    outcome = r.runner.run(playbook("note-and-close"), trigger="cli", confirm=None)

    plan = r.plan_of(outcome.run_id)
    planned = {c.ticket_id for c in plan.changes}
    assert {cab, strict} <= planned
    assert outcome.status == "partial"
    failures = dict(outcome.failures)
    assert set(failures) == {cab, strict}
    assert ref.CAB_MESSAGE in failures[cab]
    assert "Details and Category were required" in failures[strict]
    assert duplicate_markers(sb) == []
    posted = marked(sb, plan.run_id)
    for tid in planned - {cab, strict}:
        ticket = sb.state.tickets[tid]
        assert ticket["status_id"] == ref.CLOSED_STATUS, tid
        assert len(posted[tid]) == 2, tid  # the note and the close, once each
    for tid in (cab, strict):
        assert sb.state.tickets[tid]["status_id"] != ref.CLOSED_STATUS
        assert len(posted[tid]) == 1  # the note landed; the close was refused
    assert outcome.changed == len(planned) - 2 and outcome.failed == 2
    good_actions = 2 * (len(planned) - 2) + 2
    assert sb.counters["actions_written"] == good_actions  # nothing written twice
    assert kept, "the close batches holding the bad tickets were refused"
    if partial_commit:
        assert any(kept), "some refused batch kept the elements before the bad one"
    else:
        assert not any(kept)


CLOSE_BY_UPDATE = """
name: close-by-update
select: {open_only: true}
where:
  any:
    - user_email: {domain: [news.example, promo-mailer.example]}
actions:
  - set: {status: Closed, priority: Low}
"""


@pytest.mark.parametrize("partial_commit", [False, True], ids=["all-or-nothing", "partial"])
def test_refused_ticket_update_batches_write_each_good_ticket_once(
    sandbox_factory: SandboxFactory, tmp_path: Path, partial_commit: bool
) -> None:
    """The same for ticket updates: a close by update refused for mandatory fields fails that
    ticket with Halo's message; every other ticket is written exactly once."""
    quiet_logs()
    sb = sandbox_factory(partial_commit=partial_commit, mandatory={STRICT_TYPE: ("details",)})
    ids = candidates(sb)
    strict = ids[2]
    sb.edit_ticket(strict, tickettype_id=STRICT_TYPE, details="")
    kept = refused_with_writes(sb)
    r = rig(sb, tmp_path / "j.db", batch_size=4)

    outcome = r.runner.run(load_playbook_text(CLOSE_BY_UPDATE), trigger="cli", confirm=None)

    planned = {c.ticket_id for c in r.plan_of(outcome.run_id).changes}
    assert strict in planned and len(planned) > 4
    assert dict(outcome.failures) == {strict: "Details were required"}
    assert outcome.changed == len(planned) - 1
    assert sb.counters["tickets_written"] == len(planned) - 1  # each good ticket once
    for tid in planned - {strict}:
        assert sb.state.tickets[tid]["status_id"] == ref.CLOSED_STATUS
        assert sb.state.tickets[tid]["priority_id"] == 4
    assert sb.state.tickets[strict]["status_id"] != ref.CLOSED_STATUS
    assert any(kept) is partial_commit
