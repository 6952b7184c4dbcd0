"""Faults on the wire, end to end over the sandbox: 429 storms, 500s, expiring tokens, write
timeouts. Each run ends with the sandbox in exactly the state a fault-free twin reached with
the same plan, no duplicate action, every journal row terminal and no secret anywhere.

The sandbox under faults and the client share one :class:`FakeClock` wherever time is part of
the fault (rate-limit windows, back-off, token lifetimes, latency): windows pass and tokens
expire in fake time, instantly. Only the write timeouts are real (an HTTP read timeout).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from clock import FakeClock
from fault_tools import (
    HookTransport,
    SandboxFactory,
    SecretWatch,
    apply_on_twin,
    duplicate_markers,
    is_write,
    journal_problems,
    lost_changes,
    make_twins,
    mix_playbook,
    plan_on,
    record_figures,
    run_ids,
    runner_for,
    spike_writes,
    state_diff,
)

from halo_automate.core.outcome import RunOutcome
from halo_automate.core.plan import Plan
from halo_automate.engine.runner import Runner
from halo_automate.errors import HaloError
from halo_automate.halo.ratelimit import RequestBudget
from halo_automate.sandbox.server import SandboxServer


def run_until_done(runner: Runner, plan_runs: int = 4) -> list[RunOutcome]:
    """Run the mix playbook until a run succeeds (a ticket that failed every try is left
    for the next run, as a schedule would); at most ``plan_runs`` runs."""
    playbook = mix_playbook()
    outcomes = [runner.run(playbook, trigger="schedule", confirm=None)]
    while outcomes[-1].status != "succeeded" and len(outcomes) < plan_runs:
        outcomes.append(runner.run(playbook, trigger="schedule", confirm=None))
    return outcomes


def check_end_state(
    main: SandboxServer, twin: SandboxServer, plan: Plan, journal: Path, watch: SecretWatch
) -> dict[str, int]:
    """The promises every fault test ends on; returns the figures for the suite report."""
    assert state_diff(main, twin) == []
    duplicates = duplicate_markers(main)
    assert duplicates == []
    lost = lost_changes(main, plan, run_ids(journal))
    assert lost == 0
    assert journal_problems(journal) == []
    watch.add_journal(journal)
    return {"changes_planned": len(plan.changes), "changes_lost": lost,
            "duplicate_actions": len(duplicates)}  # fmt: skip


def setup_twins(
    factory: SandboxFactory,
    tmp_path: Path,
    watch: SecretWatch,
    clock: FakeClock | None = None,
    token_speed: float = 1.0,
    **twin_over: object,
) -> tuple[SandboxServer, SandboxServer, Plan]:
    """The twins; the one under faults on ``clock`` when given, its tokens ageing
    ``token_speed`` times faster than the clock (so a client on ``clock`` believes them alive
    longer than they are)."""
    main_clock: dict[str, Any] | None = None
    if clock is not None:
        main_clock = {"monotonic": lambda: clock() * token_speed, "sleep": clock.sleep}
    main, twin = make_twins(factory, main_clock=main_clock, tickets=300)
    watch.watch(main)
    watch.watch(twin)
    plan = plan_on(main, mix_playbook(), tmp_path / "plan.db")
    apply_on_twin(twin, plan, tmp_path / "twin.db", **twin_over)
    return main, twin, plan


def test_429_storm_with_a_server_window_smaller_than_the_client_believes(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    watch: SecretWatch,
    request: pytest.FixtureRequest,
) -> None:
    """Halo allowing 10 requests per 0.5 s while the client budgets 60: the run waits out
    every 429 and completes in the planned state."""
    clock = FakeClock()
    main, twin, plan = setup_twins(sandbox_factory, tmp_path, watch, clock)
    main.set_faults(rate_limit=10, rate_window=0.5)
    journal = tmp_path / "journal.db"
    budget = RequestBudget(60, 0.5, clock=clock, sleep=clock.sleep)
    timing = {"clock": clock, "sleep": clock.sleep}
    with runner_for(main, journal, budget=budget, batch_size=5, **timing) as runner:
        outcomes = run_until_done(runner)
    assert [o.status for o in outcomes] == ["succeeded"]
    assert outcomes[0].changed == len(plan.changes)
    limited = main.counters["rate_limited"]
    assert limited > 0 and outcomes[0].rate_limited > 0
    figures = check_end_state(main, twin, plan, journal, watch)
    record_figures(request.config, request.node.nodeid,
                   {**figures, "faults_429": limited, "runs_completed": 1})  # fmt: skip


def test_ten_percent_of_requests_answered_500(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    watch: SecretWatch,
    request: pytest.FixtureRequest,
) -> None:
    """With 10% of API requests answered 500 (nothing applied), reads are retried and every
    unknown write is reconciled by reading back: planned state, no duplicate action."""
    clock = FakeClock()
    main, twin, plan = setup_twins(sandbox_factory, tmp_path, watch, clock)
    main.set_faults(fail_rate=0.10)
    journal = tmp_path / "journal.db"
    with runner_for(main, journal, batch_size=4, clock=clock, sleep=clock.sleep) as runner:
        outcomes = run_until_done(runner)
        retries = runner.client.stats.retries
    assert outcomes[-1].status == "succeeded"
    injected = main.counters["failures_injected"]
    assert injected >= 3 and retries > 0
    assert sum(o.changed for o in outcomes) == len(plan.changes)
    figures = check_end_state(main, twin, plan, journal, watch)
    figures.update(faults_500=injected, runs_completed=len(outcomes))
    record_figures(request.config, request.node.nodeid, figures)


def test_a_storm_of_500s_fails_loudly_and_the_next_runs_finish_the_job(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    watch: SecretWatch,
    request: pytest.FixtureRequest,
) -> None:
    """At 40% 500s some writes fail every try and some runs stop; the runs that follow
    (recovery first) still reach the planned state with no duplicate."""
    clock = FakeClock()
    main, twin, plan = setup_twins(sandbox_factory, tmp_path, watch, clock)
    main.set_faults(fail_rate=0.40)
    journal = tmp_path / "journal.db"
    outcomes: list[str] = []
    errors: list[str] = []
    with runner_for(main, journal, batch_size=4, clock=clock, sleep=clock.sleep) as runner:
        for _ in range(12):
            try:
                outcome = runner.run(mix_playbook(), trigger="schedule", confirm=None)
            except HaloError as e:  # a read that failed every retry stops that run
                errors.append(str(e))
                outcomes.append("stopped")
                continue
            outcomes.append(outcome.status)
            if outcome.status == "succeeded" and outcome.changed == 0:
                break  # nothing left to do
    assert outcomes[-1] == "succeeded", outcomes
    assert all("\n" not in e and e.startswith(("GET ", "POST ")) for e in errors), errors
    watch.add("errors", "\n".join(errors))
    injected = main.counters["failures_injected"]
    figures = check_end_state(main, twin, plan, journal, watch)
    completed = outcomes.count("succeeded") + outcomes.count("partial")
    figures.update(faults_500=injected, runs_completed=completed)
    record_figures(request.config, request.node.nodeid, figures)


@pytest.mark.parametrize("revoked_early", [False, True], ids=["short-ttl", "revoked-early"])
def test_tokens_expiring_every_few_seconds_mid_run(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    watch: SecretWatch,
    request: pytest.FixtureRequest,
    revoked_early: bool,
) -> None:
    """Tokens living 1-2 s in a run that lasts longer: the client renews them (and, when Halo
    revokes one before its announced expiry, answers the 401 with a fresh token). Seconds are
    the fake clock's, which the sandbox (tokens, 40 ms latency) and the client share."""
    clock = FakeClock()
    speed = 4.0 if revoked_early else 1.0  # revoked early: tokens die 4 times sooner
    main, twin, plan = setup_twins(sandbox_factory, tmp_path, watch, clock, token_speed=speed)
    main.set_faults(token_ttl=2 if revoked_early else 1, latency=0.04)
    journal = tmp_path / "journal.db"
    transport = HookTransport()
    timing = {"clock": clock, "sleep": clock.sleep}
    with runner_for(main, journal, transport=transport, batch_size=5, **timing) as runner:
        began = clock()
        outcomes = run_until_done(runner)
        seconds = clock() - began
    assert [o.status for o in outcomes] == ["succeeded"]
    issued = main.counters["tokens_issued"]
    assert seconds > 1.5 and issued >= 3
    if revoked_early:
        assert transport.unauthorised > 0
    figures = check_end_state(main, twin, plan, journal, watch)
    record_figures(request.config, request.node.nodeid,
                   {**figures, "faults_token_expiry": issued - 1,
                    "faults_401": transport.unauthorised, "runs_completed": 1})  # fmt: skip


