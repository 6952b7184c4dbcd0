"""One run's writes: journaled batches, settled answers, reconciled unknown outcomes.

An :class:`ApplyRun` holds everything that belongs to one run while it writes (the plan, its
lock, its report, the tickets started, failed or skipped, the batch counter), so nothing
carries over from one run to the next. Its public surface is what a run and a recovery both
need: :meth:`ApplyRun.check_and_write` (the stale check, its live tickets' first batches
formed as each read is judged, then the later phases), and :meth:`ApplyRun.resend` (writes
rebuilt from pending journal rows); :meth:`ApplyRun.check` and :meth:`ApplyRun.write` apart.

Every batch is journaled *pending* in one transaction before it is sent, and settled in one
transaction after. Fencing: right before every request goes on the wire (after any wait for
the rate limit or a back-off) the lock is re-validated, its heartbeat written when due
(:meth:`~halo_automate.store.locks.Lock.heartbeat`, :mod:`~halo_automate.store.playbook_locks`;
run by the client's pre-send hook :func:`~halo_automate.halo.client.before_each_send`); a
run whose lock was taken over gets :class:`~halo_automate.errors.LockLostError` and sends
nothing more, its pending rows left to the new holder's recovery.

A write whose outcome is unknown (a 500, a timeout) is read back: what
landed is settled, what someone else changed is skipped, what provably did not land is re-sent
at most ``resends`` times. A batch of several that Halo refused with a 400 may have been
partly applied (FACTS §3.1, §9.5): it is read back first (notes found by their run marker),
what landed is settled, and only what provably did not land is re-sent, in halves, until the
bad element is alone and fails with Halo's message. No element is ever sent twice without a
read-back in between. A ticket whose update failed gets none of its actions.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import structlog

from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.plan import Plan, RemoveAction, TicketChange
from halo_automate.engine.duplicates import Planned, posted_elsewhere
from halo_automate.engine.pipeline import Gate, overlapped
from halo_automate.engine.readback import read_back
from halo_automate.engine.recheck import Rederive, read_current
from halo_automate.engine.rows import Write, done_marks, field_rows, skip_rows
from halo_automate.engine.tally import Meter, Tally
from halo_automate.engine.writes import (
    Todo,
    action_body,
    carried_fields,
    carrier_index,
    stale_reason,
    ticket_body,
)
from halo_automate.errors import (
    HaloAutomateError,
    HaloError,
    HaloNotFoundError,
    LockedError,
    WriteOutcomeUnknown,
)
from halo_automate.halo.client import HaloClient, WriteResult, before_each_send
from halo_automate.store.journal import ChangeKind, ChangeMark, Journal, Lock, NewChange

log = structlog.get_logger("halo_automate.engine.apply")

Progress = Callable[[int, int], None]
Post = Callable[[Sequence[Mapping[str, Any]]], list[WriteResult]]


class ApplyRun:
    """The writing state of one run (create with :meth:`Applier.begin`)."""

    def __init__(
        self,
        client: HaloClient,
        journal: Journal,
        plan: Plan,
        lock: Lock,
        *,
        batch_size: int,
        resends: int,
        stopping: Callable[[], bool],
        progress: Progress | None = None,
        first_batch: int = 0,
        rederive: Rederive | None = None,
        width: int = 1,
    ) -> None:
        self.client, self.journal, self.plan, self.lock = client, journal, plan, lock
        self._rederive = rederive
        self._width, self._gate = width, Gate()  # engine.pipeline: batches in flight; gate
        self.tally = Tally()
        self._batch_size, self._resends, self._stopping = batch_size, resends, stopping
        self._progress = progress
        self._batch = first_batch
        self._failed: set[int] = set()
        self._skipped: set[int] = set()
        self._started: set[int] = set()
        self._sent = self._total = 0
        self._seen: dict[int, object] = {}  # lastactiondate per ticket, at the stale check
        self._checked_ids: set[int] = set()  # tickets the stale check judged

    # ------------------------------------------------------------------ public

    def check(self, todos: Sequence[Todo]) -> list[Todo]:
        """Read the tickets back (ticketids pages); journal and report the stale ones. With
        a re-derivation (``run``, ``apply``), a ticket is written only when its playbook
        would still make exactly the planned change, and then with the re-derived change
        (:mod:`halo_automate.core.rederive`)."""
        return list(self._checked(todos))

    def check_and_write(self, todos: Sequence[Todo]) -> None:
        """:meth:`check`, then :meth:`write`, overlapped: the first phase's batches are made
        of each stale-check read's live todos as soon as that read was judged, while the later
        reads are still in flight (all under the client's width); the later phases follow."""
        self.write(self._checked(todos), planned=todos)

    def _checked(self, todos: Sequence[Todo]) -> Iterator[Todo]:
        """The live todos, a read's as soon as it is judged (its skips journaled then, in one
        transaction: never pending, never sent). After a stop, nothing more is read."""
        left = iter(todos)  # each read's todos judged as it arrives (engine.recheck)
        for count, current in read_current(self.client, [t.change for t in todos], self._rederive):
            live, rows = list[Todo](), list[tuple[NewChange, str]]()
            for todo in itertools.islice(left, count):
                change, names = todo.change, todo.checked_fields()
                self._checked_ids.add(change.ticket_id)
                reason = stale_reason(change, current.get(change.ticket_id), names)
                if reason is None and self._rederive is not None:
                    derived = self._rederive(change, current[change.ticket_id])
                    if isinstance(derived, str):
                        reason = derived
                    else:
                        todo = Todo.whole(derived)
                if reason is None:
                    live.append(todo)
                    self._seen[change.ticket_id] = current[change.ticket_id].get("lastactiondate")
                    continue
                rows += [(row, reason) for row in skip_rows(change, names)]
                self.tally.skipped += 1
                self.tally.skips.append((change.ticket_id, reason))
                log.info("ticket_skipped", ticket_id=change.ticket_id, reason=reason)
            if rows:
                self.journal.add_skipped(self.plan.run_id, rows)
            yield from live
            if self._stopping():
                return

    def write(self, todos: Iterable[Todo], *, planned: Sequence[Todo] | None = None) -> None:
        """Write the todos' parts: updates, then actions, then removals, batch by batch (the
        batches of each phase ``width`` at a time: :mod:`halo_automate.engine.pipeline`).
        ``todos`` may be a stream (:meth:`check_and_write`): the first phase takes each todo
        as it comes; ``planned`` (every todo it may yield) says which phases there are."""
        streamed = planned is not None
        planned = planned if planned is not None else list(todos)
        stream, seen = iter(todos if streamed else planned), list[Todo]()
        self._sent, self._total = 0, sum(t.parts for t in planned)
        # Updates, then every ticket's first action, then every second one..., each a phase of
        # its own: with batches in flight together, a phase barrier is what keeps a ticket's
        # note before its close, and a ticket whose note failed from being closed.
        phases = ([-1] if any(t.update for t in planned) else []) + sorted(
            {i for t in planned for i in t.actions}
        )
        try:
            for n, at in enumerate(phases):
                source = _kept(stream, seen) if n == 0 else iter(seen)
                here = ((t.change, at) for t in source if (t.update if at < 0 else at in t.actions))
                post = self.client.write_tickets if at < 0 else self.client.write_actions
                self._phase(here, post, dedupe=at >= 0)
            seen += stream  # no phase: still checked
        finally:
            getattr(stream, "close", lambda: None)()  # a stream: its reads in flight end
        self._removals([(t.change, r) for t in seen for r in t.removals])
        if streamed:  # stopped before the check read them
            self.tally.unreached += sum(
                t.change.ticket_id not in self._checked_ids for t in planned
            )
        for todo in seen:
            tid = todo.change.ticket_id
            if tid in self._failed:
                self.tally.failed += 1
            elif tid in self._skipped:
                self.tally.skipped += 1
            elif tid in self._started or not todo.parts:
                self.tally.done += 1
            else:
                self.tally.unreached += 1
        if self._progress and self._total:
            self._progress(self._total, self._total)

    def resend(self, tickets: list[Write], actions: list[Write], deletes: list[Write]) -> None:
        """Send writes rebuilt from pending journal rows (their ``row_ids`` set), settle them,
        and reconcile unknown outcomes; deletes are read back first (they were pending)."""
        self._send(tickets, self.client.write_tickets)
        self._send(actions, self.client.write_actions)
        if deletes:
            self._reconcile(deletes, None)

    def outcome(
        self, meter: Meter, *, trigger: str, error: HaloAutomateError | None = None
    ) -> RunOutcome:
        """The run's outcome: ``failed`` with ``error``, else from the tally."""
        plan, tally = self.plan, self.tally
        status = RunStatus.FAILED if error is not None else tally.status(self._stopping())
        return RunOutcome(
            run_id=plan.run_id, playbook=plan.playbook, mode=plan.mode, status=status,
            trigger=trigger, scanned=plan.scanned, matched=plan.matched,
            planned=len(plan.changes), changed=tally.done, skipped=tally.skipped,
            failed=tally.failed, **meter.figures(),
            message=None if error is None else str(error), error=error,
            locked=isinstance(error, LockedError),
            failures=tuple(tally.failures), skips=tuple(tally.skips),
        )  # fmt: skip

    # ------------------------------------------------------------------ batches

    def _queue(self, items: Iterable[Any]) -> Iterator[list[Any]]:
        """Batches of (change, part) whose ticket is not blocked; after a stop, only the remaining
        parts of tickets already started (``items`` taken as batches are made; checked again)."""
        source, batch, more = iter(items), list[Any](), True
        while more or batch:
            more = False
            for it in source:
                if self._may_go(it[0].ticket_id):
                    batch.append(it)
                    if len(batch) == self._batch_size:
                        more = True
                        break
            batch = [it for it in batch if self._may_go(it[0].ticket_id)]
            if batch and (len(batch) == self._batch_size or not more):
                yield batch
                batch = []

    def _may_go(self, ticket_id: int) -> bool:
        return not self._blocked(ticket_id) and (ticket_id in self._started or not self._stopping())

    def _blocked(self, ticket_id: int) -> bool:
        return ticket_id in self._failed or ticket_id in self._skipped

    def _phase(
        self, items: Iterable[tuple[TicketChange, int]], post: Post, *, dedupe: bool = False
    ) -> None:
        def build(item: tuple[TicketChange, int]) -> Write:
            change, index = item
            return self._action_write(change, index) if index >= 0 else self._ticket_write(change)

        gate = self._gate = Gate()

        def send(writes: list[Write]) -> None:
            with before_each_send(gate.check):  # reads too: nothing after the phase failed
                self._send(self._not_posted_elsewhere(writes) if dedupe else writes, post)

        overlapped(self._journaled_batches(items, build), send, self._width, gate)

    def _not_posted_elsewhere(self, writes: list[Write]) -> list[Write]:
        """Settle ``done`` what another run of the playbook posted already (another journal's
        included); the rest, to send (:mod:`halo_automate.engine.duplicates`)."""
        items = [Planned(w.ticket_id, str(w.body.get("note", "")), w.rows[1:]) for w in writes]
        found = posted_elsewhere(self.client, self.plan.playbook, items, self._seen)
        marks = [
            m for i, (action, why) in found.items() for m in done_marks(writes[i], action, why)
        ]
        self.journal.mark_many(marks)
        return [w for i, w in enumerate(writes) if i not in found]

    def _journaled_batches(
        self, items: Iterable[Any], build: Callable[[Any], Write]
    ) -> Iterator[list[Write]]:
        """Each batch of ``items`` as writes, journaled pending before the caller sends it."""
        for batch in self._queue(items):
            self.lock.heartbeat()  # LockLostError: taken over, journal nothing further
            self._batch += 1
            writes = [build(item) for item in batch]
            ids = iter(
                self.journal.add_changes(self.plan.run_id, [r for w in writes for r in w.rows])
            )
            for write in writes:
                write.row_ids = [next(ids) for _ in write.rows]
            self._started.update(w.ticket_id for w in writes)
            yield writes
            self._sent += len(writes)
            if self._progress:
                self._progress(self._sent, self._total)

    def _ticket_write(self, change: TicketChange) -> Write:
        names = [n for n in change.fields if n in change.ticket_update]
        body = ticket_body(self.plan, change.ticket_id, change.ticket_update)
        return Write(change, "ticket", body, field_rows(change, names, self._batch))

    def _action_write(self, change: TicketChange, index: int) -> Write:
        carried = carried_fields(change) if index == carrier_index(change) else []
        spec = change.actions[index]
        body = action_body(self.plan, change.ticket_id, spec, index)
        row = NewChange(change.ticket_id, spec.kind, None, body, self._batch, ChangeKind.ACTION)
        return Write(change, "action", body, [row, *field_rows(change, carried, self._batch)])

    def _send(self, writes: list[Write], post: Post) -> None:
        """POST journaled writes as one batch; settle them; reconcile unknown outcomes and
        split a refused batch."""
        unknown, refused = self._post(writes, post)
        if unknown:
            self._reconcile(unknown, post)
        if refused:
            self._split(refused, post)

    def _post(self, writes: list[Write], post: Post) -> tuple[list[Write], list[Write]]:
        """One POST; marks what Halo confirmed or refused; returns the writes of unknown
        outcome and those of a refused batch of several (both to be read back)."""
        if not writes:
            return [], []
        with before_each_send(self._gate.then(self.lock.heartbeat)):  # the fence (LockLostError)
            results = post([w.body for w in writes])
        marks: list[ChangeMark] = []
        unknown: list[Write] = []
        refused: list[Write] = []
        for write, result in zip(writes, results, strict=True):
            if result.ok:
                marks += done_marks(write, result.record)
            elif result.unknown:
                write.error = result.error or "outcome unknown"
                (refused if result.rejected else unknown).append(write)
            else:
                marks += self._fail(write, result.error or "failed")
        self.journal.mark_many(marks)
        return unknown, refused

    def _split(self, writes: list[Write], post: Post) -> None:
        """A batch Halo refused (400): read back, settle what landed, re-send the rest in
        halves (a lone element's 400 is its own failure, with Halo's message)."""
        try:
            absent = self._settle_read_back(writes)
        except HaloError as e:
            # as in _reconcile: the rows stay pending for the next run's recovery
            why = f"batch refused ({writes[0].error}); read-back failed: {e}"
            for write in writes:
                self._fail(write, why)
            return
        log.info("refused_batch_read_back", sent=len(writes), not_applied=len(absent))
        if len(absent) <= 1:
            self._send(absent, post)
            return
        mid = len(absent) // 2
        self._send(absent[:mid], post)
        self._send(absent[mid:], post)

    def _fail(self, write: Write, message: str) -> list[ChangeMark]:
        tid = write.ticket_id
        if tid not in self._failed:
            self._failed.add(tid)
            self.tally.failures.append((tid, message))
        log.warning("ticket_failed", ticket_id=tid, halo_message=message)
        return [ChangeMark(i, "failed", message) for i in write.row_ids]

    def _skip(self, write: Write, reason: str) -> list[ChangeMark]:
        tid = write.ticket_id
        if tid not in self._skipped:
            self._skipped.add(tid)
            self.tally.skips.append((tid, reason))
        log.info("ticket_skipped", ticket_id=tid, reason=reason)
        return [ChangeMark(i, "skipped", reason) for i in write.row_ids]

    # ------------------------------------------------------------------ unknown outcomes

    def _reconcile(self, writes: list[Write], post: Post | None) -> None:
        """Writes whose outcome is unknown: read back, settle what landed, skip what someone
        else changed, re-send what provably did not land (up to ``resends`` times).

        ``post`` re-sends ticket or action writes; deletes (``None``) are re-sent one by one."""
        pending, attempt = writes, 0
        while True:
            try:
                absent = self._settle_read_back(pending)
            except HaloError as e:
                # The read-back itself failed: the rows stay pending for recovery, the tickets
                # are reported failed and get no further parts; the run goes on.
                why = f"outcome unknown (read-back failed: {e}); the next run's recovery settles it"
                for write in pending:
                    self._fail(write, why)
                return
            if not absent:
                return
            if attempt == self._resends:
                break
            attempt += 1
            log.info("resending_unapplied", count=len(absent), attempt=attempt)
            if post is None:
                pending = self._delete_all(absent)
            else:
                pending, refused = self._post(absent, post)
                if refused:
                    self._split(refused, post)
            if not pending:
                return
        marks: list[ChangeMark] = []
        for write in absent:
            why = f"not applied after {attempt + 1} tries; Halo's last answer: {write.error}"
            marks += self._fail(write, why)
        self.journal.mark_many(marks)

    def _settle_read_back(self, writes: list[Write]) -> list[Write]:
        """Mark what landed done and what someone else changed skipped; return the rest."""
        verdicts = read_back(self.client, writes)
        marks: list[ChangeMark] = []
        absent: list[Write] = []
        for write in writes:
            verdict, detail = verdicts[id(write)]
            if verdict == "landed":
                marks += done_marks(write, detail if isinstance(detail, Mapping) else None)
            elif verdict == "changed":
                marks += self._skip(write, str(detail))
            else:
                absent.append(write)
        self.journal.mark_many(marks)
        return absent

    # ------------------------------------------------------------------ removals (undo)

    def _removals(self, items: list[tuple[TicketChange, RemoveAction]]) -> None:
        for writes in self._journaled_batches(items, lambda item: self._delete_write(*item)):
            unknown = self._delete_all(writes)
            if unknown:
                self._reconcile(unknown, None)

    def _delete_write(self, change: TicketChange, removal: RemoveAction) -> Write:
        row = NewChange(change.ticket_id, "", dict(removal.body), None, self._batch,
                        ChangeKind.ACTION_DELETE, removal.action_id)  # fmt: skip
        return Write(change, "delete", {}, [row], action_id=removal.action_id)

    def _delete_all(self, writes: list[Write]) -> list[Write]:
        """DELETE each action; returns those whose outcome is unknown."""
        marks: list[ChangeMark] = []
        unknown: list[Write] = []
        for write in writes:
            assert write.action_id is not None
            try:
                with before_each_send(self.lock.heartbeat):
                    self.client.delete_action(write.ticket_id, write.action_id)
            except HaloNotFoundError:
                marks += [ChangeMark(i, "skipped", "action already gone") for i in write.row_ids]
            except WriteOutcomeUnknown as e:
                write.error = e.message
                unknown.append(write)
            except HaloError as e:
                marks += self._fail(write, e.message)
            else:
                marks += done_marks(write, None)
        self.journal.mark_many(marks)
        return unknown


def _kept(todos: Iterator[Todo], seen: list[Todo]) -> Iterator[Todo]:
    """``todos``, each also kept in ``seen`` as it passes (for the phases after the first)."""
    for todo in todos:
        seen.append(todo)
        yield todo
