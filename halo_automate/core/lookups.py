"""Halo lookup lists (statuses, categories, teams, ...) as pure, frozen values.

The client fills a :class:`Lookups` from the API, one table per lookup kind built by the kind's
row in :mod:`halo_automate.core.schema`; planning resolves names to ids through it and never
talks to Halo. Names resolve case-insensitively; an unknown name raises
:class:`LookupMissError` with a did-you-mean. Lists that repeat an item per scope (Halo's
priorities: one ``Policy`` row per SLA, FACTS §9.1) are deduplicated by (id, name); a name
held under different ids resolves to nothing and raises :class:`LookupAmbiguousError`
naming the ids and their scopes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from halo_automate.core.schema import LookupKind, category_kind, lookup_kind
from halo_automate.core.suggest import closest_hint
from halo_automate.errors import LookupAmbiguousError, LookupMissError


@dataclass(frozen=True)
class LookupItem:
    id: int
    name: str
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class LookupTable:
    """One lookup list with id and case-insensitive name indexes."""

    def __init__(
        self,
        kind: str,
        items: Iterable[LookupItem],
        ambiguous: Mapping[str, str] | None = None,
        *,
        lookup: str = "",
        scopes: Mapping[int, tuple[str, ...]] | None = None,
    ) -> None:
        self.kind = kind
        self.lookup = lookup
        """The lookup kind's name (``agents``), which ``halo-automate lookups`` lists."""
        self._scopes = dict(scopes or {})
        """item id -> the scopes it is listed in (a priority's SLAs)."""
        self.items: tuple[LookupItem, ...] = tuple(items)
        self._by_id = {i.id: i for i in self.items}
        self._by_name: dict[str, LookupItem] = {}
        self._ambiguous = dict(ambiguous or {})
        """casefolded name -> where its different ids are used (resolving it is an error)."""
        for item in self.items:
            self._by_name.setdefault(item.name.casefold(), item)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"LookupTable({self.kind!r}, {len(self.items)} items)"

    def by_id(self, item_id: int) -> LookupItem | None:
        return self._by_id.get(item_id)

    def by_name(self, name: str) -> LookupItem | None:
        """The item of ``name``; LookupAmbiguousError when the name has different ids."""
        where = self._ambiguous.get(name.casefold())
        if where is not None:
            raise LookupAmbiguousError(self.kind, name, where)
        return self._by_name.get(name.casefold())

    def scopes_of(self, item_id: int) -> tuple[str, ...]:
        """The scopes (a priority's SLAs) the item is listed in; empty for unscoped kinds."""
        return self._scopes.get(item_id, ())

    def miss(self, value: object) -> LookupMissError:
        """The error for a name or id this list lacks: the closest names, and the command
        that lists them all (the one place such a message is built)."""
        hint = closest_hint(str(value), [i.name for i in self.items])
        where = f" (see: halo-automate lookups {self.lookup})" if self.lookup else ""
        return LookupMissError(self.kind, value, hint + where)

    def resolve(self, value: str | int) -> LookupItem:
        """Resolve a name (or an int id, or a numeric string id) to the item."""
        if isinstance(value, bool):
            raise self.miss(value)
        if isinstance(value, int):
            found = self._by_id.get(value)
        else:
            found = self.by_name(value)
            if found is None and value.strip().isdigit():
                found = self._by_id.get(int(value))
        if found is None:
            raise self.miss(value)
        return found

    def name_of(self, item_id: int | None) -> str | None:
        item = self._by_id.get(item_id) if item_id is not None else None
        return item.name if item else None


def kind_table(kind: LookupKind, rows: Iterable[Mapping[str, Any]]) -> LookupTable:
    """Build the table of one lookup kind from raw Halo rows (its id and name keys).

    Rows repeating one (id, name) (a priority per SLA) make one item, the first row its raw
    record; a name under different ids is recorded as ambiguous with the scopes of each id.
    A row without an integer under the kind's id key but with an integer ``id`` (the shape
    the sandbox served for priorities before FACTS §9.1 was known) is read by ``id``.
    """
    items: dict[tuple[int, str], LookupItem] = {}
    scopes: dict[str, dict[int, list[str]]] = {}
    for row in rows:
        item_id = row.get(kind.id_key)
        if not isinstance(item_id, int):
            item_id = row.get("id")
        name = row.get(kind.name_key)
        if not isinstance(item_id, int) or isinstance(item_id, bool) or not isinstance(name, str):
            continue
        items.setdefault((item_id, name), LookupItem(item_id, name, MappingProxyType(dict(row))))
        scope = row.get(kind.scope_key) if kind.scope_key else None
        where = scopes.setdefault(name.casefold(), {}).setdefault(item_id, [])
        if scope is not None and str(scope) not in where:
            where.append(str(scope))
    ambiguous = {
        folded: "; ".join(
            f"id {i} in {kind.scope_label or kind.scope_key} {', '.join(s) or '?'}"
            for i, s in sorted(ids.items())
        )
        for folded, ids in scopes.items()
        if len(ids) > 1
    }
    by_id: dict[int, tuple[str, ...]] = {}
    for ids in scopes.values():
        for i, s in ids.items():
            by_id[i] = tuple(dict.fromkeys((*by_id.get(i, ()), *s)))
    return LookupTable(kind.label, items.values(), ambiguous, lookup=kind.kind, scopes=by_id)


@dataclass(frozen=True)
class Lookups:
    """Every lookup list a plan may need, by kind (:data:`~halo_automate.core.schema.LOOKUP_KINDS`).

    A kind that was not fetched reads as an empty list. The category lists are the kinds
    ``category_1``..``category_4`` (Halo's Category ``type_id`` 1..4), whose names are the
    Category ``value`` text that tickets carry in ``category_n``.
    """

    tables: Mapping[str, LookupTable] = field(default_factory=dict)

    @staticmethod
    def from_rows(
        *,
        categories: Mapping[int, Iterable[Mapping[str, Any]]] | None = None,
        **rows: Iterable[Mapping[str, Any]],
    ) -> Lookups:
        """Build from raw Halo rows as the API returns them, keyword per kind
        (``statuses=[...]``), categories as ``{level: rows}``."""
        by_kind = dict(rows)
        for level, level_rows in (categories or {}).items():
            by_kind[category_kind(level).kind] = level_rows
        return Lookups(
            MappingProxyType(
                {
                    kind: kind_table(lookup_kind(kind), kind_rows)
                    for kind, kind_rows in by_kind.items()
                }
            )
        )

    def table(self, kind: str) -> LookupTable:
        """The list of ``kind`` (empty when it was not fetched); ValueError for an unknown kind."""
        found = self.tables.get(kind)
        if found is not None:
            return found
        return LookupTable(lookup_kind(kind).label, (), lookup=lookup_kind(kind).kind)

    def category(self, level: int) -> LookupTable:
        """The category list for ``category_<level>`` (empty when Halo has none)."""
        return self.table(category_kind(level).kind)

    # Shorthands for the lists code and tests name directly.
    @property
    def statuses(self) -> LookupTable:
        return self.table("statuses")

    @property
    def outcomes(self) -> LookupTable:
        return self.table("outcomes")

    @property
    def agents(self) -> LookupTable:
        return self.table("agents")

    @property
    def clients(self) -> LookupTable:
        return self.table("clients")
