"""Lint of valid playbooks taken together: warnings about what they would do over time.

``validate`` loads playbooks (:mod:`halo_automate.core.playbook`), then asks :func:`lint` for
warnings that no single file's schema can see: a scheduled playbook whose tickets still match
after it wrote them, a playbook that moves tickets to a holding status nothing ever moves them
out of, and two scheduled playbooks that set one field to different values on selections
that can overlap (they would undo each other on every run), and a schedule whose scans cost
more than its share of the instance's request budget (:class:`Budget`).
Each rule only warns on what the playbooks alone prove; each warning is ``file:line:col``
(the playbook's ``name`` key) like a playbook problem. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from halo_automate.core.conditions import fields_of
from halo_automate.core.playbook import Playbook
from halo_automate.core.schema import SELECT_READS, SET_KINDS

HOLDING_STATUS = re.compile(r"(?i)quarantin|spam|junk|suspect|hold|review|parked")
"""A status whose name says tickets wait there for a decision (a quarantine). Only such a
status is linted by :func:`quarantine_without_release`: a working status ("Triaged",
"In Progress") is left by agents doing the work, which no playbook file can show."""


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
    """A playbook that sets a holding status (:data:`HOLDING_STATUS`, not a status some
    playbook closes to) that no other playbook selects and moves on."""
    warnings: list[LintWarning] = []
    for pb in playbooks:
        for action in pb.actions:
            spec: Any = action.spec
            if action.kind != "set" or not isinstance(spec, dict) or "status" not in spec:
                continue
            status = str(spec["status"])
            held = status.casefold()
            if not HOLDING_STATUS.search(status):
                continue
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


def _writes(playbook: Playbook) -> dict[str, tuple[str, bool]]:
    """Field → (value as written, whether it is a close) for ``set`` and ``close`` actions.

    ``recategorize`` is left out: which value it writes depends on the ticket."""
    out: dict[str, tuple[str, bool]] = {}
    for action in playbook.actions:
        spec: Any = action.spec
        if action.kind == "set" and isinstance(spec, dict):
            out.update((str(k), (str(v), False)) for k, v in spec.items())
        elif action.kind == "close":
            out["status"] = (str(getattr(spec, "status", "Closed")), True)
    return out


def _still_matches(playbook: Playbook, field: str, value: str, closing: bool) -> bool:
    """Whether ``playbook`` can still select a ticket after ``field`` became ``value``
    (False only when its ``select`` proves it cannot)."""
    if field != "status":
        return True
    if closing and playbook.select.get("open_only") is True:
        return False
    statuses = _selected_statuses(playbook)
    return not statuses or value.casefold() in statuses


def _leaves_selection(playbook: Playbook) -> bool:
    """Its own status write takes its tickets out of its ``select``: it acts once per ticket."""
    status = _writes(playbook).get("status")
    return status is not None and not _still_matches(playbook, "status", *status)


def _may_meet(a: Playbook, b: Playbook) -> bool:
    """Whether two playbooks may run on one Halo instance (their ``instances:`` overlap)."""
    return a.instances is None or b.instances is None or bool(set(a.instances) & set(b.instances))


def fighting_playbooks(playbooks: Sequence[Playbook]) -> list[LintWarning]:
    """Two scheduled apply playbooks setting one field to different values, each able to
    select the tickets the other has just written (and neither moving its tickets out of its
    own ``select`` by a status write, which would make it act once per ticket)."""
    scheduled = [
        p
        for p in playbooks
        if p.schedule is not None and p.mode == "apply" and not _leaves_selection(p)
    ]
    warnings: list[LintWarning] = []
    for i, first in enumerate(scheduled):
        first_writes = _writes(first)
        for second in scheduled[i + 1 :]:
            if not _may_meet(first, second):
                continue  # their instances: never share a Halo, so never the same tickets
            for field, (b, b_closes) in _writes(second).items():
                if field not in first_writes:
                    continue
                a, a_closes = first_writes[field]
                if a.casefold() == b.casefold():
                    continue
                if not (
                    _still_matches(first, field, b, b_closes)
                    and _still_matches(second, field, a, a_closes)
                ):
                    continue
                warnings.append(
                    LintWarning(
                        second.name_location,
                        "fighting-playbooks",
                        f"{second.name} sets {field} to '{b}' and {first.name} "
                        f"({first.name_location}) sets it to '{a}', on selections that can "
                        "overlap: on every run each would undo the other on the same tickets "
                        f"(make their select or where exclude each other, e.g. by {field})",
                    )
                )
    return warnings


def _set_fields(playbook: Playbook) -> dict[str, set[str]] | None:
    """``set`` key → the Halo fields it writes; None when another kind of action (a close, a
    recategorize whose map is its own condition) is there, or a status is set."""
    keys: dict[str, set[str]] = {}
    for action in playbook.actions:
        if action.kind == "note":
            continue
        if action.kind != "set" or not isinstance(action.spec, dict):
            return None
        for key, path in action.definition.check(action.spec, (), lambda *_: None):
            keys.setdefault(str(path[-1]), set()).add(key)
    return None if "status" in keys else keys


def _bare(name: str) -> str:
    for suffix in ("_ids", "_id", "_name"):
        name = name.removesuffix(suffix)
    return name


def rematching_playbooks(playbooks: Sequence[Playbook]) -> list[LintWarning]:
    """A scheduled apply playbook that only ``set``s fields its ``select`` and ``where`` do not
    read: its tickets match again on every run after it wrote them (provably, from the file)."""
    warnings: list[LintWarning] = []
    for pb in playbooks:
        keys = _set_fields(pb) if pb.schedule is not None and pb.mode == "apply" else None
        if not keys:
            continue
        written = set().union(*keys.values())
        kinds = {SET_KINDS[k].kind for k in keys if k in SET_KINDS}
        reads = {_bare(f) for f in (*fields_of(pb.where), *pb.select)}
        if reads & {_bare(f) for f in (*written, *keys)}:
            continue
        if any(k in SELECT_READS and SELECT_READS[k].kind in kinds for k in pb.select):
            continue
        if any(k.startswith("search") for k in pb.select) and set(keys) - set(SET_KINDS):
            continue
        fields = ", ".join(sorted(written))
        warnings.append(
            LintWarning(
                pb.name_location,
                "rematching-playbook",
                f"{pb.name} runs on a schedule but its select and where read none of the "
                f"fields it sets ({fields}): a ticket it changed matches again on every run, so "
                "it overrides anyone who changes the field back and its matched count only "
                "grows; add a where that excludes tickets already done (e.g. a 'not' on "
                f"{sorted(written)[0]})",
            )
        )
    return warnings


@dataclass(frozen=True)
class Budget:
    """The instance's request budget (the config's ``halo.rate_limit``, defaults as there)
    and what a scan is assumed to cost."""

    requests: int = 300
    per_seconds: float = 300
    page_size: int = 100
    tickets: int = 1000
    """Assumed tickets one run scans: the playbook files cannot tell."""
    share: float = 0.5
    """The part of the budget scheduled playbooks may use together (the rest is left to
    manual runs and to other integrations sharing the API application's limit)."""


def runs_per_day(playbook: Playbook) -> float:
    """How often the schedule fires on a day it runs (0 without a schedule)."""
    schedule = playbook.schedule
    if schedule is None:
        return 0
    if schedule.interval_seconds is not None:
        return 86400 / schedule.interval_seconds
    fields = dict(schedule.cron)
    minutes, hours = fields.get("minute", "*"), fields.get("hour", "*")
    per_hour = 60 if minutes == "*" else len(minutes.split(","))
    return per_hour * (24 if hours == "*" else len(hours.split(",")))


def over_budget(playbooks: Sequence[Playbook], budget: Budget) -> list[LintWarning]:
    """A schedule whose daily scans cost more than its equal share of the budget."""
    scheduled = [p for p in playbooks if p.schedule is not None]
    if not scheduled:
        return []
    per_day = budget.requests * 86400 / budget.per_seconds
    share = per_day * budget.share / len(scheduled)
    warnings: list[LintWarning] = []
    for pb in scheduled:
        per_run = math.ceil(budget.tickets / budget.page_size) + 1  # pages + lookups/token
        cost = per_run * runs_per_day(pb)
        if cost <= share:
            continue
        assert pb.schedule is not None
        warnings.append(
            LintWarning(
                pb.name_location,
                "over-budget",
                f"{pb.name} runs '{pb.schedule.text}' ({runs_per_day(pb):g} runs a day); "
                f"assuming each run scans {budget.tickets} tickets ({per_run} requests), that "
                f"is {cost:,.0f} requests a day, more than its share {share:,.0f} "
                f"({budget.share:.0%} of the rate limit {budget.requests} per "
                f"{budget.per_seconds:g}s, split over {len(scheduled)} scheduled "
                "playbook(s)); run it less often or narrow its select",
            )
        )
    return warnings


def lint(playbooks: Iterable[Playbook], budget: Budget | None = None) -> list[LintWarning]:
    """Every warning about these playbooks, in rule order then file order."""
    pbs = sorted(playbooks, key=lambda p: p.path)
    return [
        *over_budget(pbs, budget or Budget()),
        *rematching_playbooks(pbs),
        *fighting_playbooks(pbs),
        *quarantine_without_release(pbs),
    ]
