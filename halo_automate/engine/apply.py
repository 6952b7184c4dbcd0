"""Execute a Plan exactly: limits, stale check, journaled batched writes, reconciliation.

Order of work for one run::

    limits ─▶ lock ─▶ read back planned tickets (ticketids pages) ─▶ skip stale ones
          ─▶ ticket updates in batches (journal pending → POST → done/failed)
          ─▶ actions in batches (journal pending → POST → done/failed, action ids kept)
          ─▶ action removals (undo only; DELETE /api/Actions/{id}?ticket_id=)

A write whose outcome is unknown (a 500, a timeout) is reconciled at once: read back, settle
what landed, re-send only what provably did not land, at most :data:`RESENDS` times. An
action is found by its run marker (:func:`run_marker`), so a note is never posted twice. A
field found at a third value (someone else edited the ticket meanwhile) is skipped, never
overwritten. A ticket whose update failed gets none of its actions.

Every change is journaled as *pending* in one transaction per batch before the batch is sent,
then settled in one transaction, so a process killed at any point leaves rows that
:mod:`halo_automate.engine.recovery` reconciles by reading the tickets back.

Stopping (:meth:`Applier.request_stop`, SIGTERM): no ticket is started after the in-flight
batch, but a ticket already started is finished (its remaining actions are sent), so no ticket
is left half-written; the run ends ``interrupted`` and the next run plans the rest afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from halo_automate.core.actions.registry import carries_fields
from halo_automate.core.outcome import RunStatus
from halo_automate.core.plan import (
    ActionSpec,
    FieldChange,
    Plan,
    RemoveAction,
    TicketChange,
    check_limits,
    plan_to_json,
)
from halo_automate.errors import HaloError, HaloNotFoundError, WriteOutcomeUnknown
from halo_automate.halo.client import HaloClient, WriteResult
from halo_automate.store.journal import (
    ChangeMark,
    Counts,
    Journal,
    Lock,
    NewChange,
    RunStart,
)

log = structlog.get_logger("halo_automate.engine.apply")

Progress = Callable[[int, int], None]
Post = Callable[[Sequence[Mapping[str, Any]]], list[WriteResult]]
Verdict = Literal["landed", "absent", "changed"]
MARKER_PREFIX = "[halo-automate run "
RESENDS = 2
"""How many times a write that provably did not land (after an unknown outcome) is re-sent."""


def run_marker(run_id: str, index: int = 0) -> str:
    """The text that identifies one of a run's actions on a ticket (crash-safe posting).

    ``[halo-automate run <run_id>]`` for a ticket's first action, ``[... #2]`` for its second
    and so on, so two actions of one run on one ticket never share a marker.
    """
    suffix = f" #{index + 1}" if index else ""
    return f"{MARKER_PREFIX}{run_id}{suffix}]"


def marker_of(note: str) -> str | None:
    """The run marker a note ends with, if any."""
    start = note.rfind(MARKER_PREFIX)
    end = note.find("]", start)
    return note[start : end + 1] if start >= 0 and end > start else None


@dataclass
class ApplyReport:
    run_id: str
    playbook: str
    status: RunStatus = RunStatus.RUNNING
    scanned: int = 0
    matched: int = 0
    planned: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    requests: int = 0
    seconds: float = 0.0
    failures: list[tuple[int, str]] = field(default_factory=list)
    skips: list[tuple[int, str]] = field(default_factory=list)
    unreached: int = 0
    """Tickets not started because a stop was requested."""

    @property
    def partial(self) -> bool:
        return self.failed > 0 or self.skipped > 0

    def counts(self) -> Counts:
        """The journal's counters for this report."""
        return Counts(
            scanned=self.scanned,
            matched=self.matched,
            planned=self.planned,
            done=self.done,
            failed=self.failed,
            skipped=self.skipped,
            requests=self.requests,
        )

    def final_status(self, stopped: bool) -> RunStatus:
        if stopped and self.unreached:
            return RunStatus.INTERRUPTED
        return RunStatus.PARTIAL if self.partial else RunStatus.SUCCEEDED


