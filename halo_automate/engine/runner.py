"""The one piece of glue the CLI and the daemon share.

load → recover interrupted runs of the playbook → lookups (only those it needs) → fetch
(paged) → plan → [limits, confirm] → apply → one summary log line. Policy lives in plan and
apply; this module only sequences them and journals runs that never reach apply (previews,
refusals, failures while fetching).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import structlog

from halo_automate.core.lookups import Lookups
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.plan import (
    Plan,
    check_limits,
    make_plan,
    needed_lookups,
    new_run_id,
    plan_to_json,
)
from halo_automate.core.playbook import Playbook
from halo_automate.core.selection import build_query
from halo_automate.engine.apply import Applier, ApplyReport
from halo_automate.errors import HaloAutomateError, LockedError, PlanError, RefusedError
from halo_automate.halo.client import HaloClient
from halo_automate.logs import bound
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
    ) -> None:
        self.client = client
        self.journal = journal
        self.now = now
        self.progress = progress
        self.started_by = started_by or who()
        self._appliers: set[Applier] = set()
        self._stopping = False

    def request_stop(self) -> None:
        """Let in-flight batches finish, start no new ones (SIGTERM)."""
        self._stopping = True
        for applier in list(self._appliers):
            applier.request_stop()

    @contextmanager
    def tracking(self, applier: Applier) -> Iterator[Applier]:
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

    def plan(self, playbook: Playbook, *, run_id: str | None = None) -> Plan:
        """Fetch and plan; writes nothing."""
        now = self.now()
        lookups = self.lookups_for(playbook)
        query = build_query(playbook.select, lookups)
        tickets = self.client.iter_tickets(query)
        return make_plan(
            playbook, tickets, lookups, now=now, run_id=run_id or new_run_id(now), query=query
        )

    # ------------------------------------------------------------------ running

    def run(
        self,
        playbook: Playbook,
        *,
        trigger: str,
        confirm: Confirm | None,
        preview_only: bool = False,
    ) -> RunOutcome:
        """Plan ``playbook`` and apply it unless it is a preview; journal the run either way.

        ``confirm`` is asked before writing (``None`` = no prompt, as on a schedule); a
        ``False`` answer is journaled as refused and raises RefusedError.
        """
        run_id = new_run_id(self.now())
        with bound(run_id=run_id, playbook=playbook.name):
            started = time.monotonic()
            before = self.client.stats.snapshot()
            try:
                self.recover(playbook.name)
                plan = self.plan(playbook, run_id=run_id)
            except HaloAutomateError as e:
                status: str = "refused" if isinstance(e, LockedError) else "failed"
                self._journal_only(playbook, run_id, trigger, status, str(e), None)
                self._summary(playbook.name, run_id, status, started, before, message=str(e))
                raise
            if preview_only or playbook.mode == "preview":
                self._journal_only(playbook, run_id, trigger, "previewed", None, plan)
                return self._summary(playbook.name, run_id, "previewed", started, before, plan=plan)
            return self._apply(plan, trigger, confirm, started, before)

    def apply_saved(
        self, plan: Plan, *, confirm: Confirm | None, trigger: str | None = None
    ) -> RunOutcome:
        """Execute a saved (or undo) plan exactly: its run id, its changes, nothing more.

        Interrupted runs of the same playbook are recovered first. ``trigger`` defaults to
        "undo" for an undo plan and "apply-file" otherwise.
        """
        if self.journal.run(plan.run_id) is not None:
            raise PlanError(f"plan {plan.run_id} was already applied (see: show {plan.run_id})")
        trigger = trigger or ("undo" if plan.mode == "undo" else "apply-file")
        with bound(run_id=plan.run_id, playbook=plan.playbook):
            started, before = time.monotonic(), self.client.stats.snapshot()
            self.recover(plan.playbook)
            return self._apply(plan, trigger, confirm, started, before)

    def _apply(
        self,
        plan: Plan,
        trigger: str,
        confirm: Confirm | None,
        started: float,
        before: dict[str, Any],
    ) -> RunOutcome:
        try:
            check_limits(plan)
            if plan.changes and confirm is not None and not confirm(plan):
                raise RefusedError(f"{plan.playbook}: not confirmed; nothing was written")
        except RefusedError as e:
            self._journal_plan(plan, trigger, "refused", str(e))
            self._summary(
                plan.playbook, plan.run_id, "refused", started, before, plan=plan, message=str(e)
            )
            raise
        if not plan.changes:
            self._journal_plan(plan, trigger, "succeeded", None)
            return self._summary(
                plan.playbook, plan.run_id, "succeeded", started, before, plan=plan
            )
        applier = Applier(self.client, self.journal, progress=self.progress)
        try:
            with self.tracking(applier):
                report = applier.apply(plan, trigger=trigger, started_by=self.started_by)
        except LockedError as e:  # another run holds the playbook: nothing was written
            self._journal_plan(plan, trigger, "refused", str(e))
            self._summary(
                plan.playbook, plan.run_id, "refused", started, before, plan=plan, message=str(e)
            )
            raise
        except HaloAutomateError as e:
            self._summary(
                plan.playbook, plan.run_id, "failed", started, before, plan=plan, message=str(e)
            )
            raise
        return self._summary(
            plan.playbook, plan.run_id, report.status, started, before, plan=plan, report=report
        )

    # ------------------------------------------------------------------ journal helpers

    def _journal_only(
        self,
        playbook: Playbook,
        run_id: str,
        trigger: str,
        status: str,
        message: str | None,
        plan: Plan | None,
    ) -> None:
        mode = "preview" if status == "previewed" else playbook.mode
        self.journal.start_run(
            RunStart(
                run_id=run_id,
                playbook=playbook.name,
                playbook_hash=playbook.source_hash,
                mode=mode,
                trigger=trigger,
                started_by=self.started_by,
                plan_json=plan_to_json(plan) if plan else None,
                counts=_plan_counts(plan),
            )
        )
        self.journal.finish_run(run_id, status, counts=_plan_counts(plan), message=message)

    def _journal_plan(self, plan: Plan, trigger: str, status: str, message: str | None) -> None:
        self.journal.start_run(
            RunStart(
                run_id=plan.run_id,
                playbook=plan.playbook,
                playbook_hash=plan.playbook_hash,
                mode=plan.mode,
                trigger=trigger,
                started_by=self.started_by,
                undo_of=plan.undo_of,
                plan_json=plan_to_json(plan),
                counts=_plan_counts(plan),
            )
        )
        self.journal.finish_run(plan.run_id, status, counts=_plan_counts(plan), message=message)

    def _summary(
        self,
        playbook: str,
        run_id: str,
        status: str,
        started: float,
        before: dict[str, Any],
        *,
        plan: Plan | None = None,
        report: ApplyReport | None = None,
        message: str | None = None,
    ) -> RunOutcome:
        after = self.client.stats.snapshot()
        preview = status == "previewed"
        outcome = RunOutcome(
            run_id=run_id,
            playbook=playbook,
            mode="preview" if preview else (plan.mode if plan else "apply"),
            status=RunStatus(status),
            scanned=plan.scanned if plan else 0,
            matched=plan.matched if plan else 0,
            planned=len(plan.changes) if plan else 0,
            changed=len(plan.changes) if preview and plan else (report.done if report else 0),
            skipped=report.skipped if report else 0,
            failed=report.failed if report else 0,
            requests=after["requests"] - before["requests"],
            rate_limited=after["rate_limited"] - before["rate_limited"],
            seconds=time.monotonic() - started,
            message=message,
            failures=tuple(report.failures) if report else (),
            skips=tuple(report.skips) if report else (),
        )
        self._record_requests(outcome)
        log.info("run_summary", **outcome.summary())
        return outcome

    def _record_requests(self, outcome: RunOutcome) -> None:
        """Journal the whole run's requests (fetch and lookups too, not only the writes)."""
        row = self.journal.run(outcome.run_id)
        if row is not None and row.counts.requests != outcome.requests:
            counts = dataclasses.replace(row.counts, requests=outcome.requests)
            self.journal.update_run(outcome.run_id, counts=counts)

    # ------------------------------------------------------------------ recovery

    def recover(self, playbook: str | None = None) -> list[RunOutcome]:
        """Reconcile runs interrupted mid-apply (pending rows) by reading the tickets."""
        from halo_automate.engine.recovery import recover_run

        outcomes = []
        for run in self.journal.interrupted_runs(playbook):
            with bound(run_id=run.run_id, playbook=run.playbook):
                outcomes.append(recover_run(self, run))
        return outcomes


def _plan_counts(plan: Plan | None) -> Counts:
    if plan is None:
        return Counts()
    return Counts(scanned=plan.scanned, matched=plan.matched, planned=len(plan.changes))


def outcomes_exit_code(outcomes: Iterable[RunOutcome]) -> int:
    """5 when any run was partial or failed per ticket, else 0."""
    return 5 if any(o.status in ("partial", "interrupted") for o in outcomes) else 0
