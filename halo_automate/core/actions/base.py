"""The one protocol an action kind implements, and the pieces its compiled form is made of.

An action kind (``set``, ``close``, ``note``, ``recategorize``: one module each beside this
one, found by :mod:`halo_automate.core.actions.registry`) owns, as one :class:`ActionKind`:

* its YAML model (``spec_type``: a pydantic model with ``extra="forbid"``, or a plain type),
  read by :meth:`ActionKind.parse`;
* its validation (:meth:`ActionKind.check`): problems at YAML paths, and the Halo fields it
  writes, so two actions writing one field are refused;
* the lookup lists it needs (:meth:`ActionKind.lookups`);
* how it compiles to changes (:meth:`ActionKind.compile`): :class:`Write` rules for ticket
  fields (sent in ``POST /api/Tickets``) and :class:`Posting` rules for actions sent to
  ``POST /api/Actions``;
* how it is written (``written_as``) and undone (``undone_by``); a posting names its
  :class:`PostedKind`, which says whether the posted action itself changes ticket fields
  (apply journals those fields with it).

Pure: no I/O.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar, cast, get_args

from pydantic import BaseModel, ConfigDict, TypeAdapter

from halo_automate.core.changes import FieldChange, JSONValue, Ticket
from halo_automate.core.conditions import Path
from halo_automate.core.lookups import LookupItem, Lookups, LookupTable
from halo_automate.core.templates import parse_template
from halo_automate.errors import LookupMissError, PlanError

Report: TypeAlias = Callable[[Path, str], None]
"""Records a problem found at a YAML path (``("actions", 0, "set", "status")``)."""
Render: TypeAlias = Mapping[str, Any]
"""What templates are filled from: ``playbook``, ``run_id`` and ``ticket``."""
Spec = TypeVar("Spec")


class WrittenAs(StrEnum):
    """Where an action's effect is sent."""

    TICKET_FIELDS = "ticket fields"
    """Fields of the ticket update, ``POST /api/Tickets``."""
    ACTION = "action"
    """An action on the ticket, ``POST /api/Actions``."""


class UndoneBy(StrEnum):
    """How undo puts an action's effect back."""

    RESTORING_FIELDS = "restoring fields"
    """Each changed field gets its ``before`` value back in a ticket update."""
    DELETING_ACTION = "deleting the action"
    """The posted action is deleted (``DELETE /api/Actions/{id}``)."""
    NOTHING = "nothing: it cannot be undone"
    """Halo offers no way back (a merge): the playbook must say ``irreversible: true``."""


@dataclass(frozen=True)
class PostedKind:
    """A kind of action posted to ``/api/Actions``, as plans (``ActionSpec.kind``) name it."""

    name: str
    carries_fields: bool = False
    """The posted action itself changes ticket fields (a close sets the status): apply
    journals and stale-checks those fields with it."""
    undone_by: UndoneBy = UndoneBy.DELETING_ACTION


@dataclass(frozen=True)
class Write:
    """Set ``field`` to ``after`` (and ``companions`` with it) unless it already holds it."""

    field: str
    after: JSONValue
    companions: tuple[tuple[str, JSONValue], ...] = ()


WriteRule: TypeAlias = Callable[[Ticket], "Write | None"]


@dataclass(frozen=True)
class Posting:
    """An action to post on a ticket that the plan changes.

    ``carried(ticket)`` is the fields the posted action changes on that ticket, or None when
    it is not due (a close of a ticket already in the close status). A posting that is
    ``alone`` makes a ticket change by itself; otherwise it rides along with another change.
    """

    kind: PostedKind
    alone: bool
    carried: Callable[[Ticket], Mapping[str, FieldChange] | None]
    body: Callable[[Render], dict[str, JSONValue]]


@dataclass(frozen=True)
class Compiled:
    """One playbook action with every name resolved: what it does to each ticket."""

    writes: tuple[WriteRule, ...] = ()
    postings: tuple[Posting, ...] = ()


