"""The built-in lookup sample of playbook test fixtures is the sandbox's reference data, so a
fixture written against the sandbox reads the same names and ids (the runtime cannot import
the sandbox, hence the copy this test keeps honest)."""

from __future__ import annotations

from halo_automate.core.fixture_sample import SAMPLE_LOOKUPS
from halo_automate.core.schema import LOOKUP_KINDS, lookup_kind
from halo_automate.sandbox import reference as ref


def pairs(kind: str, rows: object) -> set[tuple[object, object]]:
    k = lookup_kind(kind)
    return {(r.get(k.id_key), r.get(k.name_key)) for r in rows}  # type: ignore[attr-defined]


def test_sample_covers_every_lookup_kind() -> None:
    assert set(SAMPLE_LOOKUPS) == set(LOOKUP_KINDS)


def test_sample_matches_the_sandbox() -> None:
    sandbox = {
        "statuses": ref.STATUSES,
        "ticket_types": ref.TICKET_TYPES,
        "teams": ref.TEAMS,
        "agents": ref.AGENTS,
        "priorities": ref.PRIORITIES,
        "outcomes": ref.OUTCOMES,
        "clients": [{"id": i, "name": n} for i, n, _ in ref.CLIENT_ROWS],
        "category_1": [c for c in ref.CATEGORIES if c["type_id"] == 1],
        "category_2": [c for c in ref.CATEGORIES if c["type_id"] == 2],
    }
    for kind, rows in sandbox.items():
        assert pairs(kind, SAMPLE_LOOKUPS[kind]) == pairs(kind, rows), kind
