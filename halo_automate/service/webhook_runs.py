"""From webhook deliveries to runs: coalesce the ticket ids, then run every webhook playbook.

Halo sends one webhook per event, and a busy desk (or a mail loop, or a bulk edit) sends
hundreds in a burst, often several for one ticket. Each delivery's ids go to a
:class:`Coalescer`, which collects them for ``webhooks.coalesce_seconds`` (0.5 s) from the
first one, then hands the set on as one batch. A batch waits on the daemon's one worker
(runs never overlap: one client, one budget); while it waits, later batches merge into it
(:class:`WebhookRuns`), so a backlog is always one batch, and an id delivered ten times is
read once. A batch then becomes one :class:`~halo_automate.engine.scope.TicketScope`: its
tickets are re-read once (``ticketids``, 100 a request) and every loaded playbook with
``triggers: [webhook]`` is run over them through the daemon's own run path (the journal, the
lock, ``max_changes``, the metrics and the log lines of any run; trigger ``webhook``).

A delivery is for ONE Halo: ``webhooks.instance`` (default: the config's default instance).
Its batches are read and run through that instance's runner (:mod:`.instances`: its client,
its budget, its writer lock, the re-derivation of every change before writing), and only the
webhook playbooks whose ``instances:`` allow that instance run; each run is a
:class:`WebhookJob` keyed like that playbook's scheduled job on the instance. A daemon that
does not serve the instance (``--instance`` named others) does not listen.

So a burst of 500 deliveries about a few tickets costs one read, plus the stale check and the
writes of whatever matched. A delivery repeated later (Halo retries) is harmless: the ticket
is re-read, and a ticket already closed no longer matches.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from halo_automate.config import Settings
from halo_automate.config.webhooks import WebhookSettings
from halo_automate.core.instance_scope import allowed_on
from halo_automate.core.playbook import Playbook
from halo_automate.engine.scope import TicketScope
from halo_automate.service.instances import Job, Served
from halo_automate.service.metrics import FinishedRun
from halo_automate.service.webhooks import WebhookServer, serve_webhooks

log = structlog.get_logger("halo_automate.service.webhooks")

WEBHOOK = "webhook"
"""The trigger a playbook lists to run on webhooks (``triggers: [webhook]``)."""


class Timer(Protocol):
    def start(self) -> None: ...
    def cancel(self) -> None: ...


TimerFactory = Callable[[float, Callable[[], None]], Timer]
"""``timer(seconds, fire)``: calls ``fire`` once after ``seconds`` unless cancelled."""


def _thread_timer(seconds: float, fire: Callable[[], None]) -> Timer:
    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    return timer


class Coalescer:
    """Collects ids for ``window`` seconds from the first, then calls ``flush(ids)`` once
    (sorted, each once). More than ``max_ids`` pending flushes at once."""

    def __init__(
        self,
        window: float,
        flush: Callable[[list[int]], None],
        *,
        max_ids: int = 500,
        timer: TimerFactory = _thread_timer,
    ) -> None:
        self.window, self.flush, self.max_ids, self._timer = window, flush, max_ids, timer
        self._pending: set[int] = set()
        self._armed: Timer | None = None
        self._lock = threading.Lock()
        self.deliveries = 0

    def add(self, ids: Iterable[int]) -> None:
        with self._lock:
            self.deliveries += 1
            self._pending.update(ids)
            if len(self._pending) >= self.max_ids:
                ready = self._take()
            else:
                ready = []
                if self._armed is None and self._pending:
                    self._armed = self._timer(self.window, self.fire)
                    self._armed.start()
        if ready:
            self.flush(ready)

    @property
    def pending(self) -> int:
        """Ids collected and not yet handed on."""
        with self._lock:
            return len(self._pending)

    def fire(self) -> None:
        """The window closed: hand on what was collected."""
        with self._lock:
            ready = self._take()
        if ready:
            self.flush(ready)

    def _take(self) -> list[int]:
        if self._armed is not None:
            self._armed.cancel()
            self._armed = None
        ready, self._pending = sorted(self._pending), set()
        return ready

    def close(self) -> None:
        """Drop what is pending (the scheduled runs catch those tickets)."""
        with self._lock:
            dropped = self._take()
        if dropped:
            log.info("webhook_tickets_dropped", tickets=len(dropped), reason="stopping")


@dataclass(frozen=True)
class WebhookJob:
    """One webhook playbook's run over one batch's tickets, on the webhook instance."""

    job: Job
    scope: TicketScope


def run_options(webhook: WebhookJob | None) -> dict[str, Any]:
    """:meth:`Runner.run`'s trigger (and scope) for a scheduled run (None) or a webhook run."""
    return (
        {"trigger": "schedule"} if webhook is None else {"trigger": WEBHOOK, "scope": webhook.scope}
    )


