"""A run's reads overlap where nothing depends on their order (issue 15, pipelined runs).

Each test pins one overlap and fails without it: planning while the pages still arrive, the
id-only listing in flight with the last pages, the first page with the lookups, the instance
facts with the stale check. The scan's and the run's answers stay what they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from apply_support import SandboxFactory, playbook, quiet_logs, rig
from overlap_support import Requests

from halo_automate.engine import runner as runner_module

quiet_logs()


def test_a_full_read_is_planned_as_its_pages_arrive(
    sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's full read is handed to the planner page by page: the planner has its first
    ticket before the last page was asked for (planning CPU overlaps the reads, and the read
    is never all in memory), and the plan is the one a read-then-plan run makes."""
    sb = sandbox_factory(tickets=3000)
    r = rig(sb, tmp_path / "j.db")
    requests = Requests()
    sb.add_request_hook(requests)
    pages_at_first_row: list[int] = []
    make_plan = runner_module.make_plan

    def watching(pb: Any, tickets: Iterable[dict[str, Any]], *args: Any, **kw: Any) -> Any:
        def rows() -> Iterable[dict[str, Any]]:
            for row in tickets:
                if not pages_at_first_row:
                    pages_at_first_row.append(requests.pages())
                yield row

        return make_plan(pb, rows(), *args, **kw)

    monkeypatch.setattr(runner_module, "make_plan", watching)
    plan = r.runner.plan(playbook("close-spam", max_changes=10_000))
    total = requests.pages()
    assert total >= 8, "the test needs a read of many pages"
    assert pages_at_first_row and pages_at_first_row[0] < total
    monkeypatch.setattr(runner_module, "make_plan", make_plan)
    again = r.runner.plan(playbook("close-spam", max_changes=10_000))
    assert (plan.scanned, plan.matched) == (again.scanned, again.matched)
    assert [c.ticket_id for c in plan.changes] == [c.ticket_id for c in again.changes]
