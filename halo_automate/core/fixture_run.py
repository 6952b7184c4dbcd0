"""Running playbook test fixtures: plan purely, compare with what the fixture expects.

:func:`run_fixture` loads the fixture's playbook, builds its lookups (the fixture's lists,
the rest from :mod:`halo_automate.core.fixture_sample`), plans with
:func:`~halo_automate.core.plan.make_plan` over the fixture's tickets at the fixture's
``now``, and turns every expectation that does not hold into a readable diff line (``-``
expected, ``+`` planned). No Halo, no secret, no network: the same planning a run does, over
data the fixture holds. :func:`junit_xml` renders results for CI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from xml.etree import ElementTree as ET

from halo_automate.core.changes import TicketChange
from halo_automate.core.fixture_file import Fixture
from halo_automate.core.fixture_sample import SAMPLE_LOOKUPS
from halo_automate.core.lookups import Lookups, kind_table
from halo_automate.core.plan import make_plan
from halo_automate.core.playbook import Playbook, load_playbook, load_playbooks
from halo_automate.core.schema import ID_FIELDS, SET_KINDS, lookup_kind
from halo_automate.core.selection import build_query
from halo_automate.errors import FixtureError, PlanError


@dataclass(frozen=True)
class FixtureResult:
    """One fixture's verdict: ``failures`` empty when every expectation held."""

    fixture: Fixture
    playbook: str
    failures: tuple[str, ...]
    changed: int

    @property
    def passed(self) -> bool:
        return not self.failures


def find_playbook(fixture: Fixture) -> Playbook:
    """The fixture's playbook: a path (relative to the fixture), else a file stem or a
    playbook name in the fixture's folder (or, for a ``tests/`` folder, the one above)."""
    here = fixture.path.parent
    folders = [here.parent, here] if here.name == "tests" else [here]
    ref = fixture.playbook
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        for base in (here, *folders):
            if (base / ref).is_file():
                return load_playbook(base / ref)
    for folder in folders:
        for candidate in (folder / f"{ref}.yaml", folder / f"{ref}.yml"):
            if candidate.is_file():
                return load_playbook(candidate)
    for folder in folders:
        found, _ = load_playbooks(folder)
        for playbook in found:
            if playbook.name == ref:
                return playbook
    where = " or ".join(str(f) for f in folders)
    line = 1  # the playbook key sits near the top; name the file and the key
    raise FixtureError([f"{fixture.path}:{line}:1: playbook: no playbook '{ref}' in {where}"])


def fixture_lookups(fixture: Fixture) -> Lookups:
    """The fixture's lookup lists, each missing one from the built-in sample."""
    rows = {**SAMPLE_LOOKUPS, **fixture.lookups}
    return Lookups(MappingProxyType({k: kind_table(lookup_kind(k), v) for k, v in rows.items()}))


