"""A playbook test fixture file (``NAME.test.yaml``) → a validated :class:`Fixture`.

A fixture names a playbook, the clock, optional lookup lists, the ticket list rows to plan
over and what to expect (docs/testing-playbooks.md). It is read with the playbooks' positioned
loader (:mod:`halo_automate.core.playbook_yaml`), so every problem is a
``file:line:column: message`` line and one :class:`~halo_automate.errors.FixtureError`
carries them all. Finding fixtures (beside a playbook or in a ``tests/`` folder beside it)
lives here too; running them is :mod:`halo_automate.core.fixture_run`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from halo_automate.core.conditions import Path as KeyPath
from halo_automate.core.playbook import FIXTURE_SUFFIXES
from halo_automate.core.playbook_yaml import MAX_FILE_BYTES, Source, parse_text
from halo_automate.core.schema import LOOKUP_KINDS
from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import FixtureError

TOP_KEYS = ("playbook", "now", "lookups", "tickets", "expect")
EXPECT_KEYS = ("changes", "unchanged", "others_unchanged", "notes")


@dataclass(frozen=True)
class Fixture:
    """One fixture, validated; ``line`` maps a ticket id to where the fixture expects it."""

    path: Path
    playbook: str
    now: datetime
    lookups: Mapping[str, list[Mapping[str, Any]]]
    tickets: list[Mapping[str, Any]]
    changes: Mapping[int, Mapping[str, Any]]
    unchanged: tuple[int, ...]
    others_unchanged: bool
    notes: Mapping[int, int]
    line: Mapping[int, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(".yml").removesuffix(".yaml")


def fixture_files(paths: Iterable[str | Path]) -> list[Path]:
    """The fixtures under ``paths``: a fixture file itself; for a playbook file, its
    ``NAME.test.yaml`` beside it or in ``tests/`` beside it; for a folder, every fixture in it
    and in its ``tests/`` folder. Sorted, each once."""
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            for folder in (item, item / "tests"):
                found += [f for s in FIXTURE_SUFFIXES for f in folder.glob(f"*{s}")]
        elif item.name.endswith(FIXTURE_SUFFIXES):
            found.append(item)
        else:
            stem = item.name.rsplit(".", 1)[0]
            beside = (item.parent / f"{stem}{s}" for s in FIXTURE_SUFFIXES)
            in_tests = (item.parent / "tests" / f"{stem}{s}" for s in FIXTURE_SUFFIXES)
            found += [f for f in (*beside, *in_tests) if f.exists()]
    return sorted(set(found))


def _int_key(key: object) -> int | None:
    text = str(key)
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _parse_now(value: object) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Checker:
    """Collects problems at their positions while reading the raw values."""

    def __init__(self, src: Source) -> None:
        self.src = src

    def bad(self, path: KeyPath, message: str) -> None:
        self.src.add(path, message)

    def unknown_keys(self, data: Mapping[str, Any], allowed: tuple[str, ...], at: KeyPath) -> None:
        for key in data:
            if key not in allowed:
                hint = did_you_mean(key, list(allowed))
                self.bad((*at, key), f"unknown key '{key}'{hint}")

    def lookups(self, raw: object) -> dict[str, list[Mapping[str, Any]]]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.bad(("lookups",), "lookups: expected a mapping of kind -> list of rows")
            return {}
        out: dict[str, list[Mapping[str, Any]]] = {}
        for kind, rows in raw.items():
            if kind not in LOOKUP_KINDS:
                hint = did_you_mean(kind, list(LOOKUP_KINDS))
                self.bad(("lookups", kind), f"unknown lookup kind '{kind}'{hint}")
            elif not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                self.bad(("lookups", kind), f"lookups.{kind}: expected a list of mappings")
            else:
                out[kind] = rows
        return out

    def tickets(self, raw: object) -> tuple[list[Mapping[str, Any]], dict[int, int]]:
        if not isinstance(raw, list) or not raw:
            self.bad(("tickets",), "tickets: expected a non-empty list of ticket rows")
            return [], {}
        rows: list[Mapping[str, Any]] = []
        lines: dict[int, int] = {}
        for i, row in enumerate(raw):
            ticket_id = row.get("id") if isinstance(row, dict) else None
            if not isinstance(row, dict):
                self.bad(("tickets", i), "a ticket row must be a mapping of Halo fields")
            elif not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
                self.bad(("tickets", i), "a ticket row needs an integer 'id'")
            elif ticket_id in lines:
                self.bad(("tickets", i), f"ticket {ticket_id} is listed twice")
            else:
                rows.append(row)
                lines[ticket_id] = self.src.locate(("tickets", i))[0]
        return rows, lines

    def ids(self, raw: object, at: KeyPath, known: Mapping[int, int]) -> dict[int, Any]:
        """``{ticket id: value}`` from a mapping, or ``{ticket id: None}`` from a list."""
        if raw is not None and not isinstance(raw, dict | list):
            self.bad(at, f"{at[-1]}: expected ticket ids")
            return {}
        items: Iterable[tuple[Any, Any]] = (
            raw.items() if isinstance(raw, dict) else ((k, None) for k in raw or [])
        )
        out: dict[int, Any] = {}
        for i, (key, value) in enumerate(items):
            where = (*at, key) if isinstance(raw, dict) else (*at, i)
            ticket_id = key if isinstance(key, int) and not isinstance(key, bool) else _int_key(key)
            if ticket_id is None:
                self.bad(where, f"{at[-1]}: {key!r} is not a ticket id")
            elif ticket_id not in known:
                self.bad(where, f"{at[-1]}: ticket {ticket_id} is not in tickets")
            else:
                out[ticket_id] = value
        return out


def load_fixture(path: str | Path) -> Fixture:
    """Read and validate one fixture; raise FixtureError listing every problem."""
    where = Path(path)
    src = Source(str(where))
    try:
        raw_bytes = where.read_bytes()[: MAX_FILE_BYTES + 1]
        text = raw_bytes.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise FixtureError([f"{where}:1:1: cannot read: {e}"]) from e
    if len(raw_bytes) > MAX_FILE_BYTES:
        raise FixtureError([f"{where}:1:1: file is larger than 1 MB"])
    data = parse_text(text, src)
    if not isinstance(data, dict):
        if not src.problems:
            src.add((), "a fixture must be a mapping (playbook, now, tickets, expect)")
        raise FixtureError(src.formatted())
    check = _Checker(src)
    check.unknown_keys(data, TOP_KEYS, ())
    for key in ("playbook", "now", "tickets", "expect"):
        if key not in data:
            check.bad((), f"required key '{key}' is missing")
    playbook = data.get("playbook")
    if "playbook" in data and (not isinstance(playbook, str) or not playbook.strip()):
        check.bad(("playbook",), "playbook: expected a playbook name or path")
    now = _parse_now(data.get("now"))
    if "now" in data and now is None:
        check.bad(("now",), "now: expected a date and time like 2026-11-30T12:00:00Z")
    lookups = check.lookups(data.get("lookups"))
    tickets, lines = check.tickets(data.get("tickets")) if "tickets" in data else ([], {})
    expect = data.get("expect")
    if "expect" in data and not isinstance(expect, dict):
        check.bad(("expect",), "expect: expected a mapping (changes, unchanged, notes)")
    expect = expect if isinstance(expect, dict) else {}
    check.unknown_keys(expect, EXPECT_KEYS, ("expect",))
    changes = check.ids(expect.get("changes"), ("expect", "changes"), lines)
    for ticket_id, fields in changes.items():
        if not isinstance(fields, dict) or not fields:
            check.bad(("expect", "changes", str(ticket_id)), "expected a mapping field -> value")
    unchanged = check.ids(expect.get("unchanged"), ("expect", "unchanged"), lines)
    others = expect.get("others_unchanged", False)
    if not isinstance(others, bool):
        check.bad(("expect", "others_unchanged"), "others_unchanged: expected true or false")
    for ticket_id in set(changes) & set(unchanged):
        check.bad(("expect", "unchanged"), f"ticket {ticket_id} is both changed and unchanged")
    notes = check.ids(expect.get("notes"), ("expect", "notes"), lines)
    for ticket_id, count in notes.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            check.bad(("expect", "notes", str(ticket_id)), "notes: expected a count (0, 1, ...)")
    if src.problems:
        raise FixtureError(src.formatted())
    assert isinstance(playbook, str)
    assert now is not None
    return Fixture(
        path=where,
        playbook=playbook.strip(),
        now=now,
        lookups=lookups,
        tickets=tickets,
        changes={k: dict(v) for k, v in changes.items()},
        unchanged=tuple(unchanged),
        others_unchanged=bool(others),
        notes=dict(notes),
        line=lines,
    )
