"""Issue 14 (8): every run that talks to Halo reads ``GET /api/InstanceInfo`` once (a run
that writes, after it is journaled; a preview or a run with nothing to change, once it has
planned), and the journal records the facts with the run; ``show`` prints them. A 403 is
recorded as not readable; any other failure of that read leaves them unrecorded and never
fails the run."""

from __future__ import annotations

from email.message import Message
from pathlib import Path

import pytest
from apply_support import SandboxFactory, playbook, quiet_logs, rig
from rich.console import Console

from halo_automate.cli.report import run_json, show_run
from halo_automate.core.instance import describe_instance
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.replies import Reply, empty
from halo_automate.sandbox.server import Handle
from halo_automate.store.journal import Journal, RunStart
from halo_automate.store.migrations import MIGRATIONS


def forbid_instance_info(sb: SandboxServer) -> None:
    def hook(method: str, target: str, headers: Message, body: bytes, proceed: Handle) -> Reply:
        if target.lower().startswith("/api/instanceinfo"):
            return empty(403)
        return proceed(method, target, headers, body)

    sb.add_request_hook(hook)


def shown(journal: Journal, run_id: str) -> str:
    console = Console(record=True, width=200)
    show_run(console, journal.get_run(run_id), journal.changes(run_id))
    return console.export_text()


def test_run_records_the_instance_and_show_prints_it(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    quiet_logs()
    r = rig(sandbox_factory(), tmp_path / "j.db")
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert outcome.status == "succeeded"
    assert r.sb.counters["requests_by_endpoint"]["GET /api/InstanceInfo"] == 1
    version = ref.INSTANCE_INFO["app_version"]
    assert f"instance: Halo {version} (database {version}, stable)" in shown(
        r.journal, outcome.run_id
    )
    assert '"app_version": "' + version in run_json(r.journal.get_run(outcome.run_id), [])
    preview = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None, preview_only=True)
    assert preview.status == "previewed"
    assert '"app_version": "' + version in (r.journal.get_run(preview.run_id).instance or "")
    assert r.sb.counters["requests_by_endpoint"]["GET /api/InstanceInfo"] == 2


def test_previews_and_runs_with_nothing_to_change_record_it_once(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    quiet_logs()
    r = rig(sandbox_factory(), tmp_path / "j.db")
    assert r.runner.run(playbook("close-spam"), trigger="cli", confirm=None).status == "succeeded"

    def reads() -> int:
        return int(r.sb.counters["requests_by_endpoint"]["GET /api/InstanceInfo"])

    before = reads()
    again = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert again.status == "succeeded" and again.planned == 0
    assert reads() == before + 1
    assert describe_instance(r.journal.get_run(again.run_id).instance) == (
        f"Halo {ref.INSTANCE_INFO['app_version']} "
        f"(database {ref.INSTANCE_INFO['database_version']}, stable)"
    )
    shadow = playbook("close-spam").model_copy(update={"mode": "preview"})
    previewed = r.runner.run(shadow, trigger="schedule", confirm=None)
    assert previewed.status == "previewed"
    assert reads() == before + 2
    assert r.journal.get_run(previewed.run_id).instance is not None


def test_a_403_is_tolerated_and_recorded(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    quiet_logs()
    sb = sandbox_factory()
    forbid_instance_info(sb)
    r = rig(sb, tmp_path / "j.db")
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert outcome.status == "succeeded" and outcome.changed > 0
    assert "instance: not readable by this API application" in shown(r.journal, outcome.run_id)


def test_a_403_on_a_preview_is_recorded_as_not_readable(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    quiet_logs()
    sb = sandbox_factory()
    forbid_instance_info(sb)
    r = rig(sb, tmp_path / "j.db")
    preview = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None, preview_only=True)
    assert preview.status == "previewed" and preview.error is None
    assert "instance: not readable by this API application" in shown(r.journal, preview.run_id)


@pytest.mark.parametrize(
    "reply",
    [Reply(400, {"error": ["no"]}), Reply(200, payload=b"<html>not json</html>"), empty(401)],
    ids=["400", "not-json", "401"],
)
def test_any_failure_of_the_read_never_fails_a_run(
    sandbox_factory: SandboxFactory, tmp_path: Path, reply: Reply
) -> None:
    quiet_logs()
    sb = sandbox_factory()

    def hook(method: str, target: str, headers: Message, body: bytes, proceed: Handle) -> Reply:
        if target.lower().startswith("/api/instanceinfo"):
            return reply
        return proceed(method, target, headers, body)

    sb.add_request_hook(hook)
    r = rig(sb, tmp_path / "j.db")
    preview = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None, preview_only=True)
    assert preview.status == "previewed" and preview.error is None
    assert r.journal.get_run(preview.run_id).instance is None
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert outcome.status == "succeeded" and outcome.changed > 0 and outcome.error is None
    nothing = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert nothing.status == "succeeded" and nothing.error is None


def test_old_journal_gains_the_column(tmp_path: Path) -> None:
    """A v2 journal is migrated to v3: its runs show no instance line; new runs record one."""
    path = tmp_path / "old.db"
    with Journal.open(path, migrations=MIGRATIONS[:2]) as old:
        old.start_run(RunStart("r-old", "pb", "h", "apply", "cli"))
    with Journal.open(path) as new:
        assert new.get_run("r-old").instance is None
        assert describe_instance(new.get_run("r-old").instance) is None
        new.start_run(RunStart("r-new", "pb", "h", "apply", "cli"))
        new.finish_run("r-new", "succeeded", instance='{"app_version": "1"}')
        assert describe_instance(new.get_run("r-new").instance) == "Halo 1"