def same(a: Any, b: Any) -> bool:
    """Equality for Halo values: None and "" are both 'empty'; ints and int strings agree."""
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if (isinstance(a, int | float) and isinstance(b, str)) or (
        isinstance(b, int | float) and isinstance(a, str)
    ):
        return str(a) == str(b)
    return bool(a == b)


def field_state(value: Any, change: FieldChange) -> Literal["after", "before", "other"]:
    """Where a ticket's current value stands relative to a planned change."""
    if same(value, change.after):
        return "after"
    return "before" if same(value, change.before) else "other"


def stale_reason(
    change: TicketChange, current: Mapping[str, Any] | None, names: Iterable[str] | None = None
) -> str | None:
    """Why a planned change no longer applies (None when every 'before' still holds).

    ``names`` limits the check to some of the change's fields (default: all of them).
    """
    if current is None:
        return "ticket no longer exists (deleted or out of reach)"
    for name in change.fields if names is None else names:
        fc = change.fields[name]
        if not same(current.get(name), fc.before):
            now = current.get(name)
            return f"changed since the plan: {name} is {now!r}, plan expected {fc.before!r}"
    return None


def carrier_index(change: TicketChange) -> int | None:
    """The action that carries the fields not in the ticket update (a close: the posted kind
    that carries fields, :func:`~halo_automate.core.actions.registry.carries_fields`)."""
    for index, action in enumerate(change.actions):
        if carries_fields(action.kind):
            return index
    return 0 if change.actions else None


def carried_fields(change: TicketChange) -> list[str]:
    """Fields an action changes (journaled with the carrier action, e.g. a close's status)."""
    return [n for n in change.fields if n not in change.ticket_update]


def action_body(plan: Plan, ticket_id: int, action: ActionSpec, index: int = 0) -> dict[str, Any]:
    """The POST /api/Actions element: the planned body, ticket id, rules flag and run marker."""
    body: dict[str, Any] = {"ticket_id": ticket_id, **action.body}
    note = str(body.get("note") or "")
    marker = run_marker(plan.run_id, index)
    body["note"] = f"{note}\n\n{marker}" if note else marker
    body.setdefault("sendemail", False)
    if not plan.halo_rules:
        body["dont_do_rules"] = True
    return body


