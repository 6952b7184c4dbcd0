"""``merge``: a duplicate of a ``group:`` is merged into its survivor. Cannot be undone.

``merge: {}`` sends ``{"id": <duplicate>, "merged_into_id": <survivor>, "domerge": true}`` in
``POST /api/Tickets`` (OpenAPI ``Faults``: ``merged_into_id``, ``domerge``; ``Actions`` has
``merged_from_ticketid``). That request shape is the best public evidence, **not verified on a
live tenant** (FACTS.md §9.12; docs/playbooks.md says what the sandbox models). Halo keeps no
way back from a merge, so a playbook that merges must say ``irreversible: true``, waits for
approval whenever it has an ``approval:`` policy (whatever ``above`` says), cannot run
unattended (a schedule or webhook trigger) without one, and its preview says "cannot be
undone" for each group; undo leaves merged tickets alone and says so. A duplicate already
merged into its survivor gets nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

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
from halo_automate.core.groups import MERGED, survivor_of
from halo_automate.core.lookups import Lookups


class MergeSpec(BaseModel):
    """``merge``: merge the duplicate into the survivor (no options yet)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MergeAction(ActionKind[MergeSpec]):
    key = "merge"
    spec_type = MergeSpec
    written_as = frozenset({WrittenAs.TICKET_FIELDS})
    undone_by = frozenset({UndoneBy.NOTHING})
    empty_means_defaults = True
    needs_group = True
    position = 70

    def check(self, spec: MergeSpec, path: Path, report: Report) -> list[tuple[str, Path]]:
        return [(MERGED, path), ("parent_id", path)]

    def lookups(self, spec: MergeSpec) -> set[str]:
        return set()

    def compile(self, spec: MergeSpec, lookups: Lookups, playbook: str) -> Compiled:
        def rule(ticket: Ticket) -> Write | None:
            survivor = survivor_of(ticket)
            if survivor is None:
                return None
            return Write(MERGED, survivor["id"], companions=(("domerge", True),))

        return Compiled(writes=(rule,))


KIND = MergeAction()
