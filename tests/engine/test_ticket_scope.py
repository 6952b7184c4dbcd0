"""A run over named tickets (webhook runs): one shared read, per-playbook reads only where the
client cannot re-check the select, and expect.min left out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from apply_support import SandboxFactory, playbook, quiet_logs, rig

from halo_automate.core.playbook import Expect
from halo_automate.engine.scope import TicketScope

quiet_logs()


class FakeClient:
    """Records the reads a scope makes."""

    def __init__(self) -> None:
        self.by_ids: list[list[int]] = []
        self.queries: list[dict[str, str]] = []

    def tickets_by_ids(self, ids: Sequence[int]) -> Iterator[dict[str, Any]]:
        self.by_ids.append(list(ids))
        return iter([{"id": i} for i in ids])

    def iter_tickets(self, query: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        self.queries.append(dict(query))
        return iter([])


def test_the_tickets_are_read_once_for_every_playbook_whose_select_is_rechecked() -> None:
    """Two playbooks with re-checkable selects share one ticketids read; a select with a filter
    the client cannot re-check reads its own query narrowed to the ids, from Halo."""
    client = FakeClient()
    scope = TicketScope(client, [5, 3, 5])  # type: ignore[arg-type]
    assert scope.ids == (3, 5)
    first = scope.query({"open_only": "true"})
    assert first == {"open_only": "true", "ticketids": "3,5"}
    assert [t["id"] for t in scope.tickets(first)] == [3, 5]
    scope.tickets(scope.query({"status_id": "1"}))
    assert client.by_ids == [[3, 5]] and client.queries == []
    odd = scope.query({"open_only": "true", "datesearch": "dateoccured"})
    scope.tickets(odd)
    assert client.queries == [odd] and scope.reads == 2


def test_no_ids_reads_nothing() -> None:
    client = FakeClient()
    scope = TicketScope(client, [])  # type: ignore[arg-type]
    assert scope.tickets(scope.query({})) == [] and client.by_ids == []


def test_a_scoped_run_plans_only_its_tickets_and_ignores_expect_min(
    sandbox_factory: SandboxFactory, tmp_path: Any
) -> None:
    """Over the sandbox: a scope of two tickets (one spam) plans close-spam on those two only,
    records the narrowed query, and a playbook's expect.min (about the whole selection) does
    not refuse the run; max_changes still holds."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    full = r.runner.plan(playbook("close-spam"))
    spam = full.changes[0].ticket_id
    other = next(
        i for i in sorted(r.sb.state.tickets) if i not in {c.ticket_id for c in full.changes}
    )
    strict = playbook("close-spam").model_copy(update={"expect": Expect(min=10)})
    scope = TicketScope(r.client, [spam, other])
    outcome = r.runner.run(strict, trigger="webhook", confirm=None, scope=scope)
    assert outcome.status == "succeeded", outcome.message
    assert (outcome.scanned, outcome.matched, outcome.changed) == (2, 1, 1)
    plan = r.plan_of(outcome.run_id)
    assert plan.query["ticketids"] == ",".join(str(i) for i in sorted([spam, other]))
    assert plan.expect_min is None
    capped = playbook("close-spam", max_changes=1)
    many = TicketScope(r.client, [c.ticket_id for c in full.changes[1:4]])
    refused = r.runner.run(capped, trigger="webhook", confirm=None, scope=many)
    assert refused.status == "refused" and "max_changes" in (refused.message or "")
