"""``recategorize``: replace retired category values (and optionally empty ones).

``recategorize: {field: category_1, map: {old: new}, empty: value}``. Every target must be in
Halo's list for that field; the ticket's category text is rewritten in the ticket update.
Undone by restoring the field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from halo_automate.core.actions.base import (
    ActionKind,
    Compiled,
    Report,
    UndoneBy,
    Write,
    WrittenAs,
)
from halo_automate.core.changes import Ticket
from halo_automate.core.conditions import Path
from halo_automate.core.lookups import Lookups, LookupTable
from halo_automate.errors import PlanError


class RecategorizeSpec(BaseModel):
    """``recategorize``: replace retired category values (and optionally empty ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    field: Literal["category_1", "category_2", "category_3", "category_4"]
    map: dict[str, str] = Field(default_factory=dict)
    empty: str | None = None


class RecategorizeAction(ActionKind[RecategorizeSpec]):
    key = "recategorize"
    spec_type = RecategorizeSpec
    written_as = frozenset({WrittenAs.TICKET_FIELDS})
    undone_by = frozenset({UndoneBy.RESTORING_FIELDS})
    position = 40

    def check(self, spec: RecategorizeSpec, path: Path, report: Report) -> list[tuple[str, Path]]:
        if not spec.map and spec.empty is None:
            report(path, "recategorize needs a 'map' of old -> new values, or 'empty'")
        for old, new in spec.map.items():
            key_path = (*path, "map", old)
            if old == "":
                report(key_path, "map an empty value with 'empty:', not an empty key")
            elif old == new:
                report(key_path, f"recategorize maps {old!r} to itself")
            elif new in spec.map and spec.map[new] != new:
                report(key_path, f"{new!r} is both a target and a key of the map (chained remap)")
            if new == "":
                report(key_path, f"recategorize maps {old!r} to an empty value")
        if spec.empty == "":
            report((*path, "empty"), "'empty' needs a category value")
        elif spec.empty is not None and spec.empty in spec.map:
            report((*path, "empty"), f"{spec.empty!r} is both the empty target and a map key")
        return [(spec.field, path)]

    def lookups(self, spec: RecategorizeSpec) -> set[str]:
        return {spec.field}

    def compile(self, spec: RecategorizeSpec, lookups: Lookups, playbook: str) -> Compiled:
        table = lookups.table(spec.field)
        targets = [*spec.map.values(), *([spec.empty] if spec.empty is not None else [])]
        missing = sorted({t for t in targets if table.by_name(t) is None})
        if missing:
            raise PlanError(
                f"playbook {playbook}: recategorize {spec.field}: target value(s) "
                f"{', '.join(repr(m) for m in missing)} are not in Halo's {spec.field} list"
            )
        mapping = {old: _canonical(table, new) for old, new in spec.map.items()}
        empty = _canonical(table, spec.empty) if spec.empty is not None else None
        field = spec.field

        def rule(ticket: Ticket) -> Write | None:
            current = ticket.get(field)
            if current is None or current == "":
                return Write(field, empty) if empty is not None else None
            target = mapping.get(current) if isinstance(current, str) else None
            return Write(field, target) if target is not None else None

        return Compiled(writes=(rule,))


def _canonical(table: LookupTable, name: str) -> str:
    item = table.by_name(name)
    assert item is not None
    return item.name


KIND = RecategorizeAction()
