"""What is worth a notification, and to whom: events of runs, decisions and pauses (issue 16).

:class:`Announcer` turns what happened into a :class:`~halo_automate.core.notice.Notice` and
hands it to the :class:`~halo_automate.service.notifier.Notifier` for the channels the
playbook's ``notify:`` names, when its ``on`` lists the event. The events:

* a run's ending: ``awaiting_approval`` (a plan newly held; a run that found a plan already
  open planned nothing and says nothing), ``succeeded``, ``failed``, ``refused``,
  ``partial``, ``interrupted`` (a preview is never announced);
* a decision on a held plan: ``approved``, ``rejected``, ``expired``;
* ``paused``: the runaway guard paused the playbook.

The plan (for counts per client and the first changes) is read back from the journal by run
id; a run without a plan (it failed before planning) is announced with its counts alone. The
link is the run's page in the web console (:mod:`.links`). Nothing here raises: a failure to
build a notice is logged and the caller goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from halo_automate.config import Settings
from halo_automate.core.approval import NotifyRule
from halo_automate.core.notice import Notice, notice_of
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.plan import Plan, plan_from_json
from halo_automate.core.playbook import Playbook
from halo_automate.errors import HaloAutomateError
from halo_automate.service.links import console_base, run_link
from halo_automate.service.notifier import Notifier, secret_values
from halo_automate.store.approvals import ApprovalRow
from halo_automate.store.guards import GuardRow
from halo_automate.store.journal import Journal

log = structlog.get_logger("halo_automate.service.announce")

_RUN_EVENTS = {
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.REFUSED: "refused",
    RunStatus.PARTIAL: "partial",
    RunStatus.INTERRUPTED: "interrupted",
}


def run_event(outcome: RunOutcome) -> str | None:
    """The event a run's ending is, if any (a newly held plan has planned changes)."""
    if outcome.status is RunStatus.AWAITING_APPROVAL:
        return "awaiting_approval" if outcome.planned > 0 else None
    return _RUN_EVENTS.get(outcome.status)


def make_notifier(settings: Settings, *, background: bool) -> Notifier | None:
    """The notifier of ``settings`` (None when no channel is configured)."""
    if not settings.notify.channels:
        return None
    return Notifier(settings.notify, secrets=secret_values(settings), background=background)


class Announcer:
    """Announces events of one instance's playbooks (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        notifier: Notifier | None,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.notifier = notifier
        self.clock = clock
        self.instance = settings.instance_name
        self.base = console_base(settings)

    def _channels(self, rule: NotifyRule | None, event: str) -> tuple[str, ...]:
        if self.notifier is None or rule is None or event not in rule.on:
            return ()
        return rule.channels

    def _plan(self, run_id: str) -> Plan | None:
        try:
            text = self.journal.plan_json(run_id)
            return None if text is None else plan_from_json(text)
        except HaloAutomateError as e:
            log.warning("notification_without_plan", run_id=run_id, error=str(e))
            return None

    def _send(self, notice: Notice, channels: tuple[str, ...]) -> None:
        assert self.notifier is not None
        self.notifier.send(notice, channels)

    def outcome(self, playbook: Playbook, outcome: RunOutcome) -> None:
        """Announce a run's ending, if its playbook asks for that event."""
        event = run_event(outcome)
        channels = self._channels(playbook.notify, event) if event else ()
        if not channels or event is None:
            return
        command = expires = None
        if event == "awaiting_approval":
            command = f"halo-automate approve {outcome.run_id}"
            row = self.journal.approval(outcome.run_id)
            expires = _iso(row.expires_at) if row is not None else None
        self._send(self._notice(event, outcome, command=command, expires=expires), channels)

    def decision(self, playbook: Playbook | None, row: ApprovalRow, event: str) -> None:
        """Announce ``approved``, ``rejected`` or ``expired`` of a held plan."""
        channels = self._channels(playbook.notify if playbook else None, event)
        if not channels:
            return
        by = f" by {row.decided_by}" if row.decided_by else ""
        why = f": {row.reason}" if row.reason else ""
        outcome = RunOutcome(
            row.run_id, row.playbook, "apply", RunStatus(event), planned=row.changes,
            message=f"{event}{by}{why}",
        )  # fmt: skip
        self._send(self._notice(event, outcome, expires=_iso(row.expires_at)), channels)

    def paused(self, playbook: Playbook, outcome: RunOutcome, guard: GuardRow) -> None:
        """Announce that the runaway guard paused ``playbook`` (after ``outcome``)."""
        channels = self._channels(playbook.notify, "paused")
        if channels:
            notice = self._notice(
                "paused", outcome, message=guard.paused_reason,
                command=f"halo-automate resume {playbook.name}{self._on_instance()}",
            )  # fmt: skip
            self._send(notice, channels)

    def _on_instance(self) -> str:
        """`` --instance NAME`` for a command about another than the default instance."""
        default = self.settings.default_instance
        return "" if self.instance == default else f" --instance {self.instance}"

    def _notice(
        self,
        event: str,
        outcome: RunOutcome,
        *,
        command: str | None = None,
        expires: str | None = None,
        message: str | None = None,
    ) -> Notice:
        return notice_of(
            event, outcome, self._plan(outcome.run_id), instance=self.instance,
            at=self.clock().isoformat(), link=run_link(self.base, outcome.run_id),
            first=self.settings.notify.first_changes, command=command, expires_at=expires,
            message=message,
        )  # fmt: skip

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()


def _iso(when: datetime | str) -> str:
    return when.isoformat() if isinstance(when, datetime) else when
