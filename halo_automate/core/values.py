"""When two Halo values are the same value: the one equality of planning and applying.

The planner asks "does the ticket already hold the target?" (then it plans nothing), the stale
check asks "does the planned 'before' still hold?", and the read-back after an unknown outcome
asks "did the 'after' land?". All three compare a value read from Halo with one the plan holds,
so they use this one function: if they disagreed, a change the planner skipped as already made
could be read back as not landed (and re-sent), or the reverse.

Real Halo leaves unset fields out of list rows (FACTS §9.2: a live row had no
``hasbeenclosed``, ``dateclosed``, ``category_2``..``4`` or ``deleted``), so a missing key
must read as unset. Every value read from a ticket to be compared or recorded goes through
:func:`field_value`: a missing field is its type's unset value ("" for text, 0 for ids and
numbers, false for flags), so a missing flag agrees with a planned false; and an undo writes
:func:`restore_value`, the unset value for a null before-value (Halo binds a null as "not
sent" and would leave the field as the run set it).
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from halo_automate.core import customfields
from halo_automate.core.dates import UNSET_DATE
from halo_automate.core.fields import ticket_fields

_EMPTY = (None, "", UNSET_DATE)
_UNSET_OF_KIND: dict[str, Any] = {"string": "", "integer": 0, "number": 0, "boolean": False}


def unset_of(name: str) -> Any:
    """The value that means "unset" for the ticket field ``name`` (None if its type is not
    text, number or flag)."""
    return _UNSET_OF_KIND.get(ticket_fields().get(name, ""))


def field_value(ticket: Mapping[str, Any], name: str) -> Any:
    """A ticket's value of ``name``; a key Halo left out is the field's unset value (a null
    Halo sent stays None, which :func:`same` already counts as empty). A custom field
    (``customfields.<label>``) is read from the ticket's array
    (:mod:`~halo_automate.core.customfields`)."""
    if customfields.is_plan_field(name):
        return customfields.value_of(ticket, name)
    return ticket[name] if name in ticket else unset_of(name)


def restore_value(name: str, value: Any) -> Any:
    """What to write to put ``name`` back to ``value``: a None before-value (the field was
    null) is written as the field's unset value, since Halo binds a null as "not sent"."""
    if value is None:
        unset = unset_of(name)
        return value if unset is None else unset
    return value


def same(a: object, b: object) -> bool:
    """Equality as Halo stores values: None and "" are both 'empty', and so is Halo's unset
    date; an int and its decimal text agree (Halo answers some ids as strings); otherwise
    plain equality. Compare a ticket's value through :func:`field_value`, so that a missing
    flag is false and a missing id 0."""
    if a in _EMPTY and b in _EMPTY:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if (isinstance(a, int | float) and isinstance(b, str)) or (
        isinstance(b, int | float) and isinstance(a, str)
    ):
        return str(a) == str(b)
    return bool(a == b)
