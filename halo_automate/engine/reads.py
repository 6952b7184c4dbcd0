"""How a run reads its tickets: in full, or only those updated since its last read (issue 15).

:class:`TicketReads` is the runner's reader. For each run it asks the policy
(:func:`~halo_automate.core.incremental.decide`) whether the run may read incrementally,
reads, and after the run moves the playbook's watermark (:meth:`TicketReads.settle`):

* **Incremental read.** The playbook's filters plus the last-update date filter, in the form
  this Halo is known to honour (:data:`~halo_automate.core.incremental.LAST_UPDATE_FORMS`,
  tried in order until one is verified, then remembered for the process). Each answer is
  verified (:mod:`halo_automate.halo.incremental`); a form a row disproves (or a 400) is not
  tried again, logged once; when none is left, every scheduled run reads in full, logged once
  (``incremental_unavailable``). A run whose answer cannot be trusted reads in full, so it
  never misses a ticket.
* **Watermark.** Only a scheduled run that read successfully and ended well (succeeded, or
  previewed in shadow mode) moves the watermark, to the moment its read *began* (a ticket
  updated while it read is read again next time); a failed, refused or partial run leaves it,
  so its window is read again. ``reads.skew_seconds`` more is re-read for clock skew.
* **Streamed.** A full read that no shared-read cache keeps is handed to the planner page by
  page as it arrives (:class:`Streamed`): planning overlaps the page reads and the rows are
  not all held at once; the ``tickets_read`` line is logged when the last row was planned.
* **expect.min** does not apply to an incremental run: it matches only the tickets that
  changed, so matching few says nothing about the filter (``expect.max`` still does).
* **Shared reads.** The daemon may set :attr:`TicketReads.cache`
  (:class:`ReadCache`, :mod:`halo_automate.service.shared_reads`): a read another playbook of
  the same instance made for the same moment with the same filters, covering this run's
  window, is used instead of reading again. After a run wrote, the cache is told which
  tickets it changed (they are re-read before another playbook plans them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from halo_automate.config.reads import ReadsSettings
from halo_automate.core.incremental import (
    LAST_UPDATE_FORMS,
    ReadDecision,
    Watermark,
    decide,
    parse_sweep,
    query_key,
)
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.plan import Plan
from halo_automate.core.playbook import Playbook
from halo_automate.halo.client import HaloClient
from halo_automate.halo.incremental import read_updated
from halo_automate.store.journal import Journal

log = structlog.get_logger("halo_automate.engine.reads")

Rows = list[dict[str, Any]]
SETTLED = frozenset({RunStatus.SUCCEEDED, RunStatus.PREVIEWED})
"""Run endings after which the watermark moves."""
WROTE = frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.INTERRUPTED})


class ReadCache(Protocol):
    """Reads shared between the runs of one moment (implemented by the service)."""

    def get(
        self, instance: str, query: dict[str, str], since: datetime | None
    ) -> tuple[Rows, datetime] | None:
        """Rows covering ``query`` updated since ``since`` (None: all) and when their read
        began, or None."""

    def put(
        self,
        instance: str,
        query: dict[str, str],
        since: datetime | None,
        rows: Rows,
        began: datetime,
    ) -> None:
        """Offer a read (begun at ``began``) to the other runs of this moment."""

    def wrote(self, instance: str, ticket_ids: Iterable[int]) -> None:
        """A run changed these tickets: re-read them before another run plans them."""


class Streamed:
    """A full read's rows, iterated once, as they arrive: counted, not kept. ``done`` is
    called with the count once the last row was handed out."""

    def __init__(self, rows: Iterator[dict[str, Any]], done: Callable[[int], None]) -> None:
        self._rows = rows
        self._done = done
        self.count = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self._rows:
            self.count += 1
            yield row
        self._done(self.count)

    def __len__(self) -> int:
        """Rows handed out so far (all of them once the read was planned)."""
        return self.count


@dataclass(frozen=True)
class Read:
    """One run's read: its rows, how it was made, and when it began."""

    rows: Rows | Streamed
    decision: ReadDecision
    began: datetime
    query: dict[str, str]
    scheduled: bool
    incremental: bool  # the rows are only the updated tickets (the decision held)
    shared: bool = False  # taken from another run's read of the same moment


@dataclass
class _Pending:
    playbook: Playbook
    read: Read
    plan: Plan