class Service(Protocol):
    """What :class:`WebhookRuns` needs of the daemon."""

    served: Served

    @property
    def playbooks(self) -> dict[str, Playbook]: ...

    def run_job(self, name: str, webhook: WebhookJob | None = ...) -> FinishedRun | None: ...


class Scheduler(Protocol):
    """The daemon's scheduler: its one worker runs the batches, between scheduled runs."""

    def add_job(self, func: Callable[..., Any], **options: Any) -> Any: ...


class WebhookRuns:
    """Webhook deliveries -> coalesced batches -> runs of the webhook playbooks."""

    def __init__(
        self,
        settings: WebhookSettings,
        service: Service,
        scheduler: Scheduler,
        *,
        instance: str | None = None,
        timer: TimerFactory = _thread_timer,
    ) -> None:
        self.settings, self.service, self.scheduler = settings, service, scheduler
        self.instance = instance
        """The Halo instance the deliveries come from (None: the service's default one)."""
        self.coalescer = Coalescer(
            settings.coalesce_seconds, self.enqueue, max_ids=settings.max_tickets, timer=timer
        )
        self._queued: set[int] | None = None  # a batch waiting for the worker
        self._lock = threading.Lock()
        self._server: WebhookServer | None = None
        self._numbers = itertools.count(1)

    def start(self) -> WebhookServer:
        self._server = serve_webhooks(self.settings, self.coalescer.add)
        return self._server

    def close(self) -> None:
        """Stop listening and drop what is still being coalesced."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.coalescer.close()

    @property
    def address(self) -> str | None:
        server = self._server
        return server.address if server is not None else None

    def enqueue(self, ids: Sequence[int]) -> None:
        """A coalesced batch: merged into the batch waiting for the worker, or queued."""
        with self._lock:
            if self._queued is not None:
                self._queued.update(ids)
                return
            self._queued = set(ids)
        try:
            # never skipped as misfired: the merged batch must run, however late
            self.scheduler.add_job(self.run_queued, name=WEBHOOK, misfire_grace_time=None)
        except Exception as e:  # the scheduler stopped meanwhile: the schedules catch up
            with self._lock:
                self._queued = None
            log.warning("webhook_batch_dropped", tickets=len(ids), error=str(e))

    def run_queued(self) -> list[FinishedRun]:
        """On the worker: take the waiting batch and run it."""
        with self._lock:
            ids, self._queued = sorted(self._queued or ()), None
        return self.run_batch(ids)

    def run_batch(self, ids: Sequence[int]) -> list[FinishedRun]:
        """Run every webhook playbook allowed on the instance over ``ids`` (one shared
        re-read, through that instance's runner)."""
        served = self.service.served
        instance = self.instance or served.default_instance
        playbooks = [
            pb for pb in webhook_playbooks(self.service.playbooks) if allowed_on(pb, instance)
        ]
        if not ids or not playbooks:
            return []
        scope = TicketScope(served.runner(instance).client, ids)
        batch = next(self._numbers)
        log.info(
            "webhook_batch", batch=batch, tickets=len(ids), playbooks=len(playbooks),
            instance=instance,
        )  # fmt: skip
        runs = []
        for playbook in playbooks:
            job = Job(served.key(playbook.name, instance), playbook, instance)
            run = self.service.run_job(job.key, WebhookJob(job, scope))
            if run is None:  # stopping
                break
            runs.append(run)
        return runs


def start_webhooks(
    settings: Settings, service: Service, scheduler: Scheduler
) -> WebhookRuns | None:
    """The listening :class:`WebhookRuns` when ``webhooks:`` is configured and its instance
    served, else None. An unknown ``webhooks.instance`` or an unset password variable is a
    ConfigError here, when the listener starts."""
    hooks = settings.webhooks
    if hooks is None:
        return None
    instance = hooks.instance or settings.default_instance
    settings.select_instance(instance)  # an unknown name: ConfigError with a did-you-mean
    hooks.check_secret()
    if instance not in service.served.runners:
        log.warning("webhooks_not_served", instance=instance, served=service.served.names)
        return None
    runs = WebhookRuns(hooks, service, scheduler, instance=instance)
    runs.start()
    return runs


def webhook_playbooks(playbooks: Mapping[str, Playbook]) -> list[Playbook]:
    """The playbooks that run on webhooks, in file order."""
    return [pb for pb in playbooks.values() if WEBHOOK in pb.triggers]
