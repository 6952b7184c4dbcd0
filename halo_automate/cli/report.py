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

from halo_automate.cli.history_view import history_table
from halo_automate.cli.show_view import show_run
from halo_automate.sanitize import clean_text
from halo_automate.store.journal import ChangeRow, RunRow

REPORT_VERSION = 1
__all__ = ["history_json", "history_table", "run_json", "show_run"]
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
