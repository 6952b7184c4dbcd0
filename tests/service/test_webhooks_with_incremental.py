"""Webhook runs beside incremental scheduled runs (issue 15's two halves merged): a webhook
run reads its batch by id, moves no watermark and begins no moment of the shared reads, but
the tickets it wrote are re-read before a scheduled run of the moment plans from a shared read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from apply_support import client_for, playbook
from conftest import SandboxFactory

from halo_automate.engine.runner import Runner
from halo_automate.engine.scope import TicketScope
from halo_automate.service.companions import Companions
from halo_automate.service.instances import Job, Served
from halo_automate.service.webhook_runs import WebhookJob
from halo_automate.store.journal import Journal


class Recording:
    """A ReadCache that records what it is told (and shares nothing)."""

    def __init__(self) -> None:
        self.wrote_ids: list[int] = []
        self.asked = 0

    def get(self, instance: str, query: dict[str, str], since: datetime | None) -> None:
        self.asked += 1
        return None

    def put(self, *args: Any) -> None:
        pass

    def wrote(self, instance: str, ticket_ids: Iterable[int]) -> None:
        self.wrote_ids += list(ticket_ids)


def test_a_webhook_run_moves_no_watermark_and_marks_what_it_wrote(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sb = sandbox_factory()
    client = client_for(sb)
    journal = Journal.open(tmp_path / "j.db")
    runner = Runner(client, journal, started_by="tests")
    cache = Recording()
    runner.reads.cache = cache
    spam = playbook("close-spam", max_changes=1000)
    every = runner.plan(spam)
    ids = [*[c.ticket_id for c in every.changes][:3], 1]  # three spam tickets and one other
    outcome = runner.run(spam, trigger="webhook", confirm=None, scope=TicketScope(client, ids))
    assert outcome.status == "succeeded" and outcome.changed == 3
    assert outcome.trigger == "webhook"
    assert journal.watermark(spam.name, client.instance_name) is None
    assert cache.asked == 0  # read by id, not from the shared reads
    assert sorted(cache.wrote_ids) == sorted(ids[:3])
    journal.close()
    client.close()


def test_a_webhook_run_begins_no_moment_of_the_shared_reads(tmp_path: Path) -> None:
    """Only a scheduled run begins its moment: a webhook run between two scheduled runs of
    one moment does not split it."""
    begun: list[str] = []
    served = Served({"default": SimpleNamespace()}, "default")  # type: ignore[dict-item]
    settings = SimpleNamespace(halo=SimpleNamespace(rate_limit=None))
    parts = Companions(settings, served, lambda: datetime.now(UTC), SimpleNamespace(  # type: ignore[arg-type]
        add_listener=lambda *a: None))  # fmt: skip
    parts.shared.begin = lambda name, moment=None: begun.append(name)  # type: ignore[method-assign]
    pb = playbook("close-spam")
    assert parts.begin(pb, "default", None) == {"trigger": "schedule"}
    scope = TicketScope(SimpleNamespace(), [5])  # type: ignore[arg-type]
    hook = WebhookJob(Job("close-spam", pb, "default"), scope)
    assert parts.begin(pb, "default", hook) == {"trigger": "webhook", "scope": scope}
    assert begun == ["close-spam"]