def ticket_body(plan: Plan, ticket_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """The POST /api/Tickets element: id, the values, and the rules flag."""
    body: dict[str, Any] = {"id": ticket_id, **values}
    if not plan.halo_rules:
        body["dont_do_rules"] = True
    return body


def find_marked(actions: Iterable[Mapping[str, Any]], note: str) -> Mapping[str, Any] | None:
    """The action whose note carries the same run marker as ``note``, if any."""
    marker = marker_of(note) or note
    for action in actions:
        text = str(action.get("note") or "") + str(action.get("note_html") or "")
        if marker and marker in text:
            return action
    return None


@dataclass(frozen=True)
class Todo:
    """The parts of one planned ticket still to write: update, actions (by index), removals."""

    change: TicketChange
    update: bool
    actions: tuple[int, ...]
    removals: tuple[RemoveAction, ...]

    @classmethod
    def whole(cls, change: TicketChange) -> Todo:
        indexes = tuple(range(len(change.actions)))
        return cls(change, bool(change.ticket_update), indexes, change.remove_actions)

    @property
    def parts(self) -> int:
        return int(self.update) + len(self.actions) + len(self.removals)

    def checked_fields(self) -> list[str]:
        """The planned fields these parts write (their 'before' must still hold)."""
        names = [n for n in self.change.fields if n in self.change.ticket_update]
        names = names if self.update else []
        if carrier_index(self.change) in self.actions:
            names += carried_fields(self.change)
        return names


@dataclass
class Write:
    """One element of a batched write (or one DELETE) with the journal rows it settles."""

    change: TicketChange
    kind: Literal["ticket", "action", "delete"]
    body: dict[str, Any]
    rows: list[NewChange] = field(default_factory=list)
    row_ids: list[int] = field(default_factory=list)
    action_id: int | None = None  # the action a "delete" removes
    error: str = ""

    @property
    def ticket_id(self) -> int:
        return self.change.ticket_id


@dataclass
class _Outcome:
    """Which tickets a batch left failed or skipped (they get no further parts)."""

    failed: set[int] = field(default_factory=set)
    skipped: set[int] = field(default_factory=set)
    started: set[int] = field(default_factory=set)

    def blocked(self, ticket_id: int) -> bool:
        return ticket_id in self.failed or ticket_id in self.skipped


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
    ) -> None:
        self.client = client
        self.journal = journal
        self.batch_size = batch_size or client.settings.batch_size
        self.progress = progress
        self.clock = clock
        self.resends = resends
        self._stop_requested = False
        self._outcome = _Outcome()
        self._batch = 0
        self._sent = 0
        self._total = 0

    def request_stop(self) -> None:
        """Finish the in-flight batch and the tickets already started, then stop (SIGTERM)."""
        self._stop_requested = True

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    # ------------------------------------------------------------------ entry point

    def apply(self, plan: Plan, *, trigger: str, started_by: str) -> ApplyReport:
        """Apply ``plan``; raises RefusedError (limits) or LockedError before writing anything."""
        check_limits(plan)
        with self.journal.acquire_lock(plan.playbook, plan.run_id) as lock:
            self.journal.start_run(
                RunStart(
                    run_id=plan.run_id,
                    playbook=plan.playbook,
                    playbook_hash=plan.playbook_hash,
                    mode=plan.mode,
                    undo_of=plan.undo_of,
                    started_by=started_by,
                    trigger=trigger,
                    counts=Counts(
                        scanned=plan.scanned, matched=plan.matched, planned=len(plan.changes)
                    ),
                    plan_json=plan_to_json(plan),
                )
            )
            return self._run(plan, lock)

    def new_report(self, plan: Plan) -> ApplyReport:
        return ApplyReport(
            plan.run_id,
            plan.playbook,
            scanned=plan.scanned,
            matched=plan.matched,
            planned=len(plan.changes),
        )

    def _run(self, plan: Plan, lock: Lock) -> ApplyReport:
        report = self.new_report(plan)
        started, requests_before = self.clock(), self.client.stats.requests
        try:
            live = self.stale_check(plan, [Todo.whole(c) for c in plan.changes], report)
            self.execute(plan, live, report, lock)
        except HaloError as e:
            report.status = RunStatus.FAILED
            self._finish(report, started, requests_before, message=str(e))
            raise
        report.status = report.final_status(self._stop_requested)
        self._finish(report, started, requests_before)
        return report

    def _finish(
        self, report: ApplyReport, started: float, requests_before: int, message: str | None = None
    ) -> None:
        report.seconds = self.clock() - started
        report.requests = self.client.stats.requests - requests_before
        self.journal.finish_run(
            report.run_id,
            report.status,
            counts=report.counts(),
            message=message,
        )
        log.info("apply_finished", status=report.status, done=report.done, failed=report.failed,
                 skipped=report.skipped, requests=report.requests)  # fmt: skip

    # ------------------------------------------------------------------ stale check

    def stale_check(self, plan: Plan, todos: Sequence[Todo], report: ApplyReport) -> list[Todo]:
        """Read the tickets back (ticketids pages); journal and report the stale ones."""
        if not todos:
            return []
        current = {
            t["id"]: t for t in self.client.tickets_by_ids([t.change.ticket_id for t in todos])
        }
        live: list[Todo] = []
        rows: list[NewChange] = []
        reasons: list[str] = []
        for todo in todos:
            change, names = todo.change, todo.checked_fields()
            reason = stale_reason(change, current.get(change.ticket_id), names)
            if reason is None:
                live.append(todo)
                continue
            skipped = _field_rows(change, names, 0)
            rows += skipped
            reasons += [reason] * len(skipped)
            report.skipped += 1
            report.skips.append((change.ticket_id, reason))
            log.info("ticket_skipped", ticket_id=change.ticket_id, reason=reason)
        if rows:
            ids = self.journal.add_changes(plan.run_id, rows)
            self.journal.mark_many(
                [ChangeMark(i, "skipped", r) for i, r in zip(ids, reasons, strict=True)]
            )
        return live

    # ------------------------------------------------------------------ writes

    def execute(
        self,
        plan: Plan,
        todos: Sequence[Todo],
        report: ApplyReport,
        lock: Lock,
        *,
        first_batch: int = 0,
    ) -> None:
        """Write the todos' parts: updates, then actions, then removals, batch by batch."""
        self._outcome, self._batch = _Outcome(), first_batch
        self._sent, self._total = 0, sum(t.parts for t in todos)
        updates = [(t.change, -1) for t in todos if t.update]
        self._phase(plan, updates, self.client.write_tickets, report, lock)
        # Every ticket's first action, then every second one...: a ticket whose note failed
        # is not closed (same number of batches as ticket order).
        actions = sorted(((t.change, i) for t in todos for i in t.actions), key=lambda a: a[1])
        self._phase(plan, actions, self.client.write_actions, report, lock)
        removals = [(t.change, r) for t in todos for r in t.removals]
        self._removals(plan, removals, report, lock)
        outcome = self._outcome
        for todo in todos:
            tid = todo.change.ticket_id
            if tid in outcome.failed:
                report.failed += 1
            elif tid in outcome.skipped:
                report.skipped += 1
            elif tid in outcome.started or not todo.parts:
                report.done += 1
            else:
                report.unreached += 1
        if self.progress and self._total:
            self.progress(self._total, self._total)

    def _queue(self, items: list[Any]) -> Iterator[list[Any]]:
        """Batches of (change, part) whose ticket is not blocked; after a stop, only the
        remaining parts of tickets already started."""
        queue = list(items)
        while queue:
            if self._stop_requested:
                queue = [it for it in queue if it[0].ticket_id in self._outcome.started]
            queue = [it for it in queue if not self._outcome.blocked(it[0].ticket_id)]
            batch, queue = queue[: self.batch_size], queue[self.batch_size :]
            if batch:
                yield batch

    def _phase(
        self,
        plan: Plan,
        items: list[tuple[TicketChange, int]],
        post: Post,
        report: ApplyReport,
        lock: Lock,
    ) -> None:
        def build(item: tuple[TicketChange, int]) -> Write:
            change, index = item
            if index >= 0:
                return self._action_write(plan, change, index)
            return self._ticket_write(plan, change)

        for writes in self._journaled_batches(plan, items, build, lock):
            self.send(writes, post, report)

    def _journaled_batches(
        self, plan: Plan, items: list[Any], build: Callable[[Any], Write], lock: Lock
    ) -> Iterator[list[Write]]:
        """Each batch of ``items`` as writes, journaled pending before the caller sends it."""
        for batch in self._queue(items):
            lock.heartbeat()
            self._batch += 1
            writes = [build(item) for item in batch]
            self._journal_new(plan, writes)
            self._outcome.started.update(w.ticket_id for w in writes)
            yield writes
            self._tick(len(writes))

    def _tick(self, count: int) -> None:
        self._sent += count
        if self.progress:
            self.progress(self._sent, self._total)

    def _ticket_write(self, plan: Plan, change: TicketChange) -> Write:
        names = [n for n in change.fields if n in change.ticket_update]
        body = ticket_body(plan, change.ticket_id, change.ticket_update)
        return Write(change, "ticket", body, _field_rows(change, names, self._batch))

    def _action_write(self, plan: Plan, change: TicketChange, index: int) -> Write:
        carried = carried_fields(change) if index == carrier_index(change) else []
        body = action_body(plan, change.ticket_id, change.actions[index], index)
        kind = f"action:{change.actions[index].kind}"
        rows = [NewChange(change.ticket_id, kind, None, body, self._batch)]
        return Write(change, "action", body, rows + _field_rows(change, carried, self._batch))

    def _journal_new(self, plan: Plan, writes: list[Write]) -> None:
        """Record a batch's rows as pending in one transaction, before it is sent."""
        ids = iter(self.journal.add_changes(plan.run_id, [r for w in writes for r in w.rows]))
        for write in writes:
            write.row_ids = [next(ids) for _ in write.rows]

    def send(self, writes: list[Write], post: Post, report: ApplyReport) -> None:
        """POST journaled writes as one batch; settle them; reconcile unknown outcomes."""
        unknown = self._post(writes, post, report)
        if unknown:
            self.reconcile(unknown, report, post)

    def _post(self, writes: list[Write], post: Post, report: ApplyReport) -> list[Write]:
        """One POST; marks what Halo confirmed or refused; returns the writes of unknown
        outcome."""
        if not writes:
            return []
        results = post([w.body for w in writes])
        marks: list[ChangeMark] = []
        unknown: list[Write] = []
        for write, result in zip(writes, results, strict=True):
            if result.ok:
                marks += _done(write, result.record)
            elif result.unknown:
                write.error = result.error or "outcome unknown"
                unknown.append(write)
            else:
                marks += self._fail(write, result.error or "failed", report)
        self.journal.mark_many(marks)
        return unknown

    def _fail(self, write: Write, message: str, report: ApplyReport) -> list[ChangeMark]:
        tid = write.ticket_id
        if tid not in self._outcome.failed:
            self._outcome.failed.add(tid)
            report.failures.append((tid, message))
        log.warning("ticket_failed", ticket_id=tid, halo_message=message)
        return [ChangeMark(i, "failed", message) for i in write.row_ids]

    def _skip(self, write: Write, reason: str, report: ApplyReport) -> list[ChangeMark]:
        tid = write.ticket_id
        if tid not in self._outcome.skipped:
            self._outcome.skipped.add(tid)
            report.skips.append((tid, reason))
        log.info("ticket_skipped", ticket_id=tid, reason=reason)
        return [ChangeMark(i, "skipped", reason) for i in write.row_ids]

    # ------------------------------------------------------------------ unknown outcomes

    def reconcile(self, writes: list[Write], report: ApplyReport, post: Post | None = None) -> None:
        """Writes whose outcome is unknown: read back, settle what landed, skip what someone
        else changed, re-send what provably did not land (up to ``resends`` times).

        ``post`` re-sends ticket or action writes; deletes are re-sent one by one."""
        pending, attempt = writes, 0
        while True:
            try:
                absent = self._settle_read_back(pending, report)
            except HaloError as e:
                self._leave_pending(pending, e, report)
                return
            if not absent:
                return
            if attempt == self.resends:
                break
            attempt += 1
            log.info("resending_unapplied", count=len(absent), attempt=attempt)
            if post is None:
                pending = self._delete_all(absent, report)
            else:
                pending = self._post(absent, post, report)
            if not pending:
                return
        marks: list[ChangeMark] = []
        for write in absent:
            why = f"not applied after {attempt + 1} tries; Halo's last answer: {write.error}"
            marks += self._fail(write, why, report)
        self.journal.mark_many(marks)

    def _leave_pending(self, writes: list[Write], error: HaloError, report: ApplyReport) -> None:
        """The read-back itself failed: the rows stay pending for recovery, the tickets are
        reported failed and get no further parts; the run goes on with the others."""
        why = f"outcome unknown (read-back failed: {error}); the next run's recovery settles it"
        for write in writes:
            self._fail(write, why, report)

    def _settle_read_back(self, writes: list[Write], report: ApplyReport) -> list[Write]:
        """Mark what landed done and what someone else changed skipped; return the rest."""
        verdicts = self.read_back(writes)
        marks: list[ChangeMark] = []
        absent: list[Write] = []
        for write in writes:
            verdict, detail = verdicts[id(write)]
            if verdict == "landed":
                marks += _done(write, detail if isinstance(detail, Mapping) else None)
            elif verdict == "changed":
                marks += self._skip(write, str(detail), report)
            else:
                absent.append(write)
        self.journal.mark_many(marks)
        return absent

    def read_back(self, writes: Sequence[Write]) -> dict[int, tuple[Verdict, object]]:
        """For each write (by ``id``): landed (with the action found), absent, or changed."""
        out: dict[int, tuple[Verdict, object]] = {}
        tickets = [w for w in writes if w.kind == "ticket"]
        if tickets:
            ids = sorted({w.ticket_id for w in tickets})
            current = {t["id"]: t for t in self.client.tickets_by_ids(ids)}
            for write in tickets:
                out[id(write)] = ticket_verdict(write, current.get(write.ticket_id))
        listed: dict[int, list[dict[str, Any]]] = {}
        for write in writes:
            if write.kind == "ticket":
                continue
            if write.ticket_id not in listed:
                listed[write.ticket_id] = self.client.list_actions(write.ticket_id)
            actions = listed[write.ticket_id]
            if write.kind == "action":
                found = find_marked(actions, str(write.body.get("note", "")))
                out[id(write)] = ("landed", found) if found is not None else ("absent", None)
            else:
                present = any(a.get("id") == write.action_id for a in actions)
                out[id(write)] = ("absent", None) if present else ("landed", None)
        return out

    # ------------------------------------------------------------------ removals (undo)

    def _removals(
        self,
        plan: Plan,
        items: list[tuple[TicketChange, RemoveAction]],
        report: ApplyReport,
        lock: Lock,
    ) -> None:
        def build(item: tuple[TicketChange, RemoveAction]) -> Write:
            return self._delete_write(*item)

        for writes in self._journaled_batches(plan, items, build, lock):
            unknown = self._delete_all(writes, report)
            if unknown:
                self.reconcile(unknown, report)

    def _delete_write(self, change: TicketChange, removal: RemoveAction) -> Write:
        field_name = f"action-delete:{removal.action_id}"
        row = NewChange(change.ticket_id, field_name, dict(removal.body), None, self._batch)
        return Write(change, "delete", {}, [row], action_id=removal.action_id)

    def _delete_all(self, writes: list[Write], report: ApplyReport) -> list[Write]:
        """DELETE each action; returns those whose outcome is unknown."""
        marks: list[ChangeMark] = []
        unknown: list[Write] = []
        for write in writes:
            assert write.action_id is not None
            try:
                self.client.delete_action(write.ticket_id, write.action_id)
            except HaloNotFoundError:
                marks += [ChangeMark(i, "skipped", "action already gone") for i in write.row_ids]
            except WriteOutcomeUnknown as e:
                write.error = e.message
                unknown.append(write)
            except HaloError as e:
                marks += self._fail(write, e.message, report)
            else:
                marks += _done(write, None)
        self.journal.mark_many(marks)
        return unknown


