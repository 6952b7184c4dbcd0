"""Issue 14 (8): each run that writes reads ``GET /api/InstanceInfo`` once, after it is
journaled (a 403 is tolerated), and the journal records the facts with the run; ``show``
prints them. A run that writes nothing (a preview, a scan without matches) costs no request
for it."""

from __future__ import annotations

from email.message import Message
from pathlib import Path

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
    assert r.journal.get_run(preview.run_id).instance is None
    assert r.sb.counters["requests_by_endpoint"]["GET /api/InstanceInfo"] == 1


def test_a_403_is_tolerated_and_recorded(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    quiet_logs()
    sb = sandbox_factory()
    forbid_instance_info(sb)
    r = rig(sb, tmp_path / "j.db")
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert outcome.status == "succeeded" and outcome.changed > 0
    assert "instance: not readable by this API application" in shown(r.journal, outcome.run_id)


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
