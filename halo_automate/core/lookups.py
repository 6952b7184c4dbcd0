"""Halo lookup lists (statuses, categories, teams, ...) as pure, frozen values.

The client fills a :class:`Lookups` from the API; planning resolves names to ids through it
and never talks to Halo. Names resolve case-insensitively; an unknown name raises
:class:`LookupMissError` with a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import LookupMissError


@dataclass(frozen=True)
class LookupItem:
    id: int
    name: str
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class LookupTable:
    """One lookup list with id and case-insensitive name indexes."""

    def __init__(self, kind: str, items: Iterable[LookupItem]) -> None:
        self.kind = kind
        self.items: tuple[LookupItem, ...] = tuple(items)
        self._by_id = {i.id: i for i in self.items}
        self._by_name: dict[str, LookupItem] = {}
        for item in self.items:
            self._by_name.setdefault(item.name.casefold(), item)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"LookupTable({self.kind!r}, {len(self.items)} items)"

    def by_id(self, item_id: int) -> LookupItem | None:
        return self._by_id.get(item_id)

    def by_name(self, name: str) -> LookupItem | None:
        return self._by_name.get(name.casefold())

    def resolve(self, value: str | int) -> LookupItem:
        """Resolve a name (or an int id, or a numeric string id) to the item."""
        if isinstance(value, bool):
            raise LookupMissError(self.kind, value)
        if isinstance(value, int):
            found = self._by_id.get(value)
        else:
            found = self.by_name(value)
            if found is None and value.strip().isdigit():
                found = self._by_id.get(int(value))
        if found is None:
            hint = did_you_mean(str(value), [i.name for i in self.items])
            raise LookupMissError(self.kind, value, hint)
        return found

    def name_of(self, item_id: int | None) -> str | None:
        item = self._by_id.get(item_id) if item_id is not None else None
        return item.name if item else None


def table(kind: str, rows: Iterable[Mapping[str, Any]], name_key: str = "name") -> LookupTable:
    """Build a table from raw Halo rows (``id`` plus ``name_key``)."""
    items = []
    for row in rows:
        item_id = row.get("id")
        name = row.get(name_key)
        if isinstance(item_id, int) and isinstance(name, str):
            items.append(LookupItem(item_id, name, MappingProxyType(dict(row))))
    return LookupTable(kind, items)


@dataclass(frozen=True)
class Lookups:
    """Every lookup a plan may need.

    ``categories`` maps a category field number (Halo's Category ``type_id``: 1 for
    ``category_1`` ...) to that list, whose names are the Category ``value`` text that
    tickets carry in ``category_n``.
    """

    statuses: LookupTable = field(default_factory=lambda: LookupTable("status", ()))
    categories: Mapping[int, LookupTable] = field(default_factory=dict)
    ticket_types: LookupTable = field(default_factory=lambda: LookupTable("ticket type", ()))
    teams: LookupTable = field(default_factory=lambda: LookupTable("team", ()))
    agents: LookupTable = field(default_factory=lambda: LookupTable("agent", ()))
    priorities: LookupTable = field(default_factory=lambda: LookupTable("priority", ()))
    outcomes: LookupTable = field(default_factory=lambda: LookupTable("outcome", ()))
    clients: LookupTable = field(default_factory=lambda: LookupTable("client", ()))

    @staticmethod
    def from_rows(
        *,
        statuses: Iterable[Mapping[str, Any]] = (),
        categories: Mapping[int, Iterable[Mapping[str, Any]]] | None = None,
        ticket_types: Iterable[Mapping[str, Any]] = (),
        teams: Iterable[Mapping[str, Any]] = (),
        agents: Iterable[Mapping[str, Any]] = (),
        priorities: Iterable[Mapping[str, Any]] = (),
        outcomes: Iterable[Mapping[str, Any]] = (),
        clients: Iterable[Mapping[str, Any]] = (),
    ) -> Lookups:
        """Build from raw Halo rows as the API returns them."""
        return Lookups(
            statuses=table("status", statuses),
            categories={
                level: table(f"category_{level} value", rows, name_key="value")
                for level, rows in (categories or {}).items()
            },
            ticket_types=table("ticket type", ticket_types),
            teams=table("team", teams),
            agents=table("agent", agents),
            priorities=table("priority", priorities),
            outcomes=table("outcome", outcomes, name_key="outcome"),
            clients=table("client", clients),
        )

    def category(self, level: int) -> LookupTable:
        """The category list for ``category_<level>`` (empty when Halo has none)."""
        return self.categories.get(level) or LookupTable(f"category_{level} value", ())
