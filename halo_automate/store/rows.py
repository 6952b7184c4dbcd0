"""SQLite rows to the journal's values, and values to the JSON text the rows hold."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from halo_automate.core.outcome import RunStatus
from halo_automate.store.locks import LockRow
from halo_automate.store.records import ChangeKind, ChangeRow, Counts, JSONValue, RunRow

COUNT_COLUMNS = ("scanned", "matched", "planned", "done", "failed", "skipped", "requests")
"""The ``runs`` columns that hold :class:`Counts` (one per field, same names)."""


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def stamp(value: object) -> datetime | str:
    """A run's or change's date: the datetime, or the stored text itself when it cannot be
    read as one (a row written by hand or damaged), so listing the journal never crashes
    on one bad row and the report shows what is there."""
    if not isinstance(value, str):
        return str(value)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
"""Built once: ``json.dumps`` with options builds an encoder per call (a journaled batch
dumps two values per row)."""


def dump(value: JSONValue) -> str:
    return _ENCODER.encode(value)


def run_row(row: sqlite3.Row) -> RunRow:
    finished = row["finished_at"]
    return RunRow(
        run_id=row["run_id"],
        playbook=row["playbook"],
        playbook_hash=row["playbook_hash"],
        mode=row["mode"],
        undo_of=row["undo_of"],
        started_by=row["started_by"],
        trigger=row["trigger"],
        started_at=stamp(row["started_at"]),
        finished_at=None if finished is None else stamp(finished),
        status=RunStatus(row["status"]),
        counts=Counts(**{name: int(row[name]) for name in COUNT_COLUMNS}),
        message=row["message"],
        instance=row["instance"] if "instance" in row.keys() else None,  # noqa: SIM118 - Row
        instance_name=row["instance_name"] if "instance_name" in row.keys() else "default",  # noqa: SIM118
        instance_identity=(
            row["instance_identity"] if "instance_identity" in row.keys() else None  # noqa: SIM118
        ),
    )


def change_row(row: sqlite3.Row) -> ChangeRow:
    return ChangeRow(
        id=int(row["id"]),
        run_id=row["run_id"],
        ticket_id=int(row["ticket_id"]),
        field=row["field"],
        before=json.loads(row["before_json"]),
        after=json.loads(row["after_json"]),
        state=row["state"],
        message=row["message"],
        action_ids=tuple(int(i) for i in json.loads(row["action_ids"])),
        batch=int(row["batch"]),
        updated_at=stamp(row["updated_at"]),
        kind=ChangeKind(row["kind"]),
        action_id=None if row["action_id"] is None else int(row["action_id"]),
        halo_at=row["halo_at"] if "halo_at" in row.keys() else None,  # noqa: SIM118 - v7
    )


def lock_row(row: sqlite3.Row) -> LockRow:
    return LockRow(
        playbook=row["playbook"],
        run_id=row["run_id"],
        owner_pid=int(row["owner_pid"]),
        owner_host=row["owner_host"],
        acquired_at=parse(row["acquired_at"]),
        heartbeat_at=parse(row["heartbeat_at"]),
    )