class TicketReads:
    """The runner's ticket reader (see the module docstring)."""

    def __init__(
        self, client: HaloClient, journal: Journal, settings: ReadsSettings | None = None
    ) -> None:
        self.client = client
        self.journal = journal
        self.settings = settings or ReadsSettings()
        self.cache: ReadCache | None = None
        self._forms: dict[str, list[int]] = {}  # identity -> candidate form indexes left
        self._logged: set[tuple[str, str]] = set()
        self._pending: dict[str, _Pending] = {}
        self._scoped: dict[str, Plan] = {}  # webhook runs' plans, by run id

    # ------------------------------------------------------------------ reading

    def read(
        self, playbook: Playbook, query: dict[str, str], *, now: datetime, scheduled: bool
    ) -> Read:
        """The tickets this run plans over (see the module docstring)."""
        instance = self.client.instance_name
        mark = self.journal.watermark(playbook.name, instance) if scheduled else None
        decision = self.decide(playbook, query, mark, now=now, scheduled=scheduled)
        since = decision.since
        cached = self.cache.get(instance, query, since) if self.cache and scheduled else None
        if cached is not None:  # its watermark is when the shared read began, not now
            rows, began = cached
            log.info("tickets_read", read="shared", reason=decision.reason, tickets=len(rows),
                     instance=instance)  # fmt: skip
            return Read(rows, decision, began, query, scheduled, since is not None, shared=True)
        updated = self._updated(playbook, query, decision) if since is not None else None
        incremental = updated is not None
        say = log.info if scheduled else log.debug  # a manual run's output stays its own

        def said(count: int) -> None:
            say(
                "tickets_read", read="incremental" if incremental else "full",
                reason=decision.reason if incremental or since is None else "fallback",
                tickets=count, instance=instance,
            )  # fmt: skip

        sharing = self.cache is not None and scheduled
        if updated is None and not sharing:  # planned as the pages arrive
            streamed = Streamed(self.client.iter_tickets(query), said)
            return Read(streamed, decision, now, query, scheduled, incremental)
        rows = updated if updated is not None else list(self.client.iter_tickets(query))
        if sharing:
            assert self.cache is not None
            self.cache.put(instance, query, since if incremental else None, rows, now)
        said(len(rows))
        return Read(rows, decision, now, query, scheduled, incremental)

    def decide(
        self,
        playbook: Playbook,
        query: dict[str, str],
        mark: Watermark | None,
        *,
        now: datetime,
        scheduled: bool,
    ) -> ReadDecision:
        sweep = parse_sweep(playbook.full_sweep or self.settings.full_sweep)
        if scheduled and playbook.lifecycle:  # its steps fall due as time passes
            return ReadDecision(None, "lifecycle steps (time-dependent)")
        if scheduled and playbook.group is not None:  # a new alert's survivor may be old
            return ReadDecision(None, "duplicate groups (a survivor need not have changed)")
        if scheduled and self._forms.get(self.client.settings.identity) == []:
            return ReadDecision(None, "Halo honours no last-update filter form")
        return decide(
            scheduled=scheduled,
            enabled=self.settings.incremental,
            watermark=mark,
            playbook_hash=playbook.source_hash,
            query=query_key(query),
            where=playbook.where,
            sweep=sweep,
            skew=timedelta(seconds=self.settings.skew_seconds),
            now=now,
        )

    def _updated(
        self, playbook: Playbook, query: dict[str, str], decision: ReadDecision
    ) -> Rows | None:
        """The rows updated since the decision's ``since``, or None: read in full."""
        assert decision.since is not None
        identity = self.client.settings.identity
        forms = self._forms.setdefault(identity, list(range(len(LAST_UPDATE_FORMS))))
        while forms:
            name, form = LAST_UPDATE_FORMS[forms[0]]
            got = read_updated(self.client, query, decision.since, form, decision.whole)
            if got.rows is not None:
                self._once("incremental_form", name, log.info, form=name, instance=identity)
                return got.rows
            if not got.proof:  # only the count: maybe everything changed; read in full
                self._once("incremental_not_narrowed", name, log.info, form=name,
                           playbook=playbook.name, problem=got.problem)  # fmt: skip
                return None
            self._once("incremental_form_ignored", name, log.warning, form=name,
                       instance=identity, problem=got.problem)  # fmt: skip
            forms.pop(0)
        self._once("incremental_unavailable", identity, log.warning, instance=identity,
                   note="Halo honours no last-update filter form: scheduled runs read every "
                   "ticket (see `halo-automate doctor`)")  # fmt: skip
        return None

    def _once(self, event: str, key: str, say: Callable[..., Any], **fields: Any) -> None:
        if (event, key) not in self._logged:
            self._logged.add((event, key))
            say(event, **fields)

    # ------------------------------------------------------------------ after the plan

    def planned(self, playbook: Playbook, read: Read, plan: Plan) -> Plan:
        """Remember the read until the run ends; an incremental plan drops ``expect.min``."""
        if read.incremental and plan.expect_min is not None:
            plan = dataclasses.replace(plan, expect_min=None)
        if read.scheduled:
            self._pending[plan.run_id] = _Pending(playbook, read, plan)
        return plan

    def scoped(self, plan: Plan) -> Plan:
        """A webhook run's plan (:mod:`halo_automate.engine.scope`): it moves no watermark,
        but what it writes is re-read before a run of the daemon's moment plans from a shared
        read (:meth:`settle`)."""
        if self.cache is not None:
            self._scoped[plan.run_id] = plan
        return plan

    def settle(self, outcome: RunOutcome) -> RunOutcome:
        """The run ended: tell the cache what it wrote; move the watermark if it ended well."""
        scoped = self._scoped.pop(outcome.run_id, None)
        if scoped is not None and self.cache is not None and outcome.status in WROTE:
            self.cache.wrote(self.client.instance_name, [c.ticket_id for c in scoped.changes])
        pending = self._pending.pop(outcome.run_id, None)
        if pending is None:
            return outcome
        instance = self.client.instance_name
        if self.cache is not None and outcome.status in WROTE:
            self.cache.wrote(instance, [c.ticket_id for c in pending.plan.changes])
        if outcome.status in SETTLED:
            self._save(pending, instance)
        return outcome

    def _save(self, pending: _Pending, instance: str) -> None:
        read, playbook = pending.read, pending.playbook
        old = self.journal.watermark(playbook.name, instance)
        full = not read.incremental or old is None
        self.journal.save_watermark(
            Watermark(
                playbook=playbook.name,
                instance=instance,
                read_at=read.began,
                full_at=read.began if full or old is None else old.full_at,
                playbook_hash=playbook.source_hash,
                query=query_key(read.query),
                full_count=len(read.rows) if full or old is None else old.full_count,
            )
        )
