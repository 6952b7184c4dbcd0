"""How the CLI shows plans held for approval and paused playbooks, and announces from the CLI.

Shared by ``approvals``, ``approve``, ``reject``, ``resume``, ``run`` and ``history``: the
queue as a table or JSON, what to do next for a held plan (the console's page and the
``approve`` command), the approver's name on the CLI (the OS user), and the announcer a
command uses to notify (sending in line, before the command exits).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from halo_automate.cli.context import Context
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.engine.approvals import WaitingApproval
from halo_automate.sanitize import clean_text
from halo_automate.service.links import console_base, run_link
from halo_automate.store.guards import GuardRow
from halo_automate.store.records import os_user

__all__ = ["approvals_json", "approvals_table", "now", "os_user", "paused_lines", "print_held"]


def now() -> datetime:
    return datetime.now(UTC)


def _when(value: datetime | str | None) -> str:
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return clean_text(value or "")


def approvals_json(items: Sequence[WaitingApproval]) -> str:
    return json.dumps(
        {"format": "halo-automate/approvals", "version": 1,
         "approvals": [item.to_json() for item in items]},
        indent=2,
    )  # fmt: skip


def approvals_table(items: Sequence[WaitingApproval]) -> Table:
    table = Table(title="plans waiting for approval (oldest first)")
    for column in ("run", "playbook", "instance", "changes", "requested by", "expires"):
        table.add_column(column, no_wrap=column == "run")
    for item in items:
        table.add_row(
            item.run_id, item.playbook, item.instance, str(item.changes),
            clean_text(item.requested_by), _when(item.expires_at),
        )  # fmt: skip
    return table


def print_next_steps(console: Console, ctx: Context, run_id: str) -> None:
    """Where to review a held plan and how to decide it."""
    link = run_link(console_base(ctx.settings), run_id)
    lines = [f"  review:  {link}"] if link else [f"  review:  halo-automate show {run_id}"]
    lines += [
        f"  approve: halo-automate approve {run_id} [--apply]",
        f"  reject:  halo-automate reject {run_id} --reason TEXT",
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False)


def print_held(console: Console, ctx: Context, outcome: RunOutcome) -> None:
    """After a run: if its plan was held (or one was already open), say what to do next."""
    if outcome.status is RunStatus.AWAITING_APPROVAL:
        if outcome.planned == 0 and outcome.message:  # another plan of it is open
            console.print(clean_text(outcome.message), highlight=False, markup=False)
        print_next_steps(console, ctx, outcome.run_id)


def paused_lines(rows: Sequence[GuardRow]) -> list[str]:
    return [
        f"PAUSED {row.playbook} ({row.instance_name}) since {_when(row.paused_at)}: "
        f"{clean_text(row.paused_reason or '')}"
        for row in rows
    ]
