"""``halo-automate lookups KIND`` over a sandbox Halo, and the unknown-name errors that point
to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import write_config
from click.testing import CliRunner, Result

from halo_automate.cli import main
from halo_automate.core.lookups import Lookups
from halo_automate.errors import LookupMissError
from halo_automate.sandbox.server import SandboxServer


@pytest.fixture
def invoke(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    config = write_config(tmp_path, sandbox)
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)])

    return run


def test_statuses_table(invoke: Any) -> None:
    result = invoke("lookups", "statuses")
    assert result.exit_code == 0, result.output
    assert "Closed" in result.output
    assert "New" in result.output


def test_agents_json_has_ids(invoke: Any) -> None:
    result = invoke("lookups", "agents", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind"] == "agents"
    assert {"id": 2, "name": "Alice Morgan"} in data["items"]


def test_priorities_list_their_slas(invoke: Any) -> None:
    result = invoke("lookups", "priorities", "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)["items"]
    assert items, "the sandbox has priorities"
    # one item per priority id, however many SLAs list it
    assert len({i["id"] for i in items}) == len(items)
    assert all(i["sla"] for i in items)
    assert max(len(i["sla"]) for i in items) > 1
    table = invoke("lookups", "priorities")
    assert table.exit_code == 0 and "SLA" in table.output


def test_category_level_and_clients(invoke: Any) -> None:
    for kind in ("category_1", "clients", "teams", "ticket_types", "outcomes"):
        result = invoke("lookups", kind, "--json")
        assert result.exit_code == 0, (kind, result.output)
        assert json.loads(result.output)["items"], kind


def test_unknown_kind_lists_kinds_with_did_you_mean(invoke: Any) -> None:
    result = invoke("lookups", "agnets")
    assert result.exit_code == 2
    assert "did you mean 'agents'" in result.output
    assert "category_4" in result.output and "priorities" in result.output


def test_unknown_name_lists_closest_and_points_to_lookups() -> None:
    lookups = Lookups.from_rows(
        agents=[
            {"id": 1, "name": "Joe Bloggs"},
            {"id": 2, "name": "Jo Blogs"},
            {"id": 3, "name": "Alice Morgan"},
        ]
    )
    with pytest.raises(LookupMissError) as e:
        lookups.agents.resolve("Jo Bloggs")
    message = str(e.value)
    assert message.startswith("unknown agent 'Jo Bloggs' (did you mean ")
    assert "'Joe Bloggs'" in message and "'Jo Blogs'" in message
    assert "Alice Morgan" not in message
    assert message.endswith("(see: halo-automate lookups agents)")


def test_unknown_name_in_an_unfetched_list_still_points_to_lookups() -> None:
    with pytest.raises(LookupMissError, match=r"lookups statuses\)$"):
        Lookups().statuses.resolve("Nope")


def test_plan_with_an_unknown_agent_points_to_lookups(invoke: Any, tmp_path: Path) -> None:
    playbook = tmp_path / "assign.yaml"
    playbook.write_text(
        "name: assign\ndescription: assign\nmode: apply\nselect: {open_only: true}\n"
        "actions:\n  - set: {agent: Alice Morgn}\n",
        encoding="utf-8",
    )
    result = invoke("plan", str(playbook))
    assert result.exit_code == 2, result.output
    assert "unknown agent 'Alice Morgn' (did you mean 'Alice Morgan'?)" in result.output
    assert "(see: halo-automate lookups agents)" in result.output
