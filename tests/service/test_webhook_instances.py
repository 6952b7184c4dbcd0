"""Webhooks with several Halo instances (issue 15 merged over issue 12): a delivery is for ONE
Halo, ``webhooks.instance`` (default: the config's default instance). Its batch is read and
run through that instance's runner, only the webhook playbooks allowed there run, each keyed
like its scheduled job there. An unset ``${HALO_WEBHOOK_PASSWORD}`` breaks only the listener."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from conftest import SandboxFactory
from pydantic import SecretStr
from structlog.testing import capture_logs

from halo_automate.cli import main
from halo_automate.config import DaemonSettings, HaloSettings, Settings
from halo_automate.config.webhooks import WebhookSettings
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.playbook import Playbook
from halo_automate.errors import ConfigError
from halo_automate.service.daemon import Daemon
from halo_automate.service.instances import Served
from halo_automate.service.webhook_runs import WebhookRuns, start_webhooks
from halo_automate.store.journal import Journal

PASSWORD = "a-long-webhook-password"


class ScriptedRunner:
    """One instance's Runner: records each run (playbook, trigger, the scope's client and
    ids, the instance bound in the log context) and succeeds. Its journal is a real, empty
    one: the daemon reads pauses and approvals from it (issue 16), never runs."""

    def __init__(self, name: str, journal: Journal | None = None) -> None:
        self.name = name
        self.journal = journal
        self.client = SimpleNamespace(stats=SimpleNamespace(snapshot=self._snap),
                                      begin_run=self._snap, name=name)  # fmt: skip
        self.calls: list[tuple[str, str, Any, Any, Any]] = []

    def _snap(self) -> dict[str, int]:
        return {"requests": 0, "rate_limited": 0}

    def run(
        self, playbook: Playbook, *, trigger: str, confirm: Any, scope: Any = None
    ) -> RunOutcome:
        bound = structlog.contextvars.get_contextvars().get("instance")
        client = None if scope is None else scope.client.name
        ids = None if scope is None else scope.ids
        self.calls.append((playbook.name, trigger, client, ids, bound))
        return RunOutcome(f"run-{playbook.name}", playbook.name, "apply", RunStatus.SUCCEEDED)

    def recover(self, playbook: str | None = None) -> list[RunOutcome]:
        return []

    def request_stop(self) -> None:
        pass


def settings(tmp_path: Path, **webhooks: Any) -> Settings:
    halo = {"client_id": "x", "client_secret": SecretStr("s")}
    hooks = {"listen": "127.0.0.1:0", "username": "halo", "password": SecretStr(PASSWORD)}
    return Settings.model_validate(
        {
            "instances": {
                "prod": HaloSettings(base_url="http://127.0.0.1:9", **halo),
                "uat": HaloSettings(base_url="http://127.0.0.1:10", **halo),
            },
            "default_instance": "prod",
            "playbooks_dir": tmp_path / "playbooks",
            "journal": tmp_path / "j.db",
            "daemon": DaemonSettings(watch_playbooks=False),
            "webhooks": WebhookSettings.model_validate({**hooks, **webhooks}),
        }
    )


def playbook(name: str, instances: str | None, triggers: str = "[webhook]") -> str:
    text = f"name: {name}\ntriggers: {triggers}\nactions:\n  - close: {{}}\n"
    return text + (f"instances: {instances}\n" if instances else "")


class NoScheduler:
    def add_job(self, func: Any, **options: Any) -> None:
        raise AssertionError("run_batch is called directly here")


def daemon(tmp_path: Path, **webhooks: Any) -> tuple[Daemon, ScriptedRunner, ScriptedRunner]:
    folder = tmp_path / "playbooks"
    folder.mkdir(exist_ok=True)
    for name, instances in (("w-any", None), ("w-prod", "[prod]"), ("w-uat", "[uat]")):
        (folder / f"{name}.yaml").write_text(playbook(name, instances), encoding="utf-8")
    sched = 'name: s\nschedule: "every 5m"\nactions:\n  - close: {}\n'
    (folder / "s.yaml").write_text(sched, encoding="utf-8")
    journal = Journal.open(tmp_path / "j.db")
    prod, uat = ScriptedRunner("prod", journal), ScriptedRunner("uat", journal)
    served = Served({"prod": prod, "uat": uat}, "prod")  # type: ignore[dict-item]
    service = Daemon(settings(tmp_path, **webhooks), served, install_signals=False)
    service.load()
    return service, prod, uat


def test_a_delivery_runs_on_the_default_instance_by_default(tmp_path: Path) -> None:
    """Without ``webhooks.instance`` the batch is the default instance's: read through its
    client, run by its runner, only the webhook playbooks it allows; uat runs nothing."""
    service, prod, uat = daemon(tmp_path)
    runs = WebhookRuns(service.settings.webhooks, service, NoScheduler())  # type: ignore[arg-type]
    finished = runs.run_batch([7, 3, 7])
    assert [(r.outcome.playbook, r.instance) for r in finished] == [
        ("w-any", "prod"), ("w-prod", "prod"),
    ]  # fmt: skip
    assert prod.calls == [
        ("w-any", "webhook", "prod", (3, 7), "prod"),
        ("w-prod", "webhook", "prod", (3, 7), "prod"),
    ]
    assert uat.calls == []


def test_webhooks_instance_names_the_halo_the_deliveries_come_from(tmp_path: Path) -> None:
    """``webhooks.instance: uat``: uat's runner and client, uat's playbooks, keyed as uat's
    jobs (``name@uat`` off the default instance)."""
    service, prod, uat = daemon(tmp_path, instance="uat")
    runs = WebhookRuns(
        service.settings.webhooks,
        service,
        NoScheduler(),
        instance="uat",  # type: ignore[arg-type]
    )
    running: list[dict[str, Any]] = []
    original = service.run_job

    def spy(name: str, webhook: Any = None) -> Any:
        running.append({"key": name, "instance": webhook.job.instance})
        return original(name, webhook)

    service.run_job = spy  # type: ignore[method-assign]
    runs.run_batch([5])
    assert running == [
        {"key": "w-any@uat", "instance": "uat"}, {"key": "w-uat@uat", "instance": "uat"},
    ]  # fmt: skip
    assert [c[:4] for c in uat.calls] == [
        ("w-any", "webhook", "uat", (5,)),
        ("w-uat", "webhook", "uat", (5,)),
    ]
    assert prod.calls == []


def test_the_listener_starts_for_its_instance_only(tmp_path: Path) -> None:
    """An unknown ``webhooks.instance`` is a config error with a did-you-mean when the
    listener starts; a daemon that does not serve the instance does not listen."""
    service, _, _ = daemon(tmp_path, instance="uta")
    with pytest.raises(ConfigError, match="uat"):
        start_webhooks(service.settings, service, NoScheduler())
    only_uat = Daemon(
        settings(tmp_path),
        Served({"uat": ScriptedRunner("uat")}, "prod"),  # type: ignore[dict-item]
        install_signals=False,
    )
    with capture_logs() as logs:
        assert start_webhooks(only_uat.settings, only_uat, NoScheduler()) is None
    assert [e["instance"] for e in logs if e["event"] == "webhooks_not_served"] == ["prod"]


def test_an_unset_password_fails_only_when_the_listener_starts(
    tmp_path: Path, sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``password: ${HALO_WEBHOOK_PASSWORD}`` unset: validate, a plan and ``daemon --once``
    (which does not listen) work; the serving daemon refuses to start with one line naming
    the variable."""
    sb = sandbox_factory()
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "w.yaml").write_text(
        "name: w\ntriggers: [webhook]\nschedule: every 5m\nselect: {open_only: true}\n"
        "where:\n  summary: {contains: no-such-summary-here}\nactions:\n  - close: {}\n",
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"halo:\n  base_url: {sb.base_url}\n  client_id: {sb.client_id}\n"
        f"  client_secret: {sb.client_secret}\n"
        "  rate_limit: {requests: 100000, per_seconds: 1}\n"
        f"playbooks_dir: {folder}\njournal: {tmp_path / 'j.db'}\n"
        "daemon: {watch_playbooks: false}\n"
        "webhooks:\n  listen: 127.0.0.1:0\n  username: halo\n"
        "  password: ${HALO_WEBHOOK_PASSWORD}\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("HALO_WEBHOOK_PASSWORD", raising=False)
    cli = CliRunner()
    for args in (["validate"], ["plan", "w", "--json"], ["daemon", "--once"]):
        result = cli.invoke(main, ["--config", str(config), *args])
        assert result.exit_code == 0, (args, result.output)
    result = cli.invoke(main, ["--config", str(config), "daemon"])
    assert result.exit_code == 2, result.output
    [line] = [ln for ln in result.output.splitlines() if "HALO_WEBHOOK_PASSWORD" in ln]
    assert "webhooks.password" in line