def test_write_timeouts_are_reconciled_by_reading_back_never_blindly_resent(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    watch: SecretWatch,
    request: pytest.FixtureRequest,
) -> None:
    """Writes that time out after landing (a server-side latency spike longer than the
    client's timeout, or a reply lost after it was sent) and writes that time out before
    reaching Halo: what landed is found by reading back and never sent again, what did not
    land is sent once more, and no note is posted twice."""
    main, twin, plan = setup_twins(sandbox_factory, tmp_path, watch)
    rng = random.Random(20261124)
    writes = spike_writes(main, rng, rate=0.15, seconds=0.5)
    lost_replies = dropped = 0

    def before(n: int, req: httpx.Request) -> None:
        nonlocal dropped
        if is_write(req) and rng.random() < 0.10:
            dropped += 1
            raise httpx.ReadTimeout("injected: timed out before the request left", request=req)

    def after(n: int, req: httpx.Request, resp: httpx.Response) -> None:
        nonlocal lost_replies
        if is_write(req) and rng.random() < 0.10:
            lost_replies += 1
            raise httpx.ReadTimeout("injected: reply lost after Halo applied it", request=req)

    journal = tmp_path / "journal.db"
    transport = HookTransport(before, after)
    with runner_for(main, journal, transport=transport, batch_size=4, timeout_seconds=0.25) as r:
        outcomes = run_until_done(r)
    assert outcomes[-1].status == "succeeded"
    assert writes.spikes > 0 and dropped > 0 and lost_replies > 0
    twice = {tid: n for tid, n in writes.ticket_writes.items() if n > 1}
    assert twice == {}  # a ticket update that landed was never sent again
    assert sorted(writes.ticket_writes) == sorted(
        c.ticket_id for c in plan.changes if c.ticket_update
    )
    figures = check_end_state(main, twin, plan, journal, watch)
    record_figures(request.config, request.node.nodeid,
                   {**figures, "faults_write_timeout_landed": writes.spikes + lost_replies,
                    "faults_write_timeout_not_sent": dropped, "blind_resends": len(twice),
                    "runs_completed": len(outcomes)})  # fmt: skip
