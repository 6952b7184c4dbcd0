"""The values the journal stores and returns: runs, changes (with their typed kind), marks.

Plain frozen dataclasses, no SQL: the engine builds :class:`NewChange` and :class:`ChangeMark`,
the journal returns :class:`RunRow` and :class:`ChangeRow`. A change's :class:`ChangeKind` says
what one row records (a ticket field, an action posted, an action removed), so nobody parses a
string to find out.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, TypeAlias

from halo_automate.core.outcome import RunOutcome, RunStatus

JSONValue: TypeAlias = (
    bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"] | None
)
ChangeState = Literal["pending", "done", "failed", "skipped"]


class ChangeKind(StrEnum):
    """What one change row records.

    ``field``: a ticket field (``field`` names it; before → after are its values).
    ``action``: an action posted (``field`` is the action's kind, ``after`` the body sent,
    ``action_ids`` the id Halo gave it). ``action-delete``: an action removed by an undo
    (``action_id`` is the action, ``before`` its body, so a later undo can post it again).
    """

    FIELD = "field"
    ACTION = "action"
    ACTION_DELETE = "action-delete"


@dataclass(frozen=True)
class Counts:
    """A run's counters as the journal keeps them (one column each): ``planned`` counts
    changes, ``done`` tickets written, ``requests`` every HTTP request of the run."""

    scanned: int = 0
    matched: int = 0
    planned: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    requests: int = 0

    @classmethod
    def of(cls, outcome: RunOutcome) -> Counts:
        """The columns of a finished run (a preview wrote nothing: ``done`` 0)."""
        done = 0 if outcome.status == RunStatus.PREVIEWED else outcome.changed
        return cls(outcome.scanned, outcome.matched, outcome.planned, done, outcome.failed,
                   outcome.skipped, outcome.requests)  # fmt: skip


@dataclass(frozen=True)
class RunStart:
    """What is known when a run starts; ``mode`` is e.g. apply/preview/undo and ``trigger``
    cli/schedule/apply-file/undo."""

    run_id: str
    playbook: str
    playbook_hash: str
    mode: str
    trigger: str
    started_by: str = field(default_factory=lambda: who())
    undo_of: str | None = None
    plan_json: str | None = None
    counts: Counts = Counts()
    instance_name: str = "default"
    instance_identity: str | None = None


@dataclass(frozen=True)
class RunRow:
    """One journaled run; its plan is not part of the row (``Journal.plan_json(run_id)``)."""

    run_id: str
    playbook: str
    playbook_hash: str
    mode: str
    undo_of: str | None
    started_by: str
    trigger: str
    started_at: datetime | str
    """A ``str`` is stored text that is not a date (a damaged row), shown as it is."""
    finished_at: datetime | str | None
    status: RunStatus
    counts: Counts
    message: str | None
    instance: str | None = None
    """The Halo's InstanceInfo facts (v3), JSON text."""
    instance_name: str = "default"
    """The config's name of the Halo the run talked to (v6)."""
    instance_identity: str | None = None
    """That Halo's API base URL and tenant (v6; None for older runs)."""


@dataclass(frozen=True)
class NewChange:
    """One part of one ticket that a batch is about to write (see :class:`ChangeKind`)."""

    ticket_id: int
    field: str
    before: JSONValue
    after: JSONValue
    batch: int = 0
    kind: ChangeKind = ChangeKind.FIELD
    action_id: int | None = None
    """The action an ``action-delete`` removes."""


@dataclass(frozen=True)
class ChangeRow:
    id: int
    run_id: str
    ticket_id: int
    field: str
    before: JSONValue
    after: JSONValue
    state: ChangeState
    message: str | None
    action_ids: tuple[int, ...]
    batch: int
    updated_at: datetime | str
    """A ``str``: stored text that is not a date, as for :attr:`RunRow.started_at`."""
    kind: ChangeKind = ChangeKind.FIELD
    action_id: int | None = None
    halo_at: str | None = None
    """Halo's own time of the write, from its answer (v7; None when unknown)."""

    @property
    def label(self) -> str:
        """How ``show`` names the row: the field, ``action:<kind>`` or ``action-delete:<id>``."""
        if self.kind is ChangeKind.ACTION:
            return f"action:{self.field}"
        if self.kind is ChangeKind.ACTION_DELETE:
            return f"action-delete:{self.action_id}"
        return self.field


@dataclass(frozen=True)
class ChangeMark:
    """The outcome of one change; ``action_ids=None`` keeps the ids already recorded."""

    change_id: int
    state: ChangeState
    message: str | None = None
    action_ids: Sequence[int] | None = None
    halo_at: str | None = None
    """Halo's time of the write, from its answer; None keeps what is recorded."""


def this_host() -> str:
    return socket.gethostname()


def who() -> str:
    """``user@host pid N`` for ``runs.started_by``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no $USER (containers)
        user = f"uid{os.getuid()}"
    return f"{user}@{this_host()} pid {os.getpid()}"
