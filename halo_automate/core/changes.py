"""The Plan value: what a run will write, ticket by ticket, before anything is written.

A :class:`Plan` holds :class:`TicketChange` values: field changes (``before``/``after``), the
ticket update that writes them, the actions to post (:class:`ActionSpec`, whose ``kind`` is a
posted kind of :mod:`halo_automate.core.actions.registry`) and, for undo, the actions to
delete. Preview, saved plans (:mod:`halo_automate.core.plan_doc`), limits, apply, the journal
and undo all speak about these values; :mod:`halo_automate.core.plan` makes them. A plan also
lists the tickets it could not evaluate (:class:`NotEvaluated`), so odd data is shown, not
silently written or silently dropped.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias, Union

JSONValue: TypeAlias = Union[  # noqa: UP007 (a recursive alias needs the string form)
    bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"], None
]
Ticket: TypeAlias = Mapping[str, Any]

PLAN_FORMAT = "halo-automate/plan"
PLAN_VERSION = 2
"""The version of the plan document this program writes (:mod:`halo_automate.core.plan_doc`)."""


@dataclass(frozen=True)
class FieldChange:
    before: JSONValue
    after: JSONValue


@dataclass(frozen=True)
class ActionSpec:
    """One POST /api/Actions element, without ticket_id (apply adds it)."""

    kind: str
    body: Mapping[str, JSONValue]


@dataclass(frozen=True)
class RemoveAction:
    """An action a run posted, deleted by its undo (``body`` kept to show it and re-post it)."""

    action_id: int
    body: Mapping[str, JSONValue]


@dataclass(frozen=True)
class TicketChange:
    ticket_id: int
    client_name: str
    summary: str
    reason: str
    fields: Mapping[str, FieldChange]
    ticket_update: Mapping[str, JSONValue]
    """The fields sent in the ticket update: a subset of ``fields`` with their ``after``
    values (an undo writes :func:`~halo_automate.core.values.restore_value` of them); the
    other fields are carried by a posted action (a close's status). Never stored apart in
    the plan document, so it cannot disagree with ``fields``."""
    actions: tuple[ActionSpec, ...]
    remove_actions: tuple[RemoveAction, ...] = ()
    """Actions on this ticket to delete (undo of posted actions); empty when planning."""


@dataclass(frozen=True)
class NotEvaluated:
    """A ticket planning could not decide (odd data): never written, listed in the plan."""

    ticket_id: int
    summary: str
    why: str
    """e.g. ``field agent_id is '2', not a whole number``."""


@dataclass(frozen=True)
class Group:
    """Duplicates and their survivor, as a plan shows them (:mod:`halo_automate.core.groups`)."""

    key: str
    """Why they grouped: the ``group.by`` values, e.g. ``client_id=12, summary≈"disk full"``."""
    survivor: int
    survivor_summary: str
    members: tuple[int, ...]
    """The duplicates (the survivor not included), oldest first."""


@dataclass(frozen=True)
class Plan:
    version: int
    run_id: str
    playbook: str
    playbook_hash: str
    created_at: str
    mode: str
    halo_rules: bool
    max_changes: int
    expect_min: int | None
    expect_max: int | None
    query: Mapping[str, str]
    scanned: int
    matched: int
    changes: tuple[TicketChange, ...]
    undo_of: str | None = None
    ignored_by_halo: int = 0
    not_evaluated: tuple[NotEvaluated, ...] = ()
    """Tickets whose verdict is unknown (skipped, never written), in scan order."""
    instance: str = "default"
    """The config's name of the Halo the plan was made against."""
    instance_identity: str = ""
    """That Halo's identity (API base URL and tenant, ``HaloSettings.identity``)."""
    playbook_source: str = ""
    """The playbook's text as planned (its sha256 is ``playbook_hash``); empty for an undo
    plan, whose changes come from the journal. ``apply`` re-derives every change from it."""
    groups: tuple[Group, ...] = ()
    """A ``group:`` playbook's groups that change something: the changes are their
    duplicates'; apply writes a duplicate only while its survivor still stands."""
    custom_field_reads: bool = False
    """The playbook reads custom fields (a ``where`` on ``customfield.X`` or a custom field
    write): apply reads each changed ticket in full before re-deriving it (1 request each)."""
    history_reads: int = 0
    """Changed tickets of a ``lifecycle:`` playbook whose actions apply reads again (those the
    journal shows the playbook acted on: 1 request each)."""
    irreversible: bool = False
    """The playbook said ``irreversible: true`` (a merge): shown as "cannot be undone"."""
    warnings: tuple[str, ...] = ()
    """What Halo is expected to refuse (a close lacking a ticket type's mandatory fields),
    one line each; found where the plan is shown (:mod:`halo_automate.engine.closing`)."""


def new_run_id(now: datetime) -> str:
    """A run id: UTC timestamp plus 6 random hex digits, e.g. ``20261124T051500-3f9a1c``."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def json_value(value: object) -> JSONValue:
    """A ticket value as JSON (Halo's values already are; anything else becomes text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)
