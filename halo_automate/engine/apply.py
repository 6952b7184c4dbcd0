"""Execute a Plan exactly: limits, lock, stale check, journaled batched writes.

Order of work for one run::

    limits ─▶ lock ─▶ the instance's writer lock (engine/writer.py: one writer per Halo)
          ─▶ [undo: its history checks, engine/undo_history.py]
          ─▶ read back planned tickets (ticketids pages) ─▶ skip stale ones (and, with a
          re-derivation, those its playbook would not change exactly so now); each read's
          live tickets go into the first phase's batches as soon as it is judged
          ─▶ ticket updates in batches (journal pending → POST → done/failed)
          ─▶ actions in batches (journal pending → POST → done/failed, action ids kept)
          ─▶ action removals (undo only; DELETE /api/Actions/{id}?ticket_id=)

:class:`Applier` is the engine's entry point: configuration (batch size, re-sends, progress)
and the stop flag, shared by the runs it executes. Each run's state lives in its own
:class:`~halo_automate.engine.batches.ApplyRun` (see that module for batches, settling and
the reconciliation of unknown outcomes, and :mod:`halo_automate.engine.writes` for bodies,
markers and read-back verdicts). :meth:`Applier.apply` runs a whole plan under its lock and
journals the run from start to finish, once; :meth:`Applier.begin` gives recovery the same
writing machinery for a run it resumes under a lock it took itself.

Every change is journaled as *pending* in one transaction per batch before the batch is sent,
then settled in one transaction, so a process killed at any point leaves rows that
:mod:`halo_automate.engine.recovery` reconciles by reading the tickets back. A field found at
a third value (someone else edited the ticket meanwhile) is skipped, never overwritten.

Stopping (:meth:`Applier.request_stop`, SIGTERM): no ticket is started after the in-flight
batch, but a ticket already started is finished (its remaining actions are sent), so no ticket
is left half-written; the run ends ``interrupted`` and the next run plans the rest afresh.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from functools import partial

import structlog

from halo_automate.core.instance import instance_record
from halo_automate.core.outcome import RunOutcome
from halo_automate.core.plan import Plan, check_limits, plan_to_json
from halo_automate.engine.batches import ApplyRun, Progress
from halo_automate.engine.overlap import Beside
from halo_automate.engine.recheck import Rederive
from halo_automate.engine.tally import Meter
from halo_automate.engine.undo_history import UndoGuard
from halo_automate.engine.writer import POLL_SECONDS, instance_key, instance_writer
from halo_automate.engine.writes import Todo
from halo_automate.errors import HaloAutomateError, HaloError, JournalError, LockLostError
from halo_automate.halo.client import HaloClient
from halo_automate.store.journal import Counts, Journal, Lock, RunStart

log = structlog.get_logger("halo_automate.engine.apply")

RESENDS = 2
"""How many times a write that provably did not land (after an unknown outcome) is re-sent."""
Guard = Callable[[ApplyRun, Sequence[Todo]], list[Todo]]
"""Asked right before the stale check, under the writer lock: the todos to check and write."""


class Applier:
    """Applies plans through one client and one journal."""

    def __init__(
        self,
        client: HaloClient,
        journal: Journal,
        *,
        batch_size: int | None = None,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
        resends: int = RESENDS,
        guard: Guard | None = None,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.client = client
        self.journal = journal
        self.batch_size = batch_size or client.settings.batch_size
        self.progress = progress
        self.clock = clock
        self.resends = resends
        self.guard = guard
        """Asked right before the stale check, under the writer lock (an undo's history
        checks: :class:`~halo_automate.engine.undo_history.UndoGuard`, the default for an
        undo plan): the todos to check and write."""
        self.poll = poll
        self.width = int(getattr(client.settings, "write_concurrency", 1))  # engine.pipeline
        self._stop_requested = False

    def request_stop(self) -> None:
        """Finish the in-flight batch and the tickets already started, then stop (SIGTERM)."""
        self._stop_requested = True

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    def begin(
        self, plan: Plan, lock: Lock, *, first_batch: int = 0, rederive: Rederive | None = None
    ) -> ApplyRun:
        """The writing state of one run of ``plan`` under ``lock`` (batches numbered from
        ``first_batch + 1``, so a resumed run continues its numbering); ``rederive`` makes
        its stale check re-derive each change from the playbook."""
        return ApplyRun(
            self.client, self.journal, plan, lock,
            batch_size=self.batch_size, resends=self.resends, stopping=lambda: self.stopping,
            progress=self.progress, first_batch=first_batch, rederive=rederive,
            width=self.width,
        )  # fmt: skip

    def apply(
        self,
        plan: Plan,
        *,
        trigger: str,
        started_by: str,
        meter: Meter | None = None,
        rederive: Rederive | None = None,
    ) -> RunOutcome:
        """Apply ``plan`` and journal the run, once, when it ends; returns its outcome.

        Raises RefusedError (limits) or LockedError (another run holds the playbook) before
        anything is journaled or written. An error once the run has started (Halo, the
        journal) ends it ``failed`` with ``outcome.error`` set; a run whose lock was taken
        over (LockLostError) journals nothing further, its new holder recovers it. ``meter`` was
        started when the run began (its fetch and lookups are part of it); by default, now.
        Once the run is journaled, the Halo instance's facts are read (FACTS §9.8), beside its
        stale check and writes, and kept with it when it finishes. ``rederive`` (``run``,
        ``apply``): the stale check writes a ticket only when its playbook would still make
        exactly the planned change.
        """
        check_limits(plan)
        meter = meter or Meter.start(self.client, self.clock)
        lock = self.journal.acquire_lock(plan.playbook, plan.run_id)
        outcome: RunOutcome | None = None
        try:
            outcome = self._run(plan, lock, trigger, started_by, meter, rederive)
        finally:
            if outcome is not None and outcome.error is None:
                lock.release()
            else:  # already failing: a failed release must not replace the first error
                with contextlib.suppress(JournalError):
                    lock.release()
        return outcome

    def _run(
        self,
        plan: Plan,
        lock: Lock,
        trigger: str,
        started_by: str,
        meter: Meter,
        rederive: Rederive | None = None,
    ) -> RunOutcome:
        self.journal.start_run(
            RunStart(
                run_id=plan.run_id, playbook=plan.playbook, playbook_hash=plan.playbook_hash,
                mode=plan.mode, undo_of=plan.undo_of, started_by=started_by, trigger=trigger,
                counts=Counts(plan.scanned, plan.matched, len(plan.changes)),
                plan_json=plan_to_json(plan), instance_name=plan.instance,
                instance_identity=plan.instance_identity or None,
            )
        )  # fmt: skip
        facts = Beside(partial(read_instance, self.client))  # read beside the stale check
        run = self.begin(plan, lock, rederive=rederive)
        error: HaloAutomateError | None = None
        guard = self.guard or (UndoGuard(plan.undo_of) if plan.undo_of else None)
        try:  # one writer per instance: the check and the writes under its writer lock
            key = instance_key(self.client, plan)
            with instance_writer(
                self.journal, key, lock, stopping=lambda: self.stopping, poll=self.poll
            ) as held:
                todos = [Todo.whole(c) for c in plan.changes]
                if held is None:  # stopped while another run was writing: nothing written
                    run.tally.unreached = len(todos)
                else:
                    run = self.begin(plan, held, rederive=rederive)
                    run.check_and_write(guard(run, todos) if guard else todos)
        except HaloAutomateError as e:
            error = e
        finally:
            facts.join()  # no request of the run outlives it, however it ends
        instance = facts.result()
        outcome = run.outcome(meter, trigger=trigger, error=error)
        if isinstance(error, LockLostError):  # the new holder recovers this run: hands off
            log.warning("lock_lost", run_id=plan.run_id, error=str(error))
            return outcome
        self._finish(outcome, instance)
        return outcome

    def _finish(self, outcome: RunOutcome, instance: str | None = None) -> None:
        try:
            self.journal.finish_run(
                outcome.run_id, outcome.status, counts=Counts.of(outcome),
                message=outcome.message, instance=instance,
            )  # fmt: skip
        except JournalError:
            if outcome.error is None:
                raise
            # Already failing (often for the same reason, a full or read-only disk): the first
            # error says what went wrong; the row stays "running" and recovery finishes it.
            log.warning("run_not_finished_in_journal", run_id=outcome.run_id)
        log.info("apply_finished", status=outcome.status, done=outcome.changed,
                 failed=outcome.failed, skipped=outcome.skipped,
                 requests=outcome.requests)  # fmt: skip


def read_instance(client: HaloClient) -> str | None:
    """The Halo instance's facts for the journal (:mod:`halo_automate.core.instance`), read
    once per run that talks to Halo (here for a run that writes; by the runner for the
    others): a 403 is recorded as not readable; any other failure leaves them unrecorded and
    never fails the run (the run's own requests will meet the same trouble and say more)."""
    try:
        return instance_record(client.instance_info())
    except HaloError as e:
        log.warning("instance_info_unread", error=str(e))
        return None