def _shown(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _after(change: TicketChange, key: str, lookups: Lookups) -> tuple[bool, object, object]:
    """(changed?, planned value, its name if an id) of a field by its name or id field."""
    names = [key]
    kind = SET_KINDS.get(key)
    if kind is not None and kind.id_field:
        names.append(kind.id_field)
    for name in names:
        found = change.fields.get(name)
        if found is not None:
            id_kind = ID_FIELDS.get(name)
            label = None
            if id_kind is not None and isinstance(found.after, int):
                label = lookups.table(id_kind.kind).name_of(found.after)
            return True, found.after, label
    return False, None, None


def _same(expected: object, after: object, label: object) -> bool:
    if expected == after:
        return True
    if isinstance(expected, str) and isinstance(label, str):
        return expected.casefold() == label.casefold()
    return isinstance(expected, str) and isinstance(after, str) and expected == after.strip()


def _describe(change: TicketChange, lookups: Lookups) -> str:
    parts = []
    for name, field in change.fields.items():
        id_kind = ID_FIELDS.get(name)
        label = ""
        if id_kind is not None and isinstance(field.after, int):
            label = f" ({lookups.table(id_kind.kind).name_of(field.after)})"
        parts.append(f"{name} {_shown(field.before)} -> {_shown(field.after)}{label}")
    parts += [f"posts {a.kind}" for a in change.actions]
    return ", ".join(parts) or "a change"


def notes_of(change: TicketChange | None) -> int:
    """The notes a ticket gets: posted actions carrying note text (a note, a close's note)."""
    if change is None:
        return 0
    return sum(1 for a in change.actions if a.kind == "note" or a.body.get("note"))


def check(fixture: Fixture, changes: Mapping[int, TicketChange], lookups: Lookups) -> list[str]:
    """Every expectation of ``fixture`` that the planned ``changes`` break, as diff lines."""
    out: list[str] = []
    for ticket_id, fields in fixture.changes.items():
        at = f"line {fixture.line[ticket_id]}"
        change = changes.get(ticket_id)
        if change is None:
            out.append(f"ticket {ticket_id} ({at}): expected a change, planned none")
            out += [f"  - {k}: {_shown(v)}" for k, v in fields.items()] + ["  + (unchanged)"]
            continue
        for key, expected in fields.items():
            changed, after, label = _after(change, key, lookups)
            if changed and _same(expected, after, label):
                continue
            got = f"{_shown(after)}" + (f" ({label})" if label else "")
            out.append(f"ticket {ticket_id} ({at}): {key}")
            out += [f"  - {_shown(expected)}", f"  + {got if changed else '(not changed)'}"]
    expected_same = set(fixture.unchanged)
    if fixture.others_unchanged:
        expected_same |= set(fixture.line) - set(fixture.changes)
    for ticket_id in sorted(expected_same & set(changes)):
        out.append(f"ticket {ticket_id} (line {fixture.line[ticket_id]}): expected unchanged")
        out += ["  - (unchanged)", f"  + {_describe(changes[ticket_id], lookups)}"]
    for ticket_id, count in fixture.notes.items():
        posted = notes_of(changes.get(ticket_id))
        if posted != count:
            out.append(f"ticket {ticket_id} (line {fixture.line[ticket_id]}): notes")
            out += [f"  - {count}", f"  + {posted}"]
    return out


def run_fixture(fixture: Fixture) -> FixtureResult:
    """Plan the fixture's playbook over its tickets and check its expectations.

    Raises FixtureError when its playbook cannot be found (an invalid fixture); a playbook
    that cannot be planned with these lookups (an unknown name) is a failure, reported."""
    playbook = find_playbook(fixture)
    lookups = fixture_lookups(fixture)
    try:
        query = build_query(playbook.select, lookups)
        plan = make_plan(
            playbook, fixture.tickets, lookups, now=fixture.now, run_id="test", query=query
        )
    except PlanError as e:
        return FixtureResult(fixture, playbook.name, (f"planning failed: {e}",), 0)
    changes = {c.ticket_id: c for c in plan.changes}
    failures = check(fixture, changes, lookups)
    return FixtureResult(fixture, playbook.name, tuple(failures), len(changes))


def junit_xml(results: Sequence[FixtureResult], seconds: Mapping[Path, float]) -> str:
    """JUnit XML for CI: one testsuite, one testcase per fixture, a failure with the diff."""
    suite = ET.Element(
        "testsuite",
        name="halo-automate playbook tests",
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in results)),
        errors="0",
        time=f"{sum(seconds.values()):.3f}",
    )
    for result in results:
        attrs: dict[str, Any] = {
            "classname": result.playbook,
            "name": str(result.fixture.path),
            "time": f"{seconds.get(result.fixture.path, 0.0):.3f}",
        }
        case = ET.SubElement(suite, "testcase", attrs)
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=result.failures[0])
            failure.text = "\n".join(result.failures)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, "unicode") + "\n"
