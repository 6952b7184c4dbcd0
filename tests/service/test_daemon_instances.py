"""The daemon serves several Halo instances (issue 12, instances): each with its own runner
(client, token, budget), each scheduled playbook as a job on every served instance its
`instances:` allows, runs logged, counted and reported per instance. First with scripted
runners, then end to end over two sandboxes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from conftest import SandboxFactory
from instance_support import (
    CATEGORIES,
    PROD_SECRET,
    SPAM,
    UAT_SECRET,
    environment,
    untouched,
    variant,
    write_instances_config,
)
from pydantic import SecretStr
from structlog.testing import capture_logs

from halo_automate.cli import main
from halo_automate.config import DaemonSettings, HaloSettings, Settings, load_settings
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.playbook import Playbook
from halo_automate.errors import ConfigError
from halo_automate.service.daemon import Daemon
from halo_automate.service.instances import Served, job_key
from halo_automate.store.journal import Journal


class ScriptedRunner:
    """Stands in for one instance's Runner: records each run with the log context bound at
    that moment (the instance every line of the run carries) and succeeds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = SimpleNamespace(stats=SimpleNamespace(snapshot=self._snap),
                                      begin_run=self._snap)  # fmt: skip
        self.calls: list[tuple[str, Any]] = []
        self.recovered = 0
        self.stopped = False

    def _snap(self) -> dict[str, int]:
        return {"requests": 0, "rate_limited": 0}

    def run(self, playbook: Playbook, *, trigger: str, confirm: Any) -> RunOutcome:
        bound = structlog.contextvars.get_contextvars()
        self.calls.append((playbook.name, bound.get("instance")))
        return RunOutcome(f"run-{playbook.name}-{self.name}", playbook.name, "apply",
                          RunStatus.SUCCEEDED, changed=2, requests=5)  # fmt: skip

    def recover(self, playbook: str | None = None) -> list[RunOutcome]:
        self.recovered += 1
        return []

    def request_stop(self) -> None:
        self.stopped = True


def yaml(name: str, instances: str | None = None, schedule: str = "every 5m") -> str:
    text = f'name: {name}\nschedule: "{schedule}"\nactions:\n  - close: {{}}\n'
    return text + (f"instances: {instances}\n" if instances else "")


def settings(tmp_path: Path) -> Settings:
    halo = {"client_id": "x", "client_secret": SecretStr("s")}
    return Settings.model_validate(
        {
            "instances": {
                "prod": HaloSettings(base_url="http://127.0.0.1:9", **halo),
                "uat": HaloSettings(base_url="http://127.0.0.1:10", **halo),
            },
            "default_instance": "prod",
            "playbooks_dir": tmp_path / "playbooks",
            "journal": tmp_path / "j.db",
            "daemon": DaemonSettings(),
        }
    )


@pytest.fixture
def served(tmp_path: Path) -> tuple[Daemon, ScriptedRunner, ScriptedRunner]:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    for name, instances in (("a", None), ("b", "[uat]"), ("c", "[prod]"), ("d", "[qa]")):
        (folder / f"{name}.yaml").write_text(yaml(name, instances), encoding="utf-8")
    (folder / "m.yaml").write_text("name: m\nactions:\n  - close: {}\n", encoding="utf-8")
    prod, uat = ScriptedRunner("prod"), ScriptedRunner("uat")
    instances = Served({"prod": prod, "uat": uat}, "prod")  # type: ignore[dict-item]
    service = Daemon(settings(tmp_path), instances, install_signals=False)
    return service, prod, uat


def test_each_playbook_is_a_job_on_each_instance_it_allows(
    served: tuple[Daemon, ScriptedRunner, ScriptedRunner],
) -> None:
    """Jobs are keyed by name on the default instance and name@instance elsewhere; a playbook
    for an instance the daemon does not serve gets no job and is logged as not served."""
    service, _, _ = served
    service.scheduler.start(paused=True)
    try:
        with capture_logs() as logs:
            service.reload()
        assert {job.id for job in service.scheduler.get_jobs()} == {"a", "a@uat", "b@uat", "c"}
    finally:
        service.scheduler.shutdown(wait=False)
    [loaded] = [e for e in logs if e["event"] == "playbooks_loaded"]
    assert loaded["instances"] == ["prod", "uat"] and loaded["not_served"] == ["d"]
    _, doc = service.health()
    assert {k: (v["playbook"], v["instance"]) for k, v in doc["playbooks"].items()} == {
        "a": ("a", "prod"), "a@uat": ("a", "uat"), "b@uat": ("b", "uat"), "c": ("c", "prod"),
    }  # fmt: skip


def test_run_once_runs_each_job_with_its_own_instance_runner(
    served: tuple[Daemon, ScriptedRunner, ScriptedRunner],
) -> None:
    """--once runs every job on its own instance's runner, with every log line of the run
    bound to that instance; each runner recovers its own runs at start."""
    service, prod, uat = served
    assert service.run_once() == 0
    assert prod.calls == [("a", "prod"), ("c", "prod")]
    assert uat.calls == [("a", "uat"), ("b", "uat")]
    assert (prod.recovered, uat.recovered) == (1, 1)


def test_metrics_and_health_are_per_instance(
    served: tuple[Daemon, ScriptedRunner, ScriptedRunner],
) -> None:
    """/metrics labels every series with halo_instance (zero series for jobs not run yet);
    /healthz's last run of a@uat is uat's run; run_job of an unknown key is None."""
    service, prod, _ = served
    service.reload()
    record = service.run_job("a@uat")
    assert record is not None and record.outcome.run_id == "run-a-uat" and prod.calls == []
    assert service.run_job("b") is None  # b runs on uat only: its key is b@uat
    text = service.prometheus()
    assert 'halo_automate_tickets_changed_total{halo_instance="uat",playbook="a"} 2' in text
    assert 'halo_automate_tickets_changed_total{halo_instance="prod",playbook="a"} 0' in text
    assert 'halo_automate_runs_total{halo_instance="uat",playbook="b",status="succeeded"} 0' in (
        text
    )
    assert 'playbook="d"' not in text
    _, doc = service.health()
    assert doc["playbooks"]["a@uat"]["last_run"]["run_id"] == "run-a-uat"
    assert doc["playbooks"]["a"]["last_run"] is None


