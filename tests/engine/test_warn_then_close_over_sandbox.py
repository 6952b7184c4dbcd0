"""Warn, then close over two simulated weeks: daily runs on the sandbox, an injected clock.

The sandbox and the runner read one fake clock; each day the playbook runs (twice on some
days: a re-run must post nothing), some customers reply (a new action updates the ticket's
last action date), and at the end every ticket's actions are checked: each step at most once
per waiting period, in order, never early, and the reminders start again after a reply.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apply_support import SandboxFactory, playbook, quiet_logs, rig
from clock import FakeClock

from halo_automate.core.dates import parse_halo_date
from halo_automate.core.plan import Plan, apply_requests_needed
from halo_automate.engine.runner import Runner
from halo_automate.engine.undo import build_undo_plan
from halo_automate.engine.writes import playbook_tag
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox.reference import CLOSED_STATUS

quiet_logs()
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WAITING = 4
TAG = playbook_tag("waiting-on-customer")
STEPS = ("Reminder: we are waiting", "Second reminder", "Closed after no reply")
AFTER = (timedelta(days=3), timedelta(days=5), timedelta(days=7))


def step_of(action: dict[str, Any]) -> int | None:
    note = str(action.get("note") or "")
    if TAG not in note:
        return None
    return next(i for i, text in enumerate(STEPS) if note.startswith(text))


def reply(sb: SandboxServer, ticket_id: int, now: datetime) -> None:
    """A customer's reply: an action that is not the playbook's, dated now."""
    with sb._lock:  # as Halo's mail import would, behind the API's back
        actions = sb.state.actions[ticket_id]
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        action_id = sb.state.next_action_id(ticket_id)
        actions.append(
            {"id": action_id, "ticket_id": ticket_id, "note": "Thanks, here is the log.",
             "outcome": "Customer Reply", "datetime": stamp, "who": "customer"}
        )  # fmt: skip
        sb.state.tickets[ticket_id]["lastactiondate"] = stamp
        sb.state.version += 1


def test_two_weeks_of_daily_runs_warn_then_close_with_no_duplicate(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    clock = FakeClock(wall=START)
    sb = sandbox_factory(now=START, monotonic=clock.monotonic, token_ttl=10**8)
    r = rig(sb, tmp_path / "j.db", batch_size=50)
    runner = Runner(r.client, r.journal, now=clock.now, started_by="tests")
    pb = playbook("waiting-on-customer")
    waiting = sorted(
        t for t, row in sb.state.tickets.items()
        if row["status_id"] == WAITING and not row["deleted"]
    )  # fmt: skip
    began = {t: parse_halo_date(sb.state.tickets[t]["lastactiondate"]) for t in waiting}
    repliers = set(waiting[::4])
    replied: dict[int, datetime] = {}
    emails = planned_emails = 0
    history_reads: list[int] = []
    seen: dict[str, int] = {}
    for day in range(14):
        if day == 4:
            for t in sorted(repliers):
                if sb.state.tickets[t]["status_id"] != CLOSED_STATUS:
                    reply(sb, t, clock.now())
                    replied[t] = clock.now()
        plan = runner.plan(pb)
        planned_emails += sum(1 for c in plan.changes for a in c.actions if a.body["sendemail"])
        seen.clear()

        def confirm(planned: Plan) -> bool:
            seen["estimate"] = apply_requests_needed(planned, batch_size=50)
            seen["at_prompt"] = r.client.stats.snapshot()["requests"]
            history_reads.append(planned.history_reads)
            return True

        before = r.client.stats.snapshot()["requests"]
        outcome = runner.run(pb, trigger="schedule", confirm=confirm)
        assert outcome.status in ("succeeded", "previewed"), outcome.message
        assert outcome.failed == 0
        if outcome.changed:  # the estimate counts the action lists apply reads again
            assert outcome.requests - (seen["at_prompt"] - before) == seen["estimate"], day
        if day % 3 == 0:  # a re-run the same day (or after a crash's recovery): nothing
            assert runner.plan(pb).changes == ()
        clock.advance(timedelta(days=1).total_seconds())

    sent: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for t in waiting:
        for action in sb.state.actions.get(t, []):
            step = step_of(action)
            if step is not None:
                assert action["sendemail"] is True
                emails += 1
                sent[t].append((step, parse_halo_date(action["datetime"])))
    assert emails == planned_emails

    duplicates = 0
    counts: Counter[int] = Counter()
    for t, steps in sent.items():
        reply_at = replied.get(t)
        periods = [
            [s for s in steps if reply_at is None or s[1] < reply_at],
            [s for s in steps if reply_at is not None and s[1] >= reply_at],
        ]
        for n, period in enumerate(periods):
            order = [s for s, _ in period]
            duplicates += len(order) - len(set(order))
            assert order == list(range(len(order))), (t, order)  # in order, none skipped
            start = began[t] if n == 0 else reply_at
            for step, when in period:
                assert when - start >= AFTER[step], (t, step)  # never early
                counts[step] += 1
        if reply_at is not None and periods[1]:
            assert periods[1][0][0] == 0  # a reply starts the reminders again
    assert duplicates == 0
    assert max(history_reads) > 0  # later runs re-read the actions of tickets reminded before
    closed = [t for t in waiting if sb.state.tickets[t]["status_id"] == CLOSED_STATUS]
    assert counts[2] == len(closed) > 0
    assert counts[0] >= counts[1] >= counts[2]
    restarted = sum(1 for t in replied if any(s[1] >= replied[t] for s in sent[t]))
    assert restarted > 0
    print(
        f"\nwaiting tickets {len(waiting)}, replies {len(replied)}; over 14 daily runs: "
        f"reminder 1 x{counts[0]}, reminder 2 x{counts[1]}, closes x{counts[2]}, "
        f"e-mails {emails}, duplicates {duplicates}, restarted after a reply {restarted}"
    )


def test_undo_of_a_close_reopens_and_deletes_but_the_step_stays_sent(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Undo reopens closed tickets and deletes the close action; the e-mail is gone for good,
    and the next run does not close (nor remind) again in that waiting period."""
    clock = FakeClock(wall=START)
    sb = sandbox_factory(now=START, monotonic=clock.monotonic, token_ttl=10**8)
    r = rig(sb, tmp_path / "j.db", batch_size=50)
    runner = Runner(r.client, r.journal, now=clock.now, started_by="tests")
    pb = playbook("waiting-on-customer")
    closing = None
    for _ in range(12):
        outcome = runner.run(pb, trigger="schedule", confirm=None)
        plan = r.plan_of(outcome.run_id) if outcome.changed else None
        if plan and any(a.kind == "close" for c in plan.changes for a in c.actions):
            closing = outcome.run_id
            break
        clock.advance(timedelta(days=1).total_seconds())
    assert closing is not None
    plan = r.plan_of(closing)
    closed = [c.ticket_id for c in plan.changes if any(a.kind == "close" for a in c.actions)]
    undo = build_undo_plan(r.journal, closing, now=clock.now())
    assert runner.apply_saved(undo, confirm=None).status == "succeeded"
    assert all(sb.state.tickets[t]["status_id"] == WAITING for t in closed)
    clock.advance(timedelta(days=1).total_seconds())
    again = runner.plan(pb)
    assert not {c.ticket_id for c in again.changes} & set(closed)


