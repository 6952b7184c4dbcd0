"""The approval: and notify: keys of a playbook, and the pure rules behind them."""

from __future__ import annotations

import pytest

from halo_automate.core.approval import ApprovalPolicy, needs_approval, person, same_person
from halo_automate.core.playbook import load_playbook_text
from halo_automate.errors import PlaybookError

BASE = "name: p\nselect: {open_only: true}\nactions: [{set: {priority: Low}}]\n"


@pytest.mark.parametrize(
    ("policy", "changes", "waits"),
    [
        (None, 500, False),
        (ApprovalPolicy(required=True), 1, True),
        (ApprovalPolicy(required=True), 0, False),  # nothing to approve
        (ApprovalPolicy(above=50), 50, False),
        (ApprovalPolicy(above=50), 51, True),
        (ApprovalPolicy(above=0), 1, True),
    ],
)
def test_needs_approval(policy: ApprovalPolicy | None, changes: int, waits: bool) -> None:
    """``above: N`` waits for more than N changes; ``required`` for any; no plan of 0 waits."""
    assert needs_approval(policy, changes) is waits


@pytest.mark.parametrize(
    ("planner", "approver", "same"),
    [
        ("alice@desk-1 pid 42", "alice", True),
        ("Alice@desk-1 pid 42", "alice", True),
        ("alice@desk-1 pid 42", "bob", False),
        ("tests", "tests", True),
        ("scheduler (demo daemon)", "root", False),
    ],
)
def test_same_person_compares_the_user_part(planner: str, approver: str, same: bool) -> None:
    assert same_person(planner, approver) is same
    assert person(planner) == person(planner.upper())


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        ("approval: {required: true, above: 5}", "not both"),
        ("approval: {expires: 2h}", "required: true or above: N"),
        ("approval: {above: -1}", "greater than or equal to 0"),
        ("approval: {above: 5, expires: soon}", "bad duration"),
        ("approval: {above: 5, aprover_must_differ: true}", "did you mean 'approver_must_differ'"),
        ("notify: {on: [failed]}", "missing key 'notify.channels'"),
        ("notify: {on: [pasued], channels: [a]}", "notify.on.0"),
        ("limits: {pause_after_refusals: -1}", "greater than or equal to 0"),
    ],
)
def test_bad_keys_are_reported_at_their_line(yaml: str, problem: str) -> None:
    """Each mistake is one ``file:line:col`` problem naming the key."""
    with pytest.raises(PlaybookError) as raised:
        load_playbook_text(BASE + yaml + "\n", "p.yaml")
    assert problem in str(raised.value) and "p.yaml:4:" in str(raised.value)


def test_the_keys_load_with_their_defaults() -> None:
    pb = load_playbook_text(BASE + "approval: {above: 50}\nnotify: {channels: [desk]}\n")
    assert pb.approval == ApprovalPolicy(above=50, expires="24h", approver_must_differ=False)
    assert pb.approval.expires_after.total_seconds() == 86400
    assert pb.notify is not None and pb.notify.channels == ("desk",)
    assert pb.notify.on == ("awaiting_approval", "failed", "refused", "partial", "paused")
    assert pb.limits.pause_after_refusals == 3
