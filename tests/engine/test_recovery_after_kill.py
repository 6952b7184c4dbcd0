"""The apply process SIGKILLed at random points, again and again, each kill followed by a
rerun: no lost change, no duplicate action, every journal row terminal.

Each round plans a priority flip (plus a note) on the sandbox, applies the same plan on a
fault-free twin, then applies it in a child process that SIGKILLs itself just before sending,
or just after the answer to, a seeded random request (or is killed by the parent after a
random delay, which can land inside an SQLite transaction). Sometimes the recovery is killed
too. A final in-process recovery must leave the sandbox equal to the twin.

CI runs 5 kills; ``HALO_AUTOMATE_FULL_FAULTS=1`` (or ``-m slow``) runs the 20-kill loop.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fault_tools import (
    FULL_FAULTS,
    Child,
    SandboxFactory,
    SecretWatch,
    apply_on_twin,
    duplicate_markers,
    flip_playbook,
    journal_problems,
    lost_changes,
    make_twins,
    plan_on,
    record_figures,
    run_child,
    run_ids,
    runner_for,
    state_diff,
)

from halo_automate.core.plan import new_run_id, plan_to_json
from halo_automate.sandbox.server import SandboxServer

BATCH = 8


def kill_loop(
    kills: int, seed: int, factory: SandboxFactory, tmp_path: Path, watch: SecretWatch
) -> Counter[str]:
    """Run rounds until ``kills`` processes were killed; check the promises after each round."""
    rng = random.Random(seed)
    main, twin = make_twins(factory, tickets=120)
    watch.watch(main)
    journal = tmp_path / "journal.db"
    figures: Counter[str] = Counter()
    round_no = 0
    while figures["kills"] < kills:
        round_no += 1
        playbook = flip_playbook("High" if round_no % 2 else "Low")
        plan = plan_on(main, playbook, tmp_path / f"plan{round_no}.db")
        twin_requests = apply_on_twin(twin, plan, tmp_path / "twin.db", batch_size=BATCH)
        plan_file = tmp_path / f"plan{round_no}.json"
        plan_file.write_text(plan_to_json(plan), encoding="utf-8")
        child = kill_child(main, "apply", journal, rng, twin_requests, plan_file, watch)
        figures["kills"] += child.killed
        figures[f"kills_{child.point}"] += child.killed
        while figures["kills"] < kills and rng.random() < 0.3:  # kill the recovery as well
            again = kill_child(main, "recover", journal, rng, 6, None, watch)
            figures["kills"] += again.killed
            figures["kills_during_recovery"] += again.killed
        with runner_for(main, journal, batch_size=BATCH) as runner:
            outcomes = runner.recover()
            if plan.run_id not in run_ids(journal):  # killed before the run was journaled
                figures["kills_before_the_run_started"] += 1
                outcomes.append(runner.apply_saved(plan, confirm=None))
            elif undecided(journal, plan.run_id):  # killed before its first pending batch:
                # closed by recovery without a write (fail closed); the next run plans afresh,
                # which on the untouched sandbox is this plan under a new run id
                figures["kills_before_the_decision_to_write"] += 1
                outcomes = [o for o in outcomes if o.run_id != plan.run_id]
                rerun = dataclasses.replace(plan, run_id=new_run_id(datetime.now(UTC)))
                outcomes.append(runner.apply_saved(rerun, confirm=None))
        assert all(o.status == "succeeded" for o in outcomes), [o.summary() for o in outcomes]
        figures["runs_completed"] += 1
        assert state_diff(main, twin) == [], f"round {round_no}"
        assert duplicate_markers(main) == []
        assert lost_changes(main, plan, run_ids(journal)) == 0
        assert journal_problems(journal) == []
        figures["changes_planned"] += len(plan.changes)
    watch.add_journal(journal)
    return figures


def undecided(journal: Path, run_id: str) -> bool:
    """The run was closed by recovery before it journaled a decision to write."""
    with sqlite3.connect(journal) as db:
        row = db.execute(
            "SELECT status, EXISTS (SELECT 1 FROM run_decisions d WHERE d.run_id = runs.run_id) "
            "FROM runs WHERE run_id = ?",
            (run_id,),
        )
        status, decided = row.fetchone()
    return not decided and status == "interrupted"


def kill_child(
    main: SandboxServer,
    mode: str,
    journal: Path,
    rng: random.Random,
    requests: int,
    plan_file: Path | None,
    watch: SecretWatch,
) -> Child:
    """One child killed at a seeded random point: a request (before or after it) or a delay."""
    how = rng.choice(["before", "after", "before", "after", "timer"])
    if how == "timer":
        main.set_faults(latency=0.02)  # the run takes ~requests * 20 ms: kill inside it
        child = run_child(
            main, mode, journal, plan_file=plan_file, batch_size=BATCH,
            kill_after_seconds=rng.uniform(0.0, requests * 0.02),
        )  # fmt: skip
        main.set_faults(latency=0)
    else:
        child = run_child(
            main, mode, journal, plan_file=plan_file, batch_size=BATCH,
            kill_at=rng.randint(1, requests), kill_when=how,
        )  # fmt: skip
    child.point = how
    watch.add(f"{mode} child stdout", child.stdout)
    watch.add(f"{mode} child stderr", child.stderr)
    assert child.killed or child.returncode == 0, child.stderr[-2000:]
    assert "Traceback" not in child.stderr
    if not child.killed:
        json.loads(child.stdout.splitlines()[-1])  # a child that got through printed outcomes
    return child


def test_killed_mid_apply_five_times_then_rerun(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    watch: SecretWatch,
    request: pytest.FixtureRequest,
) -> None:
    """Five SIGKILLs at seeded random points of applies (and recoveries), each followed by a
    rerun: the sandbox always ends equal to the fault-free twin, with no duplicate action
    and no pending journal row."""
    figures = kill_loop(5, 20261124, sandbox_factory, tmp_path, watch)
    assert figures["kills"] == 5
    record_figures(request.config, request.node.nodeid, figures)


@pytest.mark.slow
def test_killed_mid_apply_twenty_times_then_rerun(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    watch: SecretWatch,
    request: pytest.FixtureRequest,
) -> None:
    """The full loop: twenty SIGKILLs at seeded random points, the same promises each time."""
    marks = str(request.config.getoption("markexpr") or "")
    if not FULL_FAULTS and ("slow" not in marks or "not slow" in marks):
        pytest.skip("the full kill loop runs with HALO_AUTOMATE_FULL_FAULTS=1 or -m slow")
    figures = kill_loop(20, 424242, sandbox_factory, tmp_path, watch)
    assert figures["kills"] == 20
    record_figures(request.config, request.node.nodeid, figures)
