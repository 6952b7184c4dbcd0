"""``set``: write ticket fields, names resolved through Halo's lookup lists.

``set: {status: Closed, team: Second Line, onhold: true}``. A key that is a ``set_key`` of
:mod:`halo_automate.core.schema` takes a name (or an id) and writes the fields its schema row
names; any other key must be a ticket field that list rows show, set verbatim with a value of
its type. ``customfields`` takes a mapping of custom field label (or name, or id) to value:
``set: {customfields: {"Contract Ref": C-1042}}``; each is the plan field
``customfields.Contract Ref``, and the update sends the ticket's whole array with only those
changed (:mod:`halo_automate.core.customfields`: a partial array blanks the others in Halo).
Written in the ticket update; undone by restoring the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from halo_automate.core import customfields
from halo_automate.core.actions.base import (
    ActionKind,
    Compiled,
    Report,
    UndoneBy,
    Write,
    WriteRule,
    WrittenAs,
    resolve,
    static,
)
from halo_automate.core.changes import Ticket
from halo_automate.core.conditions import Path
from halo_automate.core.fields import ticket_fields, ticket_list_fields
from halo_automate.core.lookups import Lookups
from halo_automate.core.schema import SET_KINDS, SET_NAMES
from halo_automate.core.suggest import field_hint

_SET_VALUE_KINDS: dict[str, type | tuple[type, ...]] = {
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "string": str,
}


class SetAction(ActionKind[Mapping[str, Any]]):
    key = "set"
    spec_type = dict[str, Any]
    written_as = frozenset({WrittenAs.TICKET_FIELDS})
    undone_by = frozenset({UndoneBy.RESTORING_FIELDS})
    position = 10

    def language(self) -> list[str]:
        return list(SET_NAMES)

    def check(self, spec: Mapping[str, Any], path: Path, report: Report) -> list[tuple[str, Path]]:
        if not spec:
            report(path, "'set' needs at least one field")
        writes: list[tuple[str, Path]] = []
        for name, value in spec.items():
            key_path = (*path, name)
            if name == customfields.ARRAY:
                writes += _check_custom(value, key_path, report)
                continue
            problem = _problem(name, value)
            if problem:
                report(key_path, problem)
            writes.extend((halo_field, key_path) for halo_field in SET_NAMES.get(name, (name,)))
        return writes

    def lookups(self, spec: Mapping[str, Any]) -> set[str]:
        return {SET_KINDS[k].kind for k in spec if k in SET_KINDS}

    def compile(self, spec: Mapping[str, Any], lookups: Lookups, playbook: str) -> Compiled:
        rules: list[WriteRule] = []
        for name, value in spec.items():
            kind = SET_KINDS.get(name)
            if name == customfields.ARRAY:
                rules += [_custom_rule(str(k), v) for k, v in value.items()]
                continue
            if kind is None:
                rules.append(static(Write(name, value)))
                continue
            item = resolve(playbook, f"set {name}", lookups.table(kind.kind), value)
            first, *rest = (
                (field, kind.value_for(field, item.id, item.name)) for field in kind.set_writes
            )
            rules.append(static(Write(first[0], first[1], tuple(rest))))
        return Compiled(writes=tuple(rules))


def _check_custom(value: object, path: Path, report: Report) -> list[tuple[str, Path]]:
    if not isinstance(value, Mapping) or not value:
        report(
            path, 'set customfields: give a mapping of field to value, e.g. {"Contract Ref": C-1})'
        )
        return []
    writes: list[tuple[str, Path]] = []
    for key, item in value.items():
        if not isinstance(key, str | int) or isinstance(key, bool) or str(key).strip() == "":
            report(path, f"set customfields: {key!r} is not a custom field label, name or id")
        elif item is not None and (
            isinstance(item, bool) or not isinstance(item, str | int | float)
        ):
            report((*path, key), f"set customfields: {item!r} is not text or a number")
        writes.append((customfields.plan_field(key), (*path, key)))
    return writes


def _custom_rule(key: str, value: Any) -> WriteRule:
    name = customfields.plan_field(key)
    after = "" if value is None else value

    def rule(ticket: Ticket) -> Write:
        array = customfields.entries(ticket)
        if array is None:
            raise ValueError("the ticket's custom fields could not be read")
        if customfields.find(array, key) is None:
            raise ValueError(f"the ticket has no custom field {key!r}")
        return Write(name, after)

    return rule


def _problem(name: str, value: object) -> str | None:
    kind = SET_KINDS.get(name)
    if kind is not None:
        ok = isinstance(value, str) and value != ""
        if kind.id_field in kind.set_writes:  # an id is accepted where an id is written
            ok = ok or (isinstance(value, int) and not isinstance(value, bool))
        if ok:
            return None
        shown = "null" if value is None else repr(value)
        unassign = f"; to unassign, write {kind.id_field}: 0" if name == "agent" else ""
        return f"set {name}: give a name, not {shown}{unassign}"
    if name == "id" or name.startswith("_"):
        return f"set {name}: '{name}' is not ticket state and cannot be set by a playbook"
    halo_type = ticket_fields().get(name)
    if halo_type is None:
        hint = field_hint(name, [*SET_NAMES, *ticket_fields()])
        return f"set: unknown ticket field '{name}'{hint}"
    if name not in ticket_list_fields():
        return (
            f"set {name}: ticket lists do not show '{name}', so a plan could not tell whether a "
            "ticket already holds the value (the change would repeat on every run)"
        )
    wanted = _SET_VALUE_KINDS.get(halo_type)
    bad_bool = isinstance(value, bool) and halo_type != "boolean"
    if value is None or bad_bool or (wanted is not None and not isinstance(value, wanted)):
        return f"set {name}: {value!r} is not a {halo_type} value"
    return None


KIND = SetAction()
