"""What the daemon keeps beside its runs for issue 15, in one place so the daemon's hunk stays
a few lines: the shared reads, the request rate, the start's budget estimate, the webhooks.

* **Shared reads** (:mod:`.shared_reads`): a scheduled run begins its *moment* (the time its
  job was due) before it reads, so playbooks of one instance due together read once. A
  webhook run (:mod:`.webhook_runs`) reads only its batch's tickets, by id: it begins no
  moment (it would split the scheduled runs' moment), but what it writes is re-read before
  a run of the moment plans from a shared read
  (:meth:`~halo_automate.engine.reads.TicketReads.scoped`).
* **Request rate** (:mod:`.budget`): every run's requests (webhook runs' too, keyed like the
  playbook's scheduled job) count in ``/metrics``' requests per hour and budget in use.
* **Start**: the schedules' estimate against the budget is logged, then the webhook listener
  starts (``webhooks:`` configured and its instance served), after recovery and scheduling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from halo_automate.config import Settings
from halo_automate.core.playbook import Playbook
from halo_automate.service.instances import Job, Served
from halo_automate.service.metrics import FinishedRun
from halo_automate.service.shared_reads import SharedReads
from halo_automate.service.webhook_runs import (
    Scheduler,
    Service,
    WebhookJob,
    WebhookRuns,
    run_options,
    start_webhooks,
)

__all__ = ["Companions", "WebhookJob", "WebhookRuns"]


class Companions:
    """The daemon's issue 15 parts (see the module docstring)."""

    def __init__(
        self, settings: Settings, served: Served, clock: Callable[[], datetime], scheduler: Any
    ) -> None:
        self.settings, self.served = settings, served
        self.shared, self.rate = SharedReads.with_rate(served, clock, scheduler, settings)
        self.webhooks: WebhookRuns | None = None
        """The webhook listener, while the daemon serves."""

    def begin(self, playbook: Playbook, instance: str, hook: WebhookJob | None) -> dict[str, Any]:
        """A run of ``playbook`` on ``instance`` starts (a scheduled run its moment):
        :meth:`Runner.run`'s trigger and scope."""
        if hook is None:
            self.shared.begin(self.served.key(playbook.name, instance))
        return run_options(hook)

    def ended(self, run: FinishedRun) -> None:
        """A run ended: its requests count in the last hour's rate, under its job's key."""
        key = self.served.key(run.outcome.playbook, run.instance or self.served.default_instance)
        self.rate.record(key, run.outcome.requests, run.finished_at)

    def start(
        self, service: Service, scheduled: Iterable[Playbook], scheduler: Scheduler
    ) -> WebhookRuns | None:
        """The daemon starts serving: log the schedules' budget estimate, then listen for
        webhooks (None when not configured or its instance is not served)."""
        self.rate.announce(scheduled, self.settings, self.served)
        self.webhooks = start_webhooks(self.settings, service, scheduler)
        return self.webhooks

    @property
    def address(self) -> str | None:
        """Where the webhook listener listens, while it does."""
        webhooks = self.webhooks
        return webhooks.address if webhooks is not None else None

    def close(self) -> None:
        webhooks, self.webhooks = self.webhooks, None
        if webhooks is not None:
            webhooks.close()

    def prometheus(self, jobs: Iterable[Job]) -> str:
        """The budget families of ``/metrics`` for these jobs."""
        return self.rate.prometheus([job.key for job in jobs])
