"""A run's full garbage collections skip the objects alive before it (engine/heap.py)."""

from __future__ import annotations

import gc
from email.message import Message
from pathlib import Path

from apply_support import playbook, quiet_logs, rig

from halo_automate.engine.heap import young_heap
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox.replies import Reply
from halo_automate.sandbox.server import Handle

quiet_logs()


def test_a_run_sets_the_older_heap_aside_and_gives_it_back(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """While a run (plan and apply, and an apply of a saved plan) talks to Halo, what was
    alive before it is frozen out of the collector's scans; afterwards nothing stays frozen,
    and a cycle made during the run is still collected."""
    r = rig(sandbox, tmp_path / "j.db")
    during: list[int] = []

    def watch(method: str, target: str, headers: Message, body: bytes, go: Handle) -> Reply:
        during.append(gc.get_freeze_count())
        return go(method, target, headers, body)

    sandbox.add_request_hook(watch)
    before = gc.get_freeze_count()
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert outcome.status == "succeeded"
    assert during and min(during) > before
    assert gc.get_freeze_count() == before == 0
    plan = r.runner.plan(playbook("category-cleanup"))
    assert plan.changes
    during.clear()
    assert r.runner.apply_saved(plan, confirm=None).status == "succeeded"
    assert during and min(during) > 0
    assert gc.get_freeze_count() == 0


def test_young_heap_unfreezes_after_an_error() -> None:
    class Cycle:
        pass

    try:
        with young_heap():
            assert gc.get_freeze_count() > 0
            a, b = Cycle(), Cycle()
            a.other, b.other = b, a  # type: ignore[attr-defined]
            del a, b
            assert gc.collect() >= 2  # the run's own garbage is still collected
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
