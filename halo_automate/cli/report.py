"""Human and JSON views of the journal for ``history`` and ``show`` (no I/O but printing).

Ticket-supplied text (summaries, messages that quote Halo) passes
:func:`~halo_automate.sanitize.clean_text` before it reaches the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from halo_automate.cli.preview import change_lines
from halo_automate.core.instance import describe_instance
from halo_automate.core.plan import plan_from_json
from halo_automate.sanitize import clean_text
from halo_automate.store.journal import ChangeRow, RunRow

REPORT_VERSION = 1
Undone = Mapping[str, Sequence[str]]
"""Run id → the undos of it that wrote (``Journal.undone_by``)."""


def _run_dict(run: RunRow, undone_by: Sequence[str] = ()) -> dict[str, Any]:
    data = asdict(run)
    data["undone_by"] = list(undone_by)  # the undos of this run that wrote
    data["started_at"] = _iso(run.started_at)
    data["finished_at"] = None if run.finished_at is None else _iso(run.finished_at)
    data["instance"] = json.loads(run.instance) if run.instance else None
    return data


def _iso(when: datetime | str) -> str:
    """A journal date for JSON; stored text that is not a date is given as it is."""
    return when.isoformat() if isinstance(when, datetime) else clean_text(when)


def _when(when: datetime | str) -> str:
    """A journal date for a person; stored text that is not a date is shown as it is."""
    return f"{when:%Y-%m-%d %H:%M:%S}" if isinstance(when, datetime) else clean_text(when)


def _change_dict(row: ChangeRow) -> dict[str, Any]:
    data = asdict(row)
    data["field"] = row.label  # as before the typed kind: "action:note", "action-delete:7"
    data["updated_at"] = _iso(row.updated_at)
    data["action_ids"] = list(row.action_ids)
    return data


def history_json(runs: Sequence[RunRow], undone: Undone | None = None) -> str:
    undone = undone or {}
    return json.dumps(
        {"format": "halo-automate/history", "version": REPORT_VERSION,
         "runs": [_run_dict(r, undone.get(r.run_id, ())) for r in runs]},
        indent=2,
    )  # fmt: skip


def _status(run: RunRow, undone: Undone) -> str:
    """A run's status, marked when an undo put (some of) it back."""
    by = undone.get(run.run_id)
    return f"{run.status} (undone by {', '.join(by)})" if by else str(run.status)


def history_table(runs: Sequence[RunRow], undone: Undone | None = None) -> Table:
    undone = undone or {}
    table = Table(title="halo-automate runs (newest first)")
    table.add_column("run", no_wrap=True, min_width=22)
    for column in ("instance", "playbook", "mode", "trigger", "started", "status", "changed",
                   "skip", "fail", "req"):  # fmt: skip
        table.add_column(column)
    for r in runs:
        c = r.counts
        changed = str(c.done) if r.mode != "preview" else f"({c.planned} planned)"
        table.add_row(
            r.run_id, clean_text(r.instance_name), r.playbook, r.mode, r.trigger,
            _when(r.started_at),
            _status(r, undone), changed, str(c.skipped), str(c.failed), str(c.requests),
        )  # fmt: skip
    return table


def run_json(
    run: RunRow,
    rows: Sequence[ChangeRow],
    plan_json: str | None = None,
    undone_by: Sequence[str] = (),
) -> str:
    data = {
        "format": "halo-automate/run",
        "version": REPORT_VERSION,
        "run": _run_dict(run, undone_by),
        "changes": [_change_dict(r) for r in rows],
        "plan": json.loads(plan_json) if plan_json else None,
    }
    return json.dumps(data, indent=2, default=str)


def show_run(
    console: Console,
    run: RunRow,
    rows: Sequence[ChangeRow],
    plan_json: str | None = None,
    undone_by: Sequence[str] = (),
) -> None:
    """One run and its changes; with none, what its plan (``plan_json``, if given) held;
    ``undone_by``: the undos of it that wrote."""
    c = run.counts
    console.print(
        f"run {run.run_id}  playbook {run.playbook}  mode {run.mode}  status {run.status}\n"
        f"started {_when(run.started_at)} by {run.started_by} ({run.trigger})"
        + (f"  undo of {run.undo_of}" if run.undo_of else "")
        + f"\nscanned {c.scanned}, matched {c.matched}, planned {c.planned}, done {c.done}, "
        f"skipped {c.skipped}, failed {c.failed}, requests {c.requests}",
        highlight=False,
        markup=False,
    )
    identity = run.instance_identity or "identity not recorded (a run before instances)"
    console.print(
        clean_text(f"on instance {run.instance_name}: {identity}"), highlight=False, markup=False
    )
    if undone_by:
        console.print(f"undone by run {', '.join(undone_by)}", highlight=False, markup=False)
    instance = describe_instance(run.instance)
    if instance:
        console.print(f"instance: {instance}", highlight=False, markup=False)
    if run.message:
        console.print(f"message: {clean_text(run.message)}", highlight=False, markup=False)
    if rows:
        table = Table(title="changes")
        for column in ("ticket", "field", "before → after", "state", "message / action ids"):
            table.add_column(column)
        for r in rows:
            note = r.message or ""
            if r.action_ids:
                note = f"{note} actions {list(r.action_ids)}".strip()
            table.add_row(
                str(r.ticket_id),
                clean_text(r.label),
                f"{_short(r.before)} → {_short(r.after)}",
                r.state,
                clean_text(note),
            )
        console.print(table)
    elif plan_json:
        plan = plan_from_json(plan_json)
        console.print(f"{len(plan.changes)} change(s) in the plan (nothing written):")
        for change in plan.changes:
            summary = clean_text(change.summary)
            console.print(f"  #{change.ticket_id} {summary}", highlight=False, markup=False)
            for line in change_lines(change):
                console.print(f"      {clean_text(line)}", highlight=False, markup=False)


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    text = clean_text(text)
    return text if len(text) <= width else text[: width - 1] + "…"