def test_a_run_killed_mid_reminders_never_sends_one_twice(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """SIGKILL while a batch of reminders is in flight (it lands, the answer is lost):
    recovery settles it and sends the rest; the same day and the next, no ticket gets the
    first reminder again, through the days when a product that forgot its own reminders
    (whose posting moved the last action date) would send it again."""
    from test_recovery import kill_at

    clock = FakeClock(wall=START)
    sb = sandbox_factory(now=START, monotonic=clock.monotonic, token_ttl=10**8)
    r = rig(sb, tmp_path / "j.db", batch_size=5)
    runner = Runner(r.client, r.journal, now=clock.now, started_by="tests")
    pb = playbook("waiting-on-customer")
    plan = runner.plan(pb)
    reminded = {c.ticket_id for c in plan.changes}
    assert len(reminded) > 10
    kill_at(r, plan, tmp_path, "Actions", 2, landed=True)
    assert r.journal.pending(plan.run_id)
    assert [o.status for o in runner.recover()] == ["succeeded"]
    assert runner.plan(pb).changes == ()
    for _ in range(4):
        clock.advance(timedelta(days=1).total_seconds())
        runner.run(pb, trigger="schedule", confirm=None)
    for t in reminded:
        firsts = [a for a in sb.state.actions[t] if step_of(a) == 0]
        assert len(firsts) == 1, t
