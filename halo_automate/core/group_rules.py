"""What a playbook with ``group:``, ``link``/``merge`` or ``irreversible:`` must say, checked
when it is loaded (issue 18; the grouping itself is :mod:`halo_automate.core.groups`).

* an action that writes from a survivor (``link``, ``merge``: ``needs_group``) needs ``group:``;
* ``group:`` cannot be combined with ``lifecycle:`` (steps per ticket, not per group);
* an action that cannot be undone (``merge``) needs ``irreversible: true`` at the top, and
  ``irreversible: true`` needs such an action (a stale flag would hide a later edit);
* a playbook that cannot be undone and runs unattended (``schedule`` or ``triggers``) needs an
  ``approval:`` policy: nobody would otherwise see the plan before Halo merges.

Pure: problems are reported at YAML paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from halo_automate.core.actions.base import PlaybookAction, Report


@dataclass(frozen=True)
class Keys:
    """The top-level keys the rules read."""

    group: bool
    irreversible: bool
    unattended: bool
    """A ``schedule`` or ``triggers``."""
    approval: bool


def group_problems(
    spec: Keys, actions: Sequence[PlaybookAction], lifecycle: bool, report: Report
) -> None:
    """Report what the ``group``/``irreversible`` keys and the actions say against each other
    (``lifecycle``: the actions are a ``lifecycle:`` playbook's steps)."""
    if spec.group and lifecycle:
        report(("group",), "group: cannot be combined with lifecycle: (steps are per ticket)")
    irreversible = [(i, a) for i, a in enumerate(actions) if a.definition.irreversible]
    for index, action in enumerate(actions):
        if action.definition.needs_group and not spec.group:
            report(
                ("actions", index, action.kind),
                f"{action.kind} acts on the duplicates of a group: add group: {{by: [...]}} "
                "(which tickets are one incident) and keep: oldest|newest",
            )
    for index, action in irreversible:
        if not spec.irreversible:
            report(
                ("actions", index, action.kind),
                f"a {action.kind} cannot be undone: say irreversible: true at the top of the "
                "playbook to confirm",
            )
    if spec.irreversible and not irreversible:
        report(("irreversible",), "irreversible: true, but no action here is irreversible")
    if irreversible and spec.unattended and not spec.approval:
        report(
            ("irreversible",),
            "a playbook that cannot be undone may run unattended only with an approval: "
            "policy (add approval: {required: true})",
        )
