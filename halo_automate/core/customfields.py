"""Halo custom fields: naming them, reading them off a ticket, writing the whole array back.

A ticket's ``customfields`` is an array of objects as Halo returns them: ``id``, ``name`` (an
internal ``CF…`` name), ``label`` (what people call it), ``value`` and ``display`` (FACTS
§2.4). Playbooks name a field by its label, its name or its id:

* in ``where``: ``customfield.Contract Ref: {empty: true}`` (:data:`WHERE_PREFIX`), evaluated
  here on the client, because Halo's ticket list cannot filter on custom fields (HaloAPI #14);
* in ``set``: ``set: {customfields: {"Contract Ref": C-1042}}``; each changed field is one
  plan field ``customfields.Contract Ref`` (:data:`PLAN_PREFIX`, before → after, journaled
  and undone like any field).

The trap this module exists for (HaloAPI issue #13): posting a ``customfields`` array that
names only some fields blanks the others. So a write always sends the WHOLE array
(:func:`whole_array`: every field of the ticket as ``{id, value}``, the named ones changed),
built from the array the ticket had when it was planned; the stale check refuses the write
when any other field moved since (:func:`others_moved`), so a write never puts back an old
value of a field someone else changed.

Ticket list rows do not carry ``customfields`` (the sandbox, like Halo's list, leaves them
out unless asked per field id): a playbook that reads or writes custom fields costs one
``GET /api/Tickets/{id}`` per ticket it considers (:mod:`halo_automate.engine.powers`).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from halo_automate.errors import PlanError

WHERE_PREFIX = "customfield."
PLAN_PREFIX = "customfields."
ARRAY = "customfields"
IDS = "customfields#ids"
"""A ticket update's note of the id of each custom field it changes (by plan field name), so
an undo can find them in the array; like the plan fields, never sent to Halo."""


class Unread:
    """The value of a custom field on a ticket whose array was not read: equal to nothing,
    so a stale check or read-back on it never passes."""

    def __repr__(self) -> str:
        return "<custom fields not read>"

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0


UNREAD = Unread()


def is_where_field(name: str) -> bool:
    return name.startswith(WHERE_PREFIX) and len(name) > len(WHERE_PREFIX)


def is_plan_field(name: str) -> bool:
    return name.startswith(PLAN_PREFIX) and len(name) > len(PLAN_PREFIX)


def plan_field(key: str | int) -> str:
    """The plan's field name for the custom field a playbook names ``key``."""
    return f"{PLAN_PREFIX}{key}"


