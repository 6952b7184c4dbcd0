"""Notifying from the CLI: decisions and run endings a command makes (issue 16).

The command sends in line (no background thread), so the notification is tried before the
command exits; a failure is logged and counted, never the command's failure.
"""

from __future__ import annotations

from halo_automate.cli.approval_view import now
from halo_automate.cli.context import Context
from halo_automate.core.outcome import RunOutcome
from halo_automate.core.playbook import Playbook
from halo_automate.errors import HaloAutomateError
from halo_automate.service.announce import Announcer, make_notifier
from halo_automate.store.approvals import ApprovalRow


def announcer(ctx: Context) -> Announcer:
    """An announcer that sends in line (the command waits for it before exiting)."""
    notifier = make_notifier(ctx.settings, background=False)
    return Announcer(ctx.settings, ctx.journal, notifier, clock=now)


def playbook_named(ctx: Context, name: str) -> Playbook | None:
    """The playbook ``name`` for its ``notify:`` rule (None if it cannot be loaded now)."""
    try:
        return ctx.playbook(name)
    except HaloAutomateError:
        return None


def announce_decision(ctx: Context, row: ApprovalRow, event: str) -> None:
    """Notify a decision (``approved``, ``rejected``) if the playbook asks for it."""
    playbook = playbook_named(ctx, row.playbook)
    if playbook is not None and playbook.notify is not None:
        sender = announcer(ctx)
        try:
            sender.decision(playbook, row, event)
        finally:
            sender.close()


def announce_outcome(ctx: Context, outcome: RunOutcome, playbook: Playbook | None = None) -> None:
    """Notify a run's ending if its playbook asks for it."""
    playbook = playbook or playbook_named(ctx, outcome.playbook)
    if playbook is not None and playbook.notify is not None:
        sender = announcer(ctx)
        try:
            sender.outcome(playbook, outcome)
        finally:
            sender.close()
