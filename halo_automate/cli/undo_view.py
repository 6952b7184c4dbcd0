"""How ``undo`` shows itself: the undo preview (titled as an undo, with the tickets it leaves
alone and why, the notes it adds or deletes, and what it costs in requests and minutes at the
configured rate limit) and the same facts as JSON (``undo --json``), from one summary so the
two always agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from halo_automate.cli.preview import changes_table, duration
from halo_automate.core.plan import plan_to_dict
from halo_automate.engine.undo import UndoPlan
from halo_automate.sanitize import clean_text

UNDO_FORMAT = "halo-automate/undo"
UNDO_VERSION = 1


@dataclass(frozen=True)
class Rate:
    """What the cost is counted with: the settings' batch size, page size and rate limit."""

    batch_size: int = 50
    page_size: int = 100
    requests: int = 300
    per_seconds: float = 300.0


def undo_summary(undo: UndoPlan, rate: Rate) -> dict[str, Any]:
    """Everything the preview says about an undo, as plain values (the JSON's top level)."""
    plan = undo.plan
    requests, seconds = undo.cost(rate.batch_size, rate.page_size, rate.requests, rate.per_seconds)
    return {
        "format": UNDO_FORMAT,
        "version": UNDO_VERSION,
        "undo_of": plan.undo_of,
        "run_id": plan.run_id,
        "playbook": plan.playbook,
        "instance": plan.instance,
        "tickets": len(plan.changes),
        "skipped": [
            {"ticket_id": s.ticket_id, "reason": s.reason, "forcible": s.forcible}
            for s in undo.skips
        ],
        "already_undone": {str(t): u for t, u in sorted(undo.undone.items())},
        "forced": sorted(undo.force),
        "notes": {
            "policy": "delete" if undo.delete_notes else "keep private, add one",
            "added": undo.notes_added,
            "deleted": undo.notes_deleted,
            "kept": undo.notes_kept,
        },
        "requests": requests,
        "seconds": seconds,
        "rate_limit": {"requests": rate.requests, "per_seconds": rate.per_seconds},
    }


def undo_json(undo: UndoPlan, rate: Rate) -> str:
    """``undo --json``: the summary and, under ``plan``, the undo's plan document."""
    return json.dumps({**undo_summary(undo, rate), "plan": plan_to_dict(undo.plan)}, indent=2)


def undo_lines(undo: UndoPlan, rate: Rate, max_rows: int = 50) -> list[str]:
    """The lines under the table: skips, notes, cost."""
    s = undo_summary(undo, rate)
    lines = [f"Undo of run {s['undo_of']}: {s['tickets']} ticket(s) to put back"]
    if s["already_undone"]:
        by = sorted(set(s["already_undone"].values()))
        lines.append(
            f"Already undone by run {', '.join(by)}: {len(s['already_undone'])} ticket(s), left out"
        )
    if s["skipped"]:
        lines.append(f"Skipped (left as they are): {len(s['skipped'])} ticket(s)")
        lines += [
            f"  #{k['ticket_id']}: {clean_text(k['reason'])}" for k in s["skipped"][:max_rows]
        ]
        if len(s["skipped"]) > max_rows:
            lines.append(f"  … and {len(s['skipped']) - max_rows} more (see undo --json)")
    notes = s["notes"]
    if undo.delete_notes:
        lines.append(
            f"Notes: deletes the run's {notes['deleted']} note(s), one DELETE request each "
            "(--delete-notes); adds none"
        )
    else:
        lines.append(
            f"Notes: keeps the run's {notes['kept']} private note(s) as the audit trail; adds "
            f"{notes['added']} private 'Reverted by run {s['run_id']}' note(s) in batches"
            + (f"; deletes {notes['deleted']} note(s) the user could see" * bool(notes["deleted"]))
        )
    if s["forced"]:
        lines.append(f"Forced (changed in Halo since, put back anyway): {s['forced']}")
    lines.append(
        f"Undo needs {s['requests']} request(s); Halo's rate limit ({rate.requests} per "
        f"{rate.per_seconds:g}s) makes that take at least {duration(s['seconds'])}"
    )
    return lines


def render_undo(undo: UndoPlan, console: Console, rate: Rate, max_rows: int = 50) -> None:
    """The undo preview: its table (titled as an undo) and :func:`undo_lines`."""
    plan = undo.plan
    if plan.changes:
        console.print(changes_table(plan, None, max_rows))
        hidden = len(plan.changes) - max_rows
        if hidden > 0:
            console.print(Text(f"… and {hidden} more ticket(s) not shown (see undo --json)"))
    for warning in plan.warnings:
        console.print(Text(clean_text(f"warning: {warning}")))
    for line in undo_lines(undo, rate, max_rows):
        console.print(Text(line))