def key_of(name: str) -> str:
    """``Contract Ref`` from ``customfield.Contract Ref`` or ``customfields.Contract Ref``."""
    for prefix in (PLAN_PREFIX, WHERE_PREFIX):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def entries(ticket: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """The ticket's custom field objects, or None when the ticket carries no readable array."""
    array = ticket.get(ARRAY)
    if not isinstance(array, list):
        return None
    return [e for e in array if isinstance(e, Mapping)]


def find(array: Sequence[Mapping[str, Any]], key: str) -> Mapping[str, Any] | None:
    """The entry ``key`` names: its id (digits), else its label or name (case-insensitive)."""
    if key.isdigit():
        for entry in array:
            if str(entry.get("id")) == key:
                return entry
    folded = key.casefold()
    for field in ("label", "name"):
        for entry in array:
            if str(entry.get(field) or "").casefold() == folded:
                return entry
    return None


def value_of(ticket: Mapping[str, Any], name: str) -> Any:
    """The value of the custom field ``name`` (either prefix) for planning, stale checks and
    read-back: :data:`UNREAD` when the ticket carries no array or lacks the field."""
    array = entries(ticket)
    if array is None:
        return UNREAD
    entry = find(array, key_of(name))
    return UNREAD if entry is None else entry.get("value")


def condition_value(ticket: Mapping[str, Any], name: str) -> tuple[Any, str | None]:
    """(value as text or None, why it is unknown): a missing array or field, or a value that
    is not text or a number, is unknown (never a match)."""
    array = entries(ticket)
    key = key_of(name)
    if array is None:
        return None, f"custom fields of the ticket were not read ({name})"
    entry = find(array, key)
    if entry is None:
        return None, f"the ticket has no custom field {key!r}"
    value = entry.get("value")
    if value is None or value == "":
        return None, None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, f"custom field {key!r} holds {type(value).__name__}, not text"
    return str(value), None


def whole_array(ticket: Mapping[str, Any], changed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every custom field of the ticket as ``{id, value}``, the ``changed`` ones (by plan field
    name) at their new value: the array a write must send so no other field is blanked."""
    array = entries(ticket) or []
    wanted = {}
    for name, value in changed.items():
        entry = find(array, key_of(name))
        if entry is not None:
            wanted[id(entry)] = value
    return [
        {"id": e.get("id"), "value": wanted.get(id(e), e.get("value"))}
        for e in array
        if e.get("id") is not None
    ]


def fold(ticket: Mapping[str, Any], update: dict[str, Any]) -> None:
    """Give a ticket update that changes custom fields the whole array (in place), and the
    ids of the fields it changes (:data:`IDS`)."""
    changed = {k: v for k, v in update.items() if is_plan_field(k)}
    if not changed:
        return
    update[ARRAY] = whole_array(ticket, changed)
    array = entries(ticket) or []
    ids = {n: (e or {}).get("id") for n in changed if (e := find(array, key_of(n))) is not None}
    update[IDS] = ids


def sent(update: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a ticket update Halo is sent: no plan field names, no id notes."""
    return {k: v for k, v in update.items() if not is_plan_field(k) and k != IDS}


def undo_update(
    original: Mapping[str, Any] | None,
    update: dict[str, Any],
    current: Mapping[str, Any] | None = None,
) -> None:
    """Turn an undo's ticket update that restores custom fields (plan field names) into one
    that sends the whole array (in place), each field the run changed put back and no other:
    the ticket's array as read now (``current``), else the array the run wrote (``original``,
    the run's planned ticket update). The fields are found by the ids the run's plan noted
    (else, in the array read now, by label or name). PlanError when they cannot be found or
    no array is known: a partial array would blank the other fields."""
    restore = {k: v for k, v in update.items() if is_plan_field(k)}
    if not restore:
        return
    now = entries(current) if current is not None else None
    written = (original or {}).get(ARRAY)
    base = now if now is not None else written
    noted = (original or {}).get(IDS)
    ids = dict(noted) if isinstance(noted, Mapping) else {}
    for name in restore:
        if ids.get(name) is None and now is not None:
            ids[name] = (find(now, key_of(name)) or {}).get("id")
    if not isinstance(base, list) or any(ids.get(n) is None for n in restore):
        raise PlanError(
            "the run's plan is not in the journal, so its custom field changes cannot be "
            "undone without blanking other custom fields"
        )
    back = {str(ids.get(n)): "" if v is None else v for n, v in restore.items()}
    update[ARRAY] = [
        {"id": e.get("id"), "value": back.get(str(e.get("id")), e.get("value"))}
        for e in base
        if isinstance(e, Mapping) and e.get("id") is not None
    ]
    update[IDS] = {n: ids.get(n) for n in restore}


def to_document(update: Mapping[str, Any]) -> dict[str, Any] | None:
    """The plan document's form of an update's whole array (None: it sends none):
    ``{"ids": {plan field: id}, "array": [{"id", "value"} | {"id"}]}``, an entry without a
    value being a field the update changes (its value is the plan field's, stored once)."""
    array, ids = update.get(ARRAY), update.get(IDS)
    if array is None and ids is None:
        return None
    if not isinstance(array, list) or not isinstance(ids, Mapping):
        raise ValueError("a custom field write needs both its array and its field ids")
    changed = {str(i) for i in ids.values()}
    doc = {
        "ids": dict(ids),
        "array": [
            {"id": e["id"]} if str(e["id"]) in changed else {"id": e["id"], "value": e["value"]}
            for e in array
        ],
    }
    if from_document(doc, update) != {ARRAY: array, IDS: dict(ids)}:
        raise ValueError("the custom field array disagrees with its fields")
    return doc


def from_document(doc: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The update's ``customfields`` and id notes from :func:`to_document`'s form and the
    update's plan field ``values``. ValueError/TypeError/KeyError when malformed."""
    ids, array = doc["ids"], doc["array"]
    if set(doc) != {"ids", "array"} or not isinstance(ids, dict) or not isinstance(array, list):
        raise ValueError("'customfields' is {ids: {...}, array: [...]}")
    sent: dict[str, Any] = {}
    for name, field_id in ids.items():
        if name not in values or not is_plan_field(name):
            raise ValueError(f"custom field id of {name!r}, which the update does not change")
        if isinstance(field_id, bool) or not isinstance(field_id, int | str):
            raise TypeError(f"custom field id {field_id!r} is not an id")
        value = values[name]
        sent[str(field_id)] = "" if value is None else value
    out: list[dict[str, Any]] = []
    for entry in array:
        if not isinstance(entry, dict) or "id" not in entry or set(entry) - {"id", "value"}:
            raise ValueError(f"custom field entry {entry!r} is not {{id, value}}")
        key = str(entry["id"])
        if ("value" in entry) == (key in sent):
            raise ValueError(f"custom field {entry['id']!r}: a value exactly when unchanged")
        out.append({"id": entry["id"], "value": entry["value"] if "value" in entry else sent[key]})
    return {ARRAY: out, IDS: dict(ids)}


def _named(entry: Mapping[str, Any], key: str) -> bool:
    folded = key.casefold()
    return any(str(entry.get(f) or "").casefold() == folded for f in ("label", "name"))


def others_moved(update: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    """Why a planned whole-array write would clobber someone's edit: a field the plan does not
    change whose value moved since the plan (None when none did, or nothing writes the array)."""
    planned = update.get(ARRAY)
    if not isinstance(planned, list):
        return None
    array = entries(current)
    if array is None:
        return "custom fields of the ticket could not be read back"
    changed = [key_of(n) for n in update if is_plan_field(n)]
    ids = update.get(IDS)
    changed += [str(i) for i in ids.values()] if isinstance(ids, Mapping) else []
    now = {str(e.get("id")): e for e in array}
    for entry in planned:
        if not isinstance(entry, Mapping):
            continue
        found = now.get(str(entry.get("id")))
        if found is None:
            return f"custom field {entry.get('id')} is gone from the ticket"
        if any(str(found.get("id")) == k or _named(found, k) for k in changed):
            continue
        if not _same_text(found.get("value"), entry.get("value")):
            label = found.get("label") or found.get("name") or found.get("id")
            return (
                f"changed since the plan: custom field {label!r} is {found.get('value')!r}, "
                f"plan expected {entry.get('value')!r}"
            )
    return None


def _same_text(a: object, b: object) -> bool:
    empty = (None, "")
    if a in empty and b in empty:
        return True
    return str(a) == str(b)


def needs_custom_fields(fields: Sequence[str]) -> bool:
    """Whether any of these (where or plan) field names is a custom field."""
    return any(is_where_field(f) or is_plan_field(f) for f in fields)