def ticket_verdict(write: Write, current: Mapping[str, Any] | None) -> tuple[Verdict, object]:
    """Did a ticket write land? Every written field at 'after' = landed; any at a third
    value = changed by someone else; otherwise (some still at 'before') absent."""
    if current is None:
        return "changed", "ticket no longer exists (deleted or out of reach)"
    fields = write.change.fields
    states = {n: field_state(current.get(n), fields[n]) for n in write.body if n in fields}
    for name, state in states.items():
        if state == "other":
            now, expected = current.get(name), fields[name].before
            return "changed", f"changed by someone else: {name} is {now!r}, expected {expected!r}"
    if all(s == "after" for s in states.values()):
        return "landed", None
    return "absent", None


def _done(write: Write, record: Mapping[str, Any] | None) -> list[ChangeMark]:
    """Done marks; an action's id goes on its ``action:<kind>`` row (the write's first)."""
    marks = [ChangeMark(i, "done") for i in write.row_ids]
    if write.kind == "action" and record is not None and isinstance(record.get("id"), int):
        marks[0] = ChangeMark(write.row_ids[0], "done", None, [int(record["id"])])
    return marks


def _field_rows(change: TicketChange, names: Iterable[str], batch: int) -> list[NewChange]:
    return [
        NewChange(change.ticket_id, n, change.fields[n].before, change.fields[n].after, batch)
        for n in names
    ]