class ActionKind(ABC, Generic[Spec]):
    """One kind of playbook action (the key of an ``actions`` entry)."""

    key: ClassVar[str]
    spec_type: ClassVar[Any]
    """The YAML model: a pydantic model (``extra="forbid"``) or a type such as a mapping."""
    written_as: ClassVar[frozenset[WrittenAs]]
    undone_by: ClassVar[frozenset[UndoneBy]]
    posts: ClassVar[PostedKind | None] = None
    changes_ticket: ClassVar[bool] = True
    """False for a kind that changes nothing conditions can see (a note): a playbook of only
    such actions would act again on every run, and is refused."""
    empty_means_defaults: ClassVar[bool] = False
    """``- close:`` with no value means ``close: {}`` (every key at its default)."""
    position: ClassVar[int]
    """Where the kind stands in lists of kinds (messages, docs)."""
    needs_group: ClassVar[bool] = False
    """Only meaningful on a duplicate of a ``group:`` (:mod:`halo_automate.core.groups`): it
    writes from the survivor (``link``, ``merge``); a playbook without ``group:`` is refused."""

    @property
    def irreversible(self) -> bool:
        """Whether what it does cannot be undone (its playbook must say so)."""
        return UndoneBy.NOTHING in self.undone_by

    def parse(self, value: object) -> Spec:
        """The validated spec; pydantic's ValidationError (locations inside the spec)."""
        return cast(Spec, _adapter(self.spec_type).validate_python(value))

    def model(self) -> type[BaseModel] | None:
        """The pydantic model of the spec (for did-you-mean on its keys), if it is one."""
        return self.spec_type if _is_model(self.spec_type) else None

    def language(self) -> list[str]:
        """Every name an author writes inside this action (its keys and their fixed values)."""
        model = self.model()
        if model is None:
            return []
        names = list(model.model_fields)
        for info in model.model_fields.values():
            names += [a for a in get_args(info.annotation) if isinstance(a, str)]
        return names

    @abstractmethod
    def check(self, spec: Spec, path: Path, report: Report) -> list[tuple[str, Path]]:
        """Report the spec's problems; return the Halo fields it writes and where."""

    @abstractmethod
    def lookups(self, spec: Spec) -> set[str]:
        """The lookup kinds compiling this spec reads."""

    @abstractmethod
    def compile(self, spec: Spec, lookups: Lookups, playbook: str) -> Compiled:
        """Resolve names once; PlanError names what Halo does not have."""


@functools.cache
def _adapter(spec_type: Any) -> TypeAdapter[Any]:
    config = None if _is_model(spec_type) else ConfigDict(strict=True)
    return TypeAdapter(spec_type, config=config)


def _is_model(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


@dataclass(frozen=True)
class PlaybookAction:
    """One validated entry of a playbook's ``actions``: its kind and its spec."""

    definition: ActionKind[Any]
    spec: Any

    @property
    def kind(self) -> str:
        return self.definition.key


# ---------------------------------------------------------------- helpers for kinds


def resolve(playbook: str, what: str, table: LookupTable, value: str | int) -> LookupItem:
    """The item ``value`` names; PlanError ``playbook <name>: <what>: ...`` when Halo lacks it."""
    try:
        return table.resolve(value)
    except LookupMissError as e:
        raise PlanError(f"playbook {playbook}: {what}: {e}") from e


def outcome_id(
    playbook: str, what: str, lookups: Lookups, name: str | None, defaults: tuple[str, ...]
) -> int:
    """The outcome ``name`` resolves to; else the first of ``defaults`` Halo lists; else
    Halo's first outcome."""
    if name is not None:
        return resolve(playbook, what, lookups.outcomes, name).id
    for default in defaults:
        found = lookups.outcomes.by_name(default)
        if found is not None:
            return found.id
    if not lookups.outcomes.items:
        raise PlanError(f"playbook {playbook}: {what}: Halo lists no outcomes")
    return lookups.outcomes.items[0].id


def check_template(text: str | None, path: Path, report: Report) -> None:
    """Report a bad template at ``path``."""
    if text is not None:
        try:
            parse_template(text)
        except ValueError as e:
            report(path, str(e))


def static(write: Write) -> WriteRule:
    """A rule that writes the same value on every ticket."""
    return lambda ticket: write
