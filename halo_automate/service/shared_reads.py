"""Shared reads: playbooks of one instance due at the same moment read their tickets once.

The daemon runs one playbook at a time. When several are due together (two at the top of the
hour, or ``--once``), each used to read the same open tickets one after the other.
:class:`SharedReads` is the runner's :class:`~halo_automate.engine.reads.ReadCache` for the
daemon: a read one run made is used by the next run of the same *moment* that asks for the
same filters (the identical query, so every planner still re-checks its own ``select`` and
``where``) over a window the read covers (a full read covers any window; an updated-since read
covers a later ``since``). Each run still plans, limits, locks and journals on its own.

* **A moment** is a job's scheduled fire time (APScheduler's ``EVENT_JOB_SUBMITTED`` carries
  it; ``--once`` gives all its runs one), and runs whose moments lie within
  :data:`MOMENT_TOLERANCE` of each other share, as long as no playbook runs twice: a second
  run of the same playbook (an ``every 5s`` job) starts a new moment. A read made for an
  earlier moment is dropped, never reused: the next moment reads afresh.
* **Writes in between.** A run that wrote tells the cache which tickets it changed
  (:meth:`SharedReads.wrote`); before another run is given the rows, those tickets are
  re-read with its filters (``ticketids``, 100 a request), so it plans over their current
  state and drops the ones that no longer match (a ticket one playbook closed is not
  recategorised by the next from a stale open row).
* **Watermarks** of a shared read are the moment the read began (the runner's
  :class:`~halo_automate.engine.reads.Read`), so a ticket changed after it is read next time.

Only identical queries are merged; a covering query with per-playbook re-checks would read
more rows than either playbook needs whenever their filters differ (docs/incremental.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.base import BaseScheduler

from halo_automate.core.incremental import query_key
from halo_automate.halo.client import MAX_PAGE_SIZE, HaloClient
from halo_automate.service.budget import RequestRate

log = structlog.get_logger("halo_automate.service.shared_reads")

MOMENT_TOLERANCE = timedelta(seconds=60)
"""Runs due within this of each other belong to one moment."""

Rows = list[dict[str, Any]]


@dataclass
class _Entry:
    moment: datetime
    instance: str
    query: dict[str, str]
    since: datetime | None  # None: a full read
    rows: Rows
    began: datetime
    dirty: set[int] = field(default_factory=set)

    def covers(self, since: datetime | None) -> bool:
        return self.since is None or (since is not None and self.since <= since)


class SharedReads:
    """The daemon's read cache (see the module docstring)."""

    def __init__(
        self, clients: HaloClient | Mapping[str, HaloClient], clock: Callable[[], datetime]
    ) -> None:
        if isinstance(clients, Mapping):
            self.clients = dict(clients)
        else:  # one client: the instance it talks to
            self.clients = {getattr(clients, "instance_name", "default"): clients}
        self.clock = clock
        self.reused = 0  # reads given to a run instead of reading again
        self._lock = threading.Lock()
        self._due: dict[str, datetime] = {}
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._moment: datetime | None = None
        self._held: datetime | None = None
        self._ran: set[str] = set()  # the playbooks that began in the current moment

    @classmethod
    def for_runners(
        cls, runners: Mapping[str, Any], clock: Callable[[], datetime], scheduler: BaseScheduler
    ) -> SharedReads:
        """The daemon's cache: each served instance's runner reads through it (reads are
        shared within an instance only), the scheduler tells it each job's moment. (A runner
        without a reader, as the daemon's tests fake, simply never asks.)"""
        clients = {}
        for name, runner in runners.items():
            client = getattr(runner, "client", None)
            if client is not None:
                clients[getattr(client, "instance_name", name)] = client
        shared = cls(clients, clock)
        for runner in runners.values():
            reads = getattr(runner, "reads", None)
            if reads is not None:
                reads.cache = shared
        scheduler.add_listener(shared._submitted, EVENT_JOB_SUBMITTED)
        return shared

    @classmethod
    def with_rate(
        cls, served: Any, clock: Callable[[], datetime], scheduler: BaseScheduler, settings: Any
    ) -> tuple[SharedReads, RequestRate]:
        """The daemon's read cache over its served runners, and its request-rate meter
        (``/metrics``: :class:`~halo_automate.service.budget.RequestRate`)."""
        shared = cls.for_runners(served.runners, clock, scheduler)
        return shared, RequestRate(clock, settings.halo.rate_limit)

    def hold(self, moment: datetime | None) -> None:
        """Give every run from now on this moment (``--once``: all its runs are one moment);
        None lets each run's job say again."""
        with self._lock:
            self._held = moment

    def _submitted(self, event: JobSubmissionEvent) -> None:
        times = getattr(event, "scheduled_run_times", None) or []
        if times:
            with self._lock:
                self._due[str(event.job_id)] = max(times)

    def begin(self, name: str, moment: datetime | None = None) -> None:
        """A run of job ``name`` (a playbook on an instance: the job's key) starts: its
        moment is ``moment``, else the time its job was due, else now. A moment further than
        the tolerance from the current one, or a second run of a job that already ran in it,
        starts a new moment: the reads of the old one are dropped."""
        with self._lock:
            due = moment or self._held or self._due.pop(name, None) or self.clock()
            current = self._moment
            if current is None or name in self._ran or abs(due - current) > MOMENT_TOLERANCE:
                self._moment, self._ran, self._entries = due, set(), {}
            self._ran.add(name)

    # ------------------------------------------------------------------ ReadCache

    def get(
        self, instance: str, query: dict[str, str], since: datetime | None
    ) -> tuple[Rows, datetime] | None:
        with self._lock:
            entry = self._entries.get((instance, query_key(query)))
            if entry is None or self._moment is None or not entry.covers(since):
                return None
            dirty = sorted(entry.dirty)
        if dirty:  # an error here leaves them dirty (and the run fails as any read would)
            self._refresh(self.clients[entry.instance], entry, dirty)
            with self._lock:
                entry.dirty -= set(dirty)
        self.reused += 1
        return list(entry.rows), entry.began

    def put(
        self,
        instance: str,
        query: dict[str, str],
        since: datetime | None,
        rows: Rows,
        began: datetime,
    ) -> None:
        with self._lock:
            if self._moment is None:
                return
            key = (instance, query_key(query))
            old = self._entries.get(key)
            if old is None or not old.covers(since):
                self._entries[key] = _Entry(self._moment, instance, dict(query), since,
                                            list(rows), began)  # fmt: skip

    def wrote(self, instance: str, ticket_ids: Iterable[int]) -> None:
        ids = set(ticket_ids)
        with self._lock:
            for entry in self._entries.values():
                if entry.instance == instance:
                    entry.dirty |= ids

    def _refresh(self, client: HaloClient, entry: _Entry, ids: list[int]) -> None:
        """Re-read the tickets another run changed, with the entry's filters; drop the ones
        that no longer match, add the ones that now do."""
        fresh: dict[int, dict[str, Any]] = {}
        for i in range(0, len(ids), MAX_PAGE_SIZE):
            chunk = ",".join(str(t) for t in ids[i : i + MAX_PAGE_SIZE])
            for row in client.iter_tickets({**entry.query, "ticketids": chunk}):
                fresh[row["id"]] = row
        changed = set(ids)
        kept = [r for r in entry.rows if r.get("id") not in changed]
        entry.rows = sorted([*kept, *fresh.values()], key=lambda r: int(r["id"]))
        log.debug("shared_read_refreshed", tickets=len(ids), still_matching=len(fresh))
