"""The one piece of glue the CLI and the daemon share.

load → recover interrupted runs of the playbook → lookups (only those it needs) → fetch
(paged) → plan → [limits, confirm] → apply → one summary log line. Policy lives in plan and
apply; this module only sequences them.

Every ending is one :class:`~halo_automate.core.outcome.RunOutcome`, returned (never raised:
a Halo, journal, plan, limit or lock error is ``outcome.error``) and journaled once: by the
applier for a run that reached its writes, here for the others (previews, refusals, failures
while fetching or planning). Only a bug propagates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog

from halo_automate.config.reads import ReadsSettings
from halo_automate.core.approval import ApprovalPolicy, needs_approval
from halo_automate.core.instance_scope import check_allowed
from halo_automate.core.lookups import Lookups
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.plan import (
    Plan,
    check_limits,
    make_plan,
    needed_lookups,
    new_run_id,
    plan_to_json,
    reads_custom_fields,
)
from halo_automate.core.playbook import Playbook
from halo_automate.core.selection import build_query, names_lookups
from halo_automate.engine import approvals
from halo_automate.engine.apply import Applier, Guard, read_instance
from halo_automate.engine.custom_reads import with_custom_fields
from halo_automate.engine.heap import young_heap
from halo_automate.engine.lifecycle_facts import lifecycle_history
from halo_automate.engine.overlap import Beside, started
from halo_automate.engine.reads import TicketReads
from halo_automate.engine.recovery import recover_isolated
from halo_automate.engine.saved import check_instance, claim, playbook_of, rederiver
from halo_automate.engine.scope import TicketScope
from halo_automate.engine.tally import Meter
from halo_automate.errors import (
    HaloAutomateError,
    HaloError,
    InstanceMismatchError,
    JournalError,
    LockedError,
    PlanAppliedError,
    RefusedError,
    StoppedError,
)
from halo_automate.halo.client import HaloClient, stop_when
from halo_automate.logs import bound
from halo_automate.store.approvals import ApprovalRow
from halo_automate.store.history import same_halo
from halo_automate.store.journal import Counts, Journal, RunStart, who

log = structlog.get_logger("halo_automate.engine.runner")

Confirm = Callable[[Plan], bool]
Progress = Callable[[int, int], None]


class Runner:
    """Plans and applies playbooks with one client and one journal."""

    def __init__(
        self,
        client: HaloClient,
        journal: Journal,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        progress: Progress | None = None,
        started_by: str | None = None,
        reads: ReadsSettings | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.reads = TicketReads(client, journal, reads)  # full or incremental reads
        self.now = now
        self.progress = progress
        self.started_by = started_by or who()
        self._appliers: set[Applier] = set()
        self._stopping = False

    @property
    def instance(self) -> str:
        """The config's name of the Halo instance this runner talks to (bound on log lines)."""
        return self.client.instance_name

    def request_stop(self) -> None:
        """Let in-flight batches finish, start no new ones (SIGTERM)."""
        self._stopping = True
        for applier in list(self._appliers):
            applier.request_stop()

    @contextmanager
    def _tracking(self, applier: Applier) -> Iterator[Applier]:
        """Register an applier so :meth:`request_stop` reaches it while it runs."""
        self._appliers.add(applier)
        if self._stopping:
            applier.request_stop()
        try:
            yield applier
        finally:
            self._appliers.discard(applier)

    # ------------------------------------------------------------------ planning

    def lookups_for(self, playbook: Playbook) -> Lookups:
        return self.client.lookups(sorted(needed_lookups(playbook)))

    def plan(
        self,
        playbook: Playbook,
        *,
        run_id: str | None = None,
        scheduled: bool = False,
        scope: TicketScope | None = None,
    ) -> Plan:
        """Fetch (a scheduled run: maybe incrementally, :mod:`.reads`; a webhook run: only
        ``scope``'s tickets, :mod:`.scope`, unless the playbook groups duplicates: then its
        whole select, narrowed to the named tickets' groups) and plan; writes nothing. A
        playbook whose ``instances:`` does not allow this client's instance is a ConfigError
        before any request."""
        check_allowed(playbook, self.client.instance_name)
        now = self.now()
        beside = None  # a select naming nothing: the lookups are read beside the first page
        if names_lookups(playbook.select):
            lookups = self.lookups_for(playbook)
        else:
            beside, lookups = Beside(partial(self.lookups_for, playbook)), Lookups()
        read = None
        try:
            query = build_query(playbook.select, lookups)
            if scope is None or playbook.group is not None:  # a group: the whole select
                read = self.reads.read(playbook, query, now=now, scheduled=scheduled)
                tickets: Iterable[dict[str, Any]] = started(read.rows) if beside else read.rows
            else:  # a webhook run: the named tickets, re-read
                query = scope.query(query)
                tickets = list(scope.tickets(query))
        finally:  # the lookups' error first, as when they were read first
            lookups = beside.result() if beside is not None else lookups
        if reads_custom_fields(playbook):  # list rows lack them: a read per ticket
            tickets = with_custom_fields(self.client, tickets)
        history = None
        if playbook.lifecycle:  # which steps each ticket had: journal + its actions
            tickets, history = lifecycle_history(self.client, self.journal, playbook, tickets)
        plan = make_plan(
            playbook,
            tickets,
            lookups,
            now=now,
            run_id=run_id or new_run_id(now),
            query=query,
            instance=self.client.instance_name,
            instance_identity=self.client.settings.identity,
            history=history,
        )
        if scope is not None:  # a webhook run: no watermark, what it writes is re-read
            return self.reads.scoped(scope.narrow(plan))
        assert read is not None
        return self.reads.planned(playbook, read, plan)

    # ------------------------------------------------------------------ running

    def run(
        self,
        playbook: Playbook,
        *,
        trigger: str,
        confirm: Confirm | None,
        preview_only: bool = False,
        scope: TicketScope | None = None,
    ) -> RunOutcome:
        """Plan ``playbook`` and apply it unless it is a preview; journal the run either way.

        ``confirm`` is asked before writing (``None`` = no prompt, as on a schedule); a
        ``False`` answer ends the run refused (``outcome.error`` a RefusedError). ``scope``:
        plan only those tickets (:mod:`halo_automate.engine.scope`, a webhook run).
        """
        start = _Start(new_run_id(self.now()), trigger, Meter.start(self.client))
        preview = preview_only or playbook.mode == "preview"
        with (
            bound(run_id=start.run_id, playbook=playbook.name, instance=self.instance),
            young_heap(),  # full collections skip what was alive before (engine.heap)
        ):
            try:
                self.recover(playbook.name)
                held = None if preview else self._open_plan(playbook)
                if held is not None:  # issue 16: one plan open per playbook and instance
                    start = dataclasses.replace(start, run_id=held.run_id)
                    waits = RunStatus.AWAITING_APPROVAL
                    note = approvals.blocked_message(held)
                    return self._end(start, _Run.of_playbook(playbook), waits, note=note)
                with stop_when(lambda: self._stopping):  # a stop ends a run that only reads
                    plan = self.plan(
                        playbook, run_id=start.run_id, scheduled=trigger == "schedule",
                        scope=scope,
                    )  # fmt: skip
            except HaloAutomateError as e:
                return self._end(start, _Run.of_playbook(playbook), _ended_by(e), error=e)
            if preview:
                outcome = self._end(start, _Run.of_plan(plan, "preview"), RunStatus.PREVIEWED)
            elif needs_approval(playbook.approval, len(plan.changes), plan.irreversible):
                outcome = self._hold(plan, start, playbook.approval)
            else:
                outcome = self._apply(plan, start, confirm, playbook)
            return self.reads.settle(outcome)

    def apply_saved(
        self,
        plan: Plan,
        *,
        confirm: Confirm | None,
        trigger: str | None = None,
        guard: Guard | None = None,
        playbook: Playbook | None = None,
        made_as: str | None = None,
    ) -> RunOutcome:
        """Execute a saved (or undo) plan: its run id, its changes, nothing more.

        Interrupted runs of the same playbook are recovered first. ``trigger`` defaults to
        "undo" for an undo plan and "apply-file" otherwise. A plan already applied is refused
        (and not journaled again: its run is); one made for another Halo is refused before
        any request. An apply plan's changes are re-derived from ``playbook`` (default: the
        one the plan carries) against the tickets as read now (:mod:`halo_automate.engine.saved`).
        ``guard``: the applier's (an undo's checks). ``made_as``: the run id the plan was
        made under when it is applied under another (an approved plan): its ``{run_id}`` texts.
        """
        trigger = trigger or ("undo" if plan.mode == "undo" else "apply-file")
        start = _Start(plan.run_id, trigger, Meter.start(self.client))
        with (
            bound(run_id=plan.run_id, playbook=plan.playbook, instance=self.instance),
            young_heap(),
        ):
            try:  # consumed only by a run that wrote; made for this Halo (engine/saved.py)
                claim(self.journal, plan, trigger)
                check_instance(plan, self.client)
                self.recover(plan.playbook)
                playbook = playbook_of(plan, playbook)
            except PlanAppliedError as again:  # its run is journaled: not again
                run = _Run.of_plan(plan)
                return self._end(start, run, RunStatus.FAILED, error=again, journaled=True)
            except HaloAutomateError as e:
                return self._end(start, _Run.of_plan(plan), _ended_by(e), error=e)
            return self._apply(plan, start, confirm, playbook, guard, made_as)

    def apply_approved(self, run_id: str, *, confirm: Confirm | None) -> RunOutcome:
        """Apply the approved plan held as run ``run_id`` exactly, once, through
        :meth:`apply_saved` (see :func:`halo_automate.engine.approvals.apply_approved`); a
        plan held on another instance than this runner's is refused before it is claimed."""
        return approvals.apply_approved(
            self.journal, run_id, self.apply_saved, confirm=confirm, now=self.now(),
            instance=self.instance,
        )  # fmt: skip

    def _open_plan(self, playbook: Playbook) -> ApprovalRow | None:
        return approvals.open_plan(self.journal, playbook.name, self.instance, self.now())

    def _hold(self, plan: Plan, start: _Start, policy: ApprovalPolicy | None) -> RunOutcome:
        """Journal a plan that needs approval ``awaiting_approval`` (within its limits)."""
        run = _Run.of_plan(plan)
        try:
            check_limits(plan)
        except RefusedError as e:
            return self._end(start, run, RunStatus.REFUSED, error=e)
        return self._end(start, run, RunStatus.AWAITING_APPROVAL, approval=policy)

    def _apply(
        self,
        plan: Plan,
        start: _Start,
        confirm: Confirm | None,
        playbook: Playbook | None,
        guard: Guard | None = None,
        made_as: str | None = None,
    ) -> RunOutcome:
        run = _Run.of_plan(plan)
        try:
            check_limits(plan)
            if plan.changes and confirm and not start.meter.excluding(partial(confirm, plan)):
                raise RefusedError(f"{plan.playbook}: not confirmed; nothing was written")
        except RefusedError as e:
            return self._end(start, run, RunStatus.REFUSED, error=e)
        if not plan.changes:
            return self._end(start, run, RunStatus.SUCCEEDED)
        applier = Applier(self.client, self.journal, progress=self.progress, guard=guard)
        try:  # after the prompt: each change re-derived from the playbook as tickets are now
            now = self.now()
            redo = (
                None
                if playbook is None
                else rederiver(self.client, self.journal, playbook, plan, now, made_as)
            )
            with self._tracking(applier):
                outcome = applier.apply(
                    plan, trigger=start.trigger, started_by=self.started_by, meter=start.meter,
                    rederive=redo,
                )  # fmt: skip
        except HaloAutomateError as e:  # a lock, or the journal failed: nothing written
            return self._end(start, run, _ended_by(e), error=e)
        log.info("run_summary", **outcome.summary())  # journaled by the applier
        return outcome

    # ------------------------------------------------------------------ the outcome

    def _end(
        self,
        start: _Start,
        run: _Run,
        status: RunStatus,
        *,
        error: HaloAutomateError | None = None,
        journaled: bool = False,
        note: str | None = None,
        approval: ApprovalPolicy | None = None,
    ) -> RunOutcome:
        """The outcome of a run that wrote nothing: journaled (unless it already is), logged.

        A run that talked to Halo (it sent requests) and was not ended by Halo or journal
        trouble reads the instance's facts once, counted in its requests, and journals them
        with it (FACTS §9.8). A run held for ``approval`` is journaled with its approvals
        row; a run that found its playbook's plan open (``note``) is not journaled."""
        plan = run.plan
        talked = start.meter.figures()["requests"] > 0
        journaled = journaled or note is not None
        quiet = journaled or isinstance(error, HaloError | JournalError | StoppedError)
        instance = read_instance(self.client) if talked and not quiet else None
        outcome = RunOutcome(
            run_id=start.run_id,
            playbook=run.playbook,
            mode=run.mode,
            status=status,
            trigger=start.trigger,
            scanned=plan.scanned if plan else 0,
            matched=plan.matched if plan else 0,
            planned=len(plan.changes) if plan else 0,
            changed=len(plan.changes) if plan and status == RunStatus.PREVIEWED else 0,
            **start.meter.figures(),
            message=note if error is None else str(error),
            error=error,
            locked=isinstance(error, LockedError),
        )
        if not journaled:
            outcome = self._journal(run, outcome, instance, approval)
        log.info("run_summary", **outcome.summary())
        return outcome

    def _journal(
        self, run: _Run, outcome: RunOutcome, instance: str | None, approval: ApprovalPolicy | None
    ) -> RunOutcome:
        """Journal a run that never reached the applier: recorded finished, in one go."""
        try:  # one transaction: a crash leaves no "running" row for recovery to finish
            record = RunStart(
                run_id=outcome.run_id, playbook=outcome.playbook, playbook_hash=run.hash,
                mode=outcome.mode, trigger=outcome.trigger, started_by=self.started_by,
                undo_of=run.plan.undo_of if run.plan else None,
                plan_json=plan_to_json(run.plan) if run.plan else None,
                counts=Counts.of(outcome), instance_name=self.client.instance_name,
                instance_identity=self.client.settings.identity,
            )  # fmt: skip
            if approval is not None:
                return approvals.hold(
                    self.journal, record, outcome, approval, self.now(), instance=instance
                )
            self.journal.record_run(record, outcome.status, outcome.message, instance=instance)
        except JournalError as e:
            if outcome.error is not None:  # the first error says what went wrong
                log.warning("run_not_journaled", error=str(e))
                return outcome
            return dataclasses.replace(outcome, status=RunStatus.FAILED, error=e, message=str(e))
        return outcome

    # ------------------------------------------------------------------ recovery

    def recover(self, playbook: str | None = None) -> list[RunOutcome]:
        """Reconcile runs interrupted mid-apply (pending rows) by reading the tickets back.

        Each run is recovered on its own: one that cannot be (a corrupt plan, a value the
        journal cannot store, a bug) is reported and journaled failed with the reason, and the
        others proceed (:func:`~halo_automate.engine.recovery.recover_isolated`)."""
        outcomes = []
        for run in self.journal.interrupted_runs(playbook):
            if not same_halo(run, self.client.settings.identity):
                continue  # another instance's run: its own Halo's runner recovers it
            applier = Applier(self.client, self.journal, progress=self.progress)
            bind = bound(run_id=run.run_id, playbook=run.playbook, instance=self.instance)
            with bind, self._tracking(applier):
                outcomes.append(recover_isolated(applier, run))
        return outcomes


def _ended_by(error: HaloAutomateError) -> RunStatus:
    """A run ended by ``error`` before writing: refused (a limit, a lock) or failed."""
    if isinstance(error, StoppedError):
        return RunStatus.INTERRUPTED
    refused = isinstance(error, RefusedError | LockedError | InstanceMismatchError)
    return RunStatus.REFUSED if refused else RunStatus.FAILED


@dataclass(frozen=True)
class _Start:
    """How a run began: its id, its trigger, and the meter of its requests and seconds."""

    run_id: str
    trigger: str
    meter: Meter


@dataclass(frozen=True)
class _Run:
    """What a run is of: a playbook (failed before planning) or a plan."""

    playbook: str
    hash: str
    mode: str
    plan: Plan | None = None

    @classmethod
    def of_playbook(cls, playbook: Playbook) -> _Run:
        return cls(playbook.name, playbook.source_hash, playbook.mode)

    @classmethod
    def of_plan(cls, plan: Plan, mode: str | None = None) -> _Run:
        return cls(plan.playbook, plan.playbook_hash, mode or plan.mode, plan)
