"""A saved plan verifies against the playbook it carries (issue 12): the document's own
playbook, hashed as its file's bytes (a BOM included), is the one apply re-derives from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from halo_automate.core.lookups import Lookups
from halo_automate.core.plan import make_plan, plan_to_json
from halo_automate.core.plan_verify import read_saved_plan
from halo_automate.core.playbook import load_playbook
from halo_automate.errors import PlanError

PLAYBOOK = "name: demo\nselect: {open_only: true}\nactions:\n  - set: {priority: High}\n"
LOOKUPS = Lookups.from_rows(
    statuses=[{"id": 1, "name": "New"}, {"id": 9, "name": "Closed"}],
    priorities=[{"id": 2, "name": "High"}],
)


def saved(tmp_path: Path, text: bytes) -> str:
    path = tmp_path / "demo.yaml"
    path.write_bytes(text)
    playbook = load_playbook(path)
    rows = [{"id": 5, "summary": "s", "client_name": "C", "status_id": 1, "priority_id": 3}]
    plan = make_plan(
        playbook, rows, LOOKUPS, now=datetime(2026, 1, 2, tzinfo=UTC), run_id="r",
        query={"open_only": "true"}, instance_identity="https://x.example",
    )  # fmt: skip
    return plan_to_json(plan)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_a_saved_plan_verifies_with_its_own_playbook(tmp_path: Path, bom: bytes) -> None:
    text = saved(tmp_path, bom + PLAYBOOK.encode())
    verified = read_saved_plan(text)
    assert verified.playbook.name == "demo" and verified.plan.changes[0].ticket_id == 5
    assert dict(verified.plan.changes[0].ticket_update) == {"priority_id": 2}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"matched": 0}, "0 matched"),
        ({"created_at": "yesterday"}, "created_at 'yesterday' is not a UTC time"),
        ({"instance_identity": ""}, "does not say which Halo"),
        ({"expect_min": 1}, "expect_min is 1 in the plan but None in its playbook"),
        ({"halo_rules": True}, "halo_rules is True in the plan but False"),
    ],
)
def test_an_edited_header_is_refused(tmp_path: Path, edit: dict[str, object], message: str) -> None:
    doc = json.loads(saved(tmp_path, PLAYBOOK.encode()))
    doc.update(edit)
    with pytest.raises(PlanError, match=message):
        read_saved_plan(json.dumps(doc))