def test_stop_reaches_every_instance_runner(
    served: tuple[Daemon, ScriptedRunner, ScriptedRunner],
) -> None:
    """A stop asks every served instance's runner to stop after its in-flight batch."""
    service, prod, uat = served
    service.request_stop()
    assert service.serve() == 0
    assert prod.stopped and uat.stopped


def test_job_keys_keep_the_default_instance_names() -> None:
    """The default instance's job keys are the playbook names (as before instances)."""
    assert job_key("a", "prod", "prod") == "a"
    assert job_key("a", "uat", "prod") == "a@uat"


# ------------------------------------------------------------------ over two sandboxes


@pytest.fixture
def workspace(
    tmp_path: Path, sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Any, Any]:
    prod = sandbox_factory(client_secret=PROD_SECRET)
    uat = sandbox_factory(client_secret=UAT_SECRET)
    playbooks = {
        "close-spam": SPAM,  # every instance
        "category-cleanup": variant(CATEGORIES, "category-cleanup", instances="[uat]"),
    }
    config = write_instances_config(tmp_path, prod, uat, playbooks)
    for key, value in environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HALO_AUTOMATE_INSTANT_BACKOFF", "1")
    return config, prod, uat


def test_daemon_serving_two_instances_runs_each_playbook_on_its_own(
    workspace: tuple[Path, Any, Any],
) -> None:
    """One service over prod and uat: close-spam runs on both, category-cleanup (instances:
    [uat]) on uat only; each run is journaled with its instance and identity, each sandbox
    got exactly its own writes (prod no ticket update: only category-cleanup makes those),
    and /metrics counts each instance's tickets."""
    config, prod, uat = workspace
    settings = load_settings(config)
    journal = Journal.open(settings.journal)
    instances = Served.open(settings, (), journal)
    try:
        service = Daemon(settings, instances, install_signals=False)
        assert service.run_once() == 0
        text = service.prometheus()
    finally:
        instances.close()
    runs = {(r.playbook, r.instance_name): r for r in journal.runs(limit=None)}
    journal.close()
    assert set(runs) == {("close-spam", "prod"), ("close-spam", "uat"),
                         ("category-cleanup", "uat")}  # fmt: skip
    assert all(r.status == "succeeded" for r in runs.values())
    assert runs[("close-spam", "prod")].instance_identity == prod.base_url
    assert runs[("close-spam", "uat")].instance_identity == uat.base_url
    assert runs[("category-cleanup", "uat")].instance_identity == uat.base_url
    spam = runs[("close-spam", "prod")].counts.done
    assert prod.counters["actions_written"] == spam and prod.counters["tickets_written"] == 0
    assert uat.counters["tickets_written"] == runs[("category-cleanup", "uat")].counts.done > 0
    assert (
        f'halo_automate_tickets_changed_total{{halo_instance="prod",playbook="close-spam"}} {spam}'
        in text
    )
    assert (
        'halo_automate_tickets_changed_total{halo_instance="uat",playbook="category-cleanup"}'
        in text
    )


def test_daemon_instance_option_serves_only_the_named_instance(
    workspace: tuple[Path, Any, Any],
) -> None:
    """`daemon --once --instance uat` talks to uat alone (prod sees no request, not even a
    token); an unknown --instance is exit 2 with a did-you-mean before any request."""
    config, prod, uat = workspace
    bad = CliRunner().invoke(main, ["daemon", "--once", "--instance", "uta", "--config",
                                    str(config)])  # fmt: skip
    assert bad.exit_code == 2 and "did you mean 'uat'?" in bad.output
    assert untouched(prod) and untouched(uat)
    result = CliRunner().invoke(main, ["daemon", "--once", "--instance", "uat", "--config",
                                       str(config)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert untouched(prod) and uat.counters["writes_applied"] > 0
    summaries = [json.loads(x) for x in result.output.splitlines() if '"run_summary"' in x]
    assert sorted((s["playbook"], s["instance"]) for s in summaries) == [
        ("category-cleanup", "uat"), ("close-spam", "uat"),
    ]  # fmt: skip


def test_an_unknown_instance_for_the_service_is_a_config_error(tmp_path: Path) -> None:
    """Served.open validates every name before building any client."""
    journal = Journal.open(tmp_path / "j.db")
    with pytest.raises(ConfigError, match="no instance 'qa'"):
        Served.open(settings(tmp_path), ("uat", "qa"), journal)


def test_a_run_is_stuck_past_its_own_instance_deadline() -> None:
    """/healthz's stuck runs use each instance's run_deadline_seconds: a uat run past uat's
    deadline is stuck while a prod run started as long ago is not (prod's is longer)."""
    runners = {"prod": ScriptedRunner("prod"), "uat": ScriptedRunner("uat")}
    instances = Served(runners, "prod", {"prod": 3600, "uat": 60})  # type: ignore[arg-type]
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    running = {"a": t0, "a@uat": t0, "b@uat": t0 + timedelta(seconds=30)}
    assert instances.overdue(running, t0 + timedelta(seconds=61)) == ["a@uat"]
    assert instances.overdue(running, t0 + timedelta(seconds=3601)) == ["a", "a@uat", "b@uat"]
    assert instances.overdue(running, t0 + timedelta(seconds=59)) == []
