"""Issue 19.9: the preview's "Apply needs N request(s)" is what the apply then sends (the
demo said 6 and the run reported 18): counted once the run is confirmed, against a sandbox
with small batches so every kind of request (stale check, action batches, their duplicate
checks, the instance facts) appears more than once."""

from __future__ import annotations

from pathlib import Path

import pytest
from apply_support import playbook, quiet_logs, rig
from conftest import SandboxFactory

from halo_automate.core.plan import Plan, apply_requests_needed
from halo_automate.core.playbook import Playbook, load_playbook_text

WHERE_ONLY = """
name: where-custom
select: {client_id: Woodgrove Bank, open_only: true}
where:
  customfield.Contract Ref: {empty: true}
actions:
  - set: {priority: High}
limits: {max_changes: 500}
"""


def book(name: str) -> Playbook:
    return load_playbook_text(WHERE_ONLY) if name == "where-custom" else playbook(name)


@pytest.mark.parametrize(
    "name",
    [
        "close-spam",
        "category-cleanup",
        "fill-contract-ref",
        "where-custom",
        "collapse-alert-duplicates",
    ],
)
def test_the_estimate_is_what_the_apply_sends(
    sandbox_factory: SandboxFactory, tmp_path: Path, name: str
) -> None:
    """Issue 18: custom field reads count for a playbook that only *reads* them (a where on
    customfield.X: apply reads each changed ticket in full) as for one that writes them; a
    group playbook's survivors are read again at the stale check (the sandbox's alert bursts)."""
    quiet_logs()
    r = rig(sandbox_factory(duplicates=True), tmp_path / "j.db", batch_size=5)
    seen: dict[str, int] = {}

    def confirm(plan: Plan) -> bool:
        seen["estimate"] = apply_requests_needed(plan, batch_size=5, page_size=100)
        seen["at_prompt"] = r.client.stats.snapshot()["requests"]
        return True

    before = r.client.stats.snapshot()["requests"]
    outcome = r.runner.run(book(name), trigger="cli", confirm=confirm)
    assert outcome.status == "succeeded" and outcome.changed > 5
    applied = outcome.requests - (seen["at_prompt"] - before)
    assert applied == seen["estimate"]
