"""Duplicate groups (issue 18): a playbook's ``group:`` and ``keep:``, and how the tickets it
matched become groups of one survivor and its duplicates.

```yaml
group:
  by: [client_id, {summary: normalized}]   # the key: values equal, or equal once normalised
  within: 24h                               # only tickets whose dateoccurred lie this close
keep: oldest                                # the survivor: oldest | newest
actions:
  - link: {note: "Linked as a duplicate of #{survivor.id} by {playbook}"}
```

**The key.** Each ``by`` entry is a ticket list field compared exactly (``client_id``) or
``{field: normalized}``: case folded, ``[bracketed tags]`` removed, digits removed, runs of
whitespace made one space, so "[Alert] Disk C: 91% full" and "[alert] disk c: 95%  full" are
one key and "Disk D" is another. A ticket whose key field is missing, null or not text (a
normalised field) has no key: it is listed as not evaluated, never grouped.

**The window.** Tickets of one key are sorted by ``dateoccurred`` (then id); a group starts at
the first and takes each next ticket whose ``dateoccurred`` lies within ``within`` of the
group's first; the next one beyond starts a new group. Without ``within`` a key is one group.
A ticket whose ``dateoccurred`` cannot be read is not evaluated.

**Links people made.** A ticket whose ``parent_id`` names a ticket outside its key's tickets
(linked by a person to something else) is left alone: not grouped, not a survivor. Merged
tickets (``merged_into_id`` set) are done and left out. A list row without ``parent_id`` is not
evaluated (the playbook cannot tell whether a person linked it).

**The survivor** is the group's oldest (``keep: oldest``, the default) or newest ticket among
those without a parent; the others are its duplicates, and only they get the actions. Each
duplicate's row is given to the actions with the survivor under :data:`SURVIVOR`
(``link`` writes ``parent_id`` from it; templates read ``{survivor.<field>}``).

**At apply** (:mod:`halo_automate.core.rederive`) a duplicate is written only when it and its
survivor, both read again, still match the playbook, still share the key, still lie within
``within`` of each other, the survivor still has no parent and ``keep`` still picks it over
the duplicate (:func:`still_grouped`). Tickets that arrived after planning are not looked
for; the next run groups them.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from halo_automate.core.changes import Group, Ticket
from halo_automate.core.dates import parse_halo_date
from halo_automate.core.fields import ticket_list_fields
from halo_automate.core.schedule import parse_duration
from halo_automate.core.suggest import field_hint
from halo_automate.sanitize import clean_text

SURVIVOR = "@survivor"
"""The key under which a duplicate's row carries its survivor's row (never a Halo field)."""
PARENT = "parent_id"
MERGED = "merged_into_id"
WRITE_ONLY = frozenset({"domerge"})
"""Fields sent as a command, never read back as written (Halo's ``domerge`` asks for the
merge; reads show it null): a read-back judges the write by the other fields."""
DATE = "dateoccurred"
_TAG = re.compile(r"\[[^\]]*\]")
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_KEY_SHOWN = 80


class GroupSpec(BaseModel):
    """``group:`` of a playbook."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    by: list[str | dict[str, Literal["normalized", "exact"]]] = Field(min_length=1)
    within: str | None = None

    @field_validator("within")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)  # a ValueError names the accepted forms
        return value

    @field_validator("by")
    @classmethod
    def _fields(cls, value: list[str | dict[str, str]]) -> list[str | dict[str, str]]:
        for item in value:
            if isinstance(item, dict) and len(item) != 1:
                raise ValueError("each group.by entry is a field or {field: normalized}")
            for name in [item] if isinstance(item, str) else list(item):
                if name not in ticket_list_fields():
                    hint = field_hint(name, ticket_list_fields())
                    raise ValueError(f"group.by: unknown ticket field {name!r}{hint}")
        return value

    def parts(self) -> list[tuple[str, bool]]:
        """(field, normalised?) for each ``by`` entry, in order."""
        out: list[tuple[str, bool]] = []
        for item in self.by:
            if isinstance(item, str):
                out.append((item, False))
            else:
                (name, how), *_ = item.items()
                out.append((name, how == "normalized"))
        return out

    @property
    def window(self) -> timedelta | None:
        return None if self.within is None else parse_duration(self.within)


Keep = Literal["oldest", "newest"]


def normalize(text: str) -> str:
    """Case folded, ``[tags]`` and digits removed, whitespace made single spaces."""
    return _SPACE.sub(" ", _DIGITS.sub("", _TAG.sub(" ", text.casefold()))).strip()


class NoKey(Exception):
    """A ticket that cannot be grouped (its text says why)."""


def key_of(spec: GroupSpec, ticket: Ticket) -> tuple[object, ...]:
    """The ticket's group key; NoKey when a field is missing or of the wrong kind."""
    key: list[object] = []
    for name, normalised in spec.parts():
        value = ticket.get(name)
        if value is None or isinstance(value, dict | list):
            raise NoKey(f"its {name} cannot be read for group.by")
        if normalised:
            if not isinstance(value, str):
                raise NoKey(f"its {name} is not text, so it cannot be normalised")
            value = normalize(value)
        key.append(value)
    return tuple(key)


