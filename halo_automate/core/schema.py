"""What halo_automate knows about Halo's lookup lists: one row per kind, every table derives.

A lookup kind (statuses, category_1..4, ticket_types, teams, agents, priorities, outcomes,
clients) is one :class:`LookupKind` row of :data:`LOOKUP_KINDS`: where Halo lists it (endpoint,
query parameters, envelope), which keys of a record are its id and its name, which ``select``
filters take its names, which ``set`` key writes it and the Halo fields that key writes, and
which ticket fields hold its ids and names. The client fetches by these rows
(:mod:`halo_automate.halo.lookups`), :class:`~halo_automate.core.lookups.Lookups` builds its
tables by them, and selection, planning, preview, undo and the benchmark's baseline read their
filters, set keys and ticket fields from here, so a new kind (or a fact learnt about Halo,
e.g. FACTS §9.1: real priorities are keyed by ``priorityid``) is one changed row.

Pure data: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

CATEGORY_LEVELS = (1, 2, 3, 4)


class Envelope(StrEnum):
    """How Halo wraps a list."""

    LIST = "list"
    """A bare JSON array, or an object holding it under ``list_key`` (``results``)."""
    PAGED = "paged"
    """Paged (``pageinate``/``page_no``): objects with ``record_count`` and ``list_key``."""


@dataclass(frozen=True)
class LookupKind:
    """One Halo lookup list and everything the program knows about it."""

    kind: str
    """The name the program uses (``statuses``, ``category_1``)."""
    label: str
    """What an unknown name is said to be in errors (``status``, ``category_1 value``)."""
    endpoint: str
    """``GET /api/<endpoint>``."""
    params: Mapping[str, str] = field(default_factory=dict)
    envelope: Envelope = Envelope.LIST
    list_key: str = "results"
    id_key: str = "id"
    name_key: str = "name"
    scope_key: str | None = None
    """A key whose rows repeat one item per scope (a priority per SLA: ``slaid``): rows with
    one name and one id are one item; one name under different ids is ambiguous."""
    scope_label: str = ""
    """What errors call a scope (``SLA``)."""
    select_filters: tuple[str, ...] = ()
    """``select`` parameters whose values may be names of this list (resolved to ids)."""
    select_reads: tuple[str, ...] = ()
    """Other ``select`` parameters whose re-check reads this list (``open_only``)."""
    set_key: str | None = None
    """The ``set`` key that takes a name of this list."""
    set_writes: tuple[str, ...] = ()
    """The Halo fields that ``set`` key writes, in order: the id field gets the item's id,
    the name field its name (a team writes ``team_id`` and the ``team`` name with it)."""
    id_field: str | None = None
    """The ticket field holding an id of this list (preview shows ``1 (New)``)."""
    name_field: str | None = None
    """The ticket field holding a name of this list (list rows may carry only the name)."""

    @property
    def path(self) -> str:
        """``GET /api/<endpoint>``, as errors name it."""
        return f"GET /api/{self.endpoint}"

    def value_for(self, halo_field: str, item_id: int, name: str) -> int | str:
        """What ``set`` writes into ``halo_field`` for the item (its id or its name)."""
        return item_id if halo_field == self.id_field else name


def _category(level: int) -> LookupKind:
    name = f"category_{level}"
    return LookupKind(
        kind=name,
        label=f"{name} value",
        endpoint="Category",
        params={"type_id": str(level)},
        name_key="value",
        select_filters=(name,),
        set_key=name,
        set_writes=(name,),
        id_field=f"categoryid_{level}",
        name_field=name,
    )


LOOKUP_KINDS: Mapping[str, LookupKind] = MappingProxyType(
    {
        k.kind: k
        for k in (
            LookupKind(
                "statuses",
                "status",
                "Status",
                select_filters=("status", "status_id"),
                select_reads=("open_only", "closed_only"),
                set_key="status",
                set_writes=("status_id",),
                id_field="status_id",
            ),
            *(_category(level) for level in CATEGORY_LEVELS),
            LookupKind(
                "ticket_types",
                "ticket type",
                "TicketType",
                select_filters=("requesttype", "requesttype_id"),
                set_key="tickettype",
                set_writes=("tickettype_id",),
                id_field="tickettype_id",
            ),
            LookupKind(
                "teams",
                "team",
                "Team",
                select_filters=("team",),
                set_key="team",
                set_writes=("team_id", "team"),
                id_field="team_id",
                name_field="team",
            ),
            LookupKind(
                "agents",
                "agent",
                "Agent",
                select_filters=("agent", "agent_id"),
                set_key="agent",
                set_writes=("agent_id",),
                id_field="agent_id",
            ),
            LookupKind(
                "priorities",
                "priority",
                "Priority",
                id_key="priorityid",  # FACTS §9.1: Policy rows, ``id`` is a GUID per SLA
                scope_key="slaid",
                scope_label="SLA",
                select_filters=("priority",),
                set_key="priority",
                set_writes=("priority_id",),
                id_field="priority_id",
            ),
            LookupKind("outcomes", "outcome", "Outcome", name_key="outcome"),
            LookupKind(
                "clients",
                "client",
                "Client",
                envelope=Envelope.PAGED,
                list_key="clients",
                select_filters=("client_id", "client_ids"),
                id_field="client_id",
            ),
        )
    }
)
"""Every lookup kind, by name."""

CATEGORY_FIELDS = tuple(f"category_{level}" for level in CATEGORY_LEVELS)
"""The ticket fields holding category text (``category_1``..``category_4``)."""

SET_KINDS: Mapping[str, LookupKind] = MappingProxyType(
    {k.set_key: k for k in LOOKUP_KINDS.values() if k.set_key is not None}
)
"""``set`` keys that take a name, and the kind that resolves it."""

SET_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {key: k.set_writes for key, k in SET_KINDS.items()}
)
"""``set`` keys that take a name -> the Halo fields they write."""

SELECT_NAMED: Mapping[str, LookupKind] = MappingProxyType(
    {name: k for k in LOOKUP_KINDS.values() for name in k.select_filters}
)
"""``select`` parameters whose values may be names, and the kind that resolves them."""

SELECT_READS: Mapping[str, LookupKind] = MappingProxyType(
    {name: k for k in LOOKUP_KINDS.values() for name in (*k.select_filters, *k.select_reads)}
)
"""Every ``select`` parameter whose resolution or re-check reads a lookup list."""

ID_FIELDS: Mapping[str, LookupKind] = MappingProxyType(
    {k.id_field: k for k in LOOKUP_KINDS.values() if k.id_field is not None}
)
"""Ticket fields holding lookup ids, and the kind that names them."""


def lookup_kind(kind: str) -> LookupKind:
    """The row of ``kind``; ValueError for a kind the program does not know."""
    found = LOOKUP_KINDS.get(kind)
    if found is None:
        raise ValueError(f"unknown lookup kind {kind!r}")
    return found


def category_kind(level: int) -> LookupKind:
    """The row of ``category_<level>``."""
    return lookup_kind(f"category_{level}")
