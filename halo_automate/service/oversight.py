"""The daemon's part in approvals, notifications and the runaway guard (issue 16).

:class:`Oversight` is what :class:`~halo_automate.service.daemon.Daemon` asks, in a few
lines, around its runs:

* :meth:`Oversight.holds` before a scheduled run: a playbook paused on that instance is not
  run (the pause is read from the journal each time, so ``halo-automate resume`` takes effect
  at once);
* :meth:`Oversight.after_run` after one: the runaway count of the playbook on its instance
  (may pause it, which is logged ``playbook_paused`` and announced), and the run's
  notification;
* :meth:`Oversight.due` every :data:`CHECK_SECONDS` (an APScheduler job on the daemon's one
  worker, so it never runs beside a scheduled run): plans past their time are expired (and
  announced), and the approved plans of each served instance are returned for the daemon to
  apply, each through :meth:`Oversight.apply` with THAT instance's runner
  (``Runner.apply_approved``: the saved-plan path);
* :meth:`Oversight.status` for ``/healthz``: paused playbooks and what waits (by job key,
  :mod:`.instances`).

The daemon serves several instances (:class:`~.instances.Served`): each event is announced by
its instance's :class:`~.announce.Announcer` (one notifier shared by all).

It never raises into the daemon: journal trouble is logged and the next check tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import structlog
from apscheduler.schedulers.base import BaseScheduler

from halo_automate.config import Settings
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.playbook import Playbook
from halo_automate.engine import approvals, runaway
from halo_automate.errors import HaloAutomateError
from halo_automate.logs import bound
from halo_automate.service.announce import Announcer, make_notifier
from halo_automate.service.instances import Job, Served
from halo_automate.service.metrics import FinishedRun
from halo_automate.service.triggers import schedule_speedup
from halo_automate.store.approvals import ApprovalRow

log = structlog.get_logger("halo_automate.service.oversight")

CHECK_SECONDS = 5.0
"""How often the daemon expires overdue plans and applies approved ones."""
JOB_ID = "__approvals__"
"""The APScheduler job id of that check (no playbook name starts with ``_``)."""


class Oversight:
    """Approvals, notifications and the runaway guard for one daemon (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        served: Served,
        playbooks: Callable[[], dict[str, Playbook]],
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.served = served
        self.journal = next(iter(served.runners.values())).journal  # one journal for all
        self.playbooks = playbooks
        self.clock = clock
        self.notifier = make_notifier(settings, background=True)
        self.announcers = {
            name: Announcer(
                settings.select_instance(name), self.journal, self.notifier, clock=clock
            )
            for name in served.names
        }

    def schedule(self, scheduler: BaseScheduler, job: Callable[[], None]) -> None:
        """Add the approvals check ``job`` every :data:`CHECK_SECONDS` (sped up in tests)."""
        seconds = CHECK_SECONDS / schedule_speedup()
        scheduler.add_job(job, "interval", seconds=seconds, id=JOB_ID, name=JOB_ID)

    # ------------------------------------------------------------------ around runs

    def holds(self, name: str, instance: str) -> bool:
        """Is playbook ``name`` paused on ``instance`` (so its scheduled run is skipped)?"""
        try:
            row = runaway.paused(self.journal, name, instance)
        except HaloAutomateError as e:
            log.error("guard_unreadable", playbook=name, instance=instance, error=str(e))
            return False
        if row is not None:
            log.warning(
                "run_skipped_paused", playbook=name, instance=instance, reason=row.paused_reason
            )
        return row is not None

    def unpaused(self, jobs: list[Job]) -> list[Job]:
        """``jobs`` without the paused ones (``daemon --once``)."""
        return [job for job in jobs if not self.holds(job.playbook.name, job.instance)]

    def after_run(self, playbook: Playbook, instance: str, outcome: RunOutcome) -> None:
        """Count the scheduled run on ``instance`` for the runaway guard, then announce it."""
        try:
            paused = runaway.count_run(self.journal, playbook, instance, outcome, self.clock())
        except HaloAutomateError as e:
            log.error("guard_not_counted", playbook=playbook.name, error=str(e))
            paused = None
        announcer = self.announcers[instance]
        announcer.outcome(playbook, outcome)
        if paused is not None:
            log.error("playbook_paused", playbook=playbook.name, reason=paused.paused_reason)
            announcer.paused(playbook, outcome, paused)

    # ------------------------------------------------------------------ the approvals check

    def _announcer(self, instance: str) -> Announcer | None:
        return self.announcers.get(instance)

    def due(self) -> list[ApprovalRow]:
        """Expire overdue plans (announced; of served instances); the approved plans of the
        served instances to apply now (each applied by its own instance's runner)."""
        now = self.clock()
        try:
            for row in approvals.expire_due(self.journal, now):
                log.warning(
                    "approval_expired", run_id=row.run_id, playbook=row.playbook,
                    instance=row.instance_name,
                )  # fmt: skip
                announcer = self._announcer(row.instance_name)
                if announcer is not None:
                    announcer.decision(self.playbooks().get(row.playbook), row, "expired")
            return [
                row
                for name in self.served.names
                for row in approvals.approved_unapplied(self.journal, now, instance=name)
            ]
        except HaloAutomateError as e:
            log.error("approvals_check_failed", error=str(e), note="tried again at the next check")
            return []

    def check(self, in_flight: Callable[[str], AbstractContextManager[bool]]) -> list[FinishedRun]:
        """The approvals check: expire, then apply each approved plan as a run ``in_flight``
        under its job key (the daemon's admission: none once stopping); the runs applied."""
        runs = []
        for row in self.due():
            instance = row.instance_name
            with in_flight(self.served.key(row.playbook, instance)) as admitted:
                if admitted:
                    runs.append(FinishedRun(self.apply(row), self.clock(), instance=instance))
        return runs

    def apply(self, row: ApprovalRow) -> RunOutcome:
        """Apply approved plan ``row`` with its instance's runner (no prompt: the approval is
        the confirmation)."""
        instance = row.instance_name
        with bound(run_id=row.run_id, playbook=row.playbook, instance=instance):
            log.info("applying_approved", approved_by=row.decided_by)
            try:
                outcome = self.served.runner(instance).apply_approved(row.run_id, confirm=None)
            except HaloAutomateError as e:  # decided or expired meanwhile: nothing written
                log.warning("approved_not_applied", error=str(e))
                return RunOutcome(
                    row.run_id, row.playbook, "apply", RunStatus.REFUSED,
                    trigger=approvals.APPLY_TRIGGER, message=str(e), error=e,
                )  # fmt: skip
        playbook = self.playbooks().get(row.playbook)
        if playbook is not None:
            self.announcers[instance].outcome(playbook, outcome)
        return outcome

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        """``/healthz``'s view: paused playbooks (with why) and the plans waiting."""
        try:
            paused = [r for n in self.served.names for r in self.journal.paused_playbooks(n)]
            waiting = [
                item
                for name in self.served.names
                for item in approvals.waiting(self.journal, self.clock(), instance=name)
            ]
        except HaloAutomateError as e:
            return {"error": str(e)}
        return {
            "paused": {
                self.served.key(row.playbook, row.instance_name): {
                    "since": _iso(row.paused_at), "reason": row.paused_reason,
                }
                for row in paused
            },
            "awaiting_approval": [item.to_json() for item in waiting],
        }  # fmt: skip

    def prometheus(self) -> str:
        return "" if self.notifier is None else self.notifier.prometheus()

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()


def _iso(when: datetime | str | None) -> str | None:
    return when.isoformat() if isinstance(when, datetime) else when