def shown_key(spec: GroupSpec, key: Sequence[object]) -> str:
    """The key as the plan shows it: ``client_id=12, summary≈"alert disk c: % full"``."""
    parts = []
    for (name, normalised), value in zip(spec.parts(), key, strict=True):
        text = clean_text(str(value))[:_KEY_SHOWN]
        parts.append(f'{name}≈"{text}"' if normalised else f"{name}={text}")
    return ", ".join(parts)


def occurred(ticket: Ticket) -> datetime:
    """The ticket's ``dateoccurred``; NoKey when it cannot be read."""
    try:
        when = parse_halo_date(ticket.get(DATE))
    except ValueError:
        when = None
    if when is None:
        raise NoKey(f"its {DATE} cannot be read")
    return when


def _parent(ticket: Ticket) -> int:
    if PARENT not in ticket:
        raise NoKey(f"its row has no {PARENT}, so whether a person linked it is unknown")
    value = ticket.get(PARENT)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise NoKey(f"its {PARENT} is {value!r}, not a ticket id")
    return value


def _merged(ticket: Ticket) -> bool:
    value = ticket.get(MERGED)
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class Formed:
    """What grouping made of the matched tickets."""

    groups: tuple[tuple[Group, Ticket, tuple[Ticket, ...]], ...]
    """Each group of two or more with the survivor's row and the duplicates' rows."""
    unknown: tuple[tuple[Ticket, str], ...]
    """Tickets that could not be grouped, and why."""


def form(spec: GroupSpec, keep: Keep, tickets: Sequence[Ticket]) -> Formed:
    """Group the matched ``tickets`` (in any order); deterministic."""
    by_key: dict[tuple[object, ...], list[tuple[datetime, int, Ticket]]] = {}
    unknown: list[tuple[Ticket, str]] = []
    for ticket in tickets:
        try:
            if _merged(ticket):
                continue
            _parent(ticket)
            entry = (occurred(ticket), int(ticket["id"]), ticket)
            by_key.setdefault(key_of(spec, ticket), []).append(entry)
        except NoKey as e:
            unknown.append((ticket, str(e)))
    window = spec.window
    groups: list[tuple[Group, Ticket, tuple[Ticket, ...]]] = []
    for key, entries in by_key.items():
        ids = {tid for _, tid, _ in entries}
        kept = sorted((e for e in entries if _parent(e[2]) in (0, *ids)), key=lambda e: e[:2])
        for cluster in _windows(kept, window):
            made = _group(spec, keep, key, cluster)
            if made is not None:
                groups.append(made)
    groups.sort(key=lambda g: g[0].survivor)
    return Formed(tuple(groups), tuple(unknown))


def _windows(
    entries: list[tuple[datetime, int, Ticket]], window: timedelta | None
) -> list[list[tuple[datetime, int, Ticket]]]:
    clusters: list[list[tuple[datetime, int, Ticket]]] = []
    for entry in entries:
        if clusters and (window is None or entry[0] - clusters[-1][0][0] <= window):
            clusters[-1].append(entry)
        else:
            clusters.append([entry])
    return clusters


def _group(
    spec: GroupSpec, keep: Keep, key: Sequence[object], cluster: list[tuple[datetime, int, Ticket]]
) -> tuple[Group, Ticket, tuple[Ticket, ...]] | None:
    if len(cluster) < 2:
        return None
    free = [e for e in cluster if _parent(e[2]) == 0]
    if not free:
        return None
    survivor = free[0] if keep == "oldest" else free[-1]
    members = tuple(e[2] for e in cluster if e is not survivor)
    group = Group(
        key=shown_key(spec, key),
        survivor=survivor[1],
        survivor_summary=clean_text(str(survivor[2].get("summary") or ""))[:200],
        members=tuple(int(m["id"]) for m in members),
    )
    return group, survivor[2], members


def with_survivor(member: Ticket, survivor: Ticket) -> dict[str, Any]:
    """The duplicate's row as its actions see it: with the survivor's row at :data:`SURVIVOR`."""
    return {**member, SURVIVOR: survivor}


def survivor_of(ticket: Ticket) -> Mapping[str, Any] | None:
    """The survivor row :func:`with_survivor` put in, if any."""
    found = ticket.get(SURVIVOR)
    return found if isinstance(found, Mapping) else None


def still_grouped(spec: GroupSpec, keep: Keep, member: Ticket, survivor: Ticket) -> str | None:
    """Why ``member`` and ``survivor`` (both as read now) would not be grouped so now, or
    None when they would (the pairwise check apply makes: the module docstring)."""
    try:
        if key_of(spec, member) != key_of(spec, survivor):
            return f"it and its survivor #{survivor.get('id')} no longer share the group key"
        if _parent(survivor) != 0 or _merged(survivor):
            return f"its survivor #{survivor.get('id')} is linked or merged into another now"
        apart = occurred(member) - occurred(survivor)
    except NoKey as e:
        return f"it or its survivor #{survivor.get('id')} cannot be grouped now ({e})"
    window = spec.window
    if window is not None and abs(apart) > window:
        return f"it and its survivor #{survivor.get('id')} lie further apart than {spec.within}"
    order = (apart, int(member.get("id") or 0) - int(survivor.get("id") or 0))
    older = order > (timedelta(0), 0)  # the survivor is older than the member
    if older != (keep == "oldest"):
        return f"keep: {keep} would not pick #{survivor.get('id')} over it now"
    return None
