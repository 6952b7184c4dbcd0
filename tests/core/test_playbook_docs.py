"""docs/playbooks.md names every key, operator, action, template variable and re-checked filter."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from halo_automate.core.actions.base import WrittenAs
from halo_automate.core.actions.registry import ACTION_KINDS
from halo_automate.core.conditions import GROUP_KEYS, NEGATION_PREFIX
from halo_automate.core.operators import OPS
from halo_automate.core.playbook import Expect, Limits, PlaybookFile
from halo_automate.core.selection import NAMED_PARAMS, RECHECKED_PARAMS
from halo_automate.core.templates import TEMPLATE_VARIABLES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "playbooks.md").read_text(encoding="utf-8")


def _keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def language_names() -> list[str]:
    """Everything a playbook author can write, introspected from the models and tables."""
    names = _keys(PlaybookFile) + _keys(Limits) + _keys(Expect)
    names += list(get_args(PlaybookFile.model_fields["mode"].annotation))
    for kind in ACTION_KINDS.values():  # every registered action kind and its keys
        names += [kind.key, *kind.language()]
    names += list(OPS) + [NEGATION_PREFIX + op for op in OPS] + list(GROUP_KEYS)
    names += [f"{{{variable}}}" for variable in TEMPLATE_VARIABLES]
    names += sorted(RECHECKED_PARAMS | NAMED_PARAMS)
    return sorted(set(names))


@pytest.mark.parametrize("name", language_names())
def test_docs_name_every_part_of_the_language(name: str) -> None:
    """The page shows each name in backticks; a new key, op or action must be documented."""
    assert f"`{name}`" in DOC, f"docs/playbooks.md does not mention `{name}`"


def test_the_introspection_finds_the_language() -> None:
    """The list is built from the real models (guards against an empty, vacuous check)."""
    names = language_names()
    for expected in (
        "select",
        "max_changes",
        "recategorize",
        "not_matches",
        "{run_id}",
        "open_only",
        "set",
        "close",
        "note",
        "status",
        "team",
        "category_4",
        "private",
        "empty",
    ):
        assert expected in names


@pytest.mark.parametrize("kind", list(ACTION_KINDS))
def test_each_action_kind_has_its_own_section(kind: str) -> None:
    """A registered action kind gets a section of its own (adding one is a module + docs)."""
    assert f"\n### `{kind}`\n" in DOC, f"docs/playbooks.md has no '### `{kind}`' section"


@pytest.mark.parametrize("op", list(OPS))
def test_each_operator_has_its_table_row(op: str) -> None:
    """Each condition operator is a row of the operators table."""
    assert f"\n| `{op}` |" in DOC, f"docs/playbooks.md has no table row for `{op}`"


_WRITTEN = {WrittenAs.TICKET_FIELDS: "POST /api/Tickets", WrittenAs.ACTION: "POST /api/Actions"}


@pytest.mark.parametrize("kind", list(ACTION_KINDS))
def test_each_action_kind_says_how_it_is_written(kind: str) -> None:
    """The actions table names the endpoint(s) each registered kind writes through."""
    rows = [line for line in DOC.splitlines() if line.startswith(f"| `{kind}` |")]
    assert rows, f"docs/playbooks.md has no row for action `{kind}`"
    for written in ACTION_KINDS[kind].written_as:
        assert any(_WRITTEN[written] in row for row in rows), (kind, written)
