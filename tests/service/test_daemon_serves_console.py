"""The daemon serves the web console when the config has web: — its schedule on the overview,
and an approval given in the console applied on the daemon's own worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apply_support import differences, planned_state, rig, tickets
from web_support import PASSWORD, USERS, csrf_of, free_port, password_hash

from halo_automate.config import settings_from_mapping
from halo_automate.sandbox import SandboxServer
from halo_automate.service.daemon import Daemon

SPAM = (Path(__file__).resolve().parents[2] / "playbooks" / "close-spam.yaml").read_text()


def until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def daemon(sandbox: SandboxServer, tmp_path: Path) -> Iterator[tuple[Daemon, str, Any]]:
    """A daemon over the sandbox whose close-spam runs hourly and needs another person's
    approval; its console on a free loopback port."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    text = SPAM.replace('schedule: "*/15 * * * *"', 'schedule: "every 1h"')
    text += "approval: {required: true, approver_must_differ: true}\n"
    (folder / "close-spam.yaml").write_text(text, encoding="utf-8")
    port, users = free_port(), dict.fromkeys(USERS, password_hash())
    settings = settings_from_mapping(
        {
            "halo": {"base_url": sandbox.base_url, "client_id": "id", "client_secret": "x"},
            "playbooks_dir": str(folder),
            "journal": str(tmp_path / "journal.db"),
            "daemon": {"watch_playbooks": False},
            "web": {"listen": f"127.0.0.1:{port}", "users": users},
        },
        env={},
    )
    r = rig(sandbox, tmp_path / "journal.db")
    service = Daemon(settings, r.runner, install_signals=False)
    thread = threading.Thread(target=service.serve, daemon=True)
    thread.start()
    yield service, f"http://127.0.0.1:{port}", r
    service.request_stop()
    thread.join(20)


def test_an_approval_in_the_daemons_console_is_applied_by_the_daemon(
    daemon: tuple[Daemon, str, Any],
) -> None:
    service, url, r = daemon
    held = until(lambda: r.journal.approvals(state="waiting"))[0]  # the run at start waits
    before, plan = tickets(r.sb), r.plan_of(held.run_id)
    with httpx.Client(base_url=url) as web:
        until(lambda: web.get("/healthz").status_code == 200)
        token = csrf_of(web.get("/login").text)
        login = {"username": "bob", "password": PASSWORD, "csrf_token": token}
        assert web.post("/login", data=login).status_code == 303
        overview = web.get("/").text
        assert "every 1h" in overview and "1</strong> plan awaiting approval" in overview
        next_run = service.health()[1]["playbooks"]["close-spam"]["next_run"]
        assert next_run and next_run in overview  # the daemon's schedule
        token = csrf_of(web.get("/approvals").text)
        answer = web.post(f"/approvals/{held.run_id}/approve", data={"csrf_token": token})
        assert answer.status_code == 303
        row = until(lambda: (a := r.journal.approval(held.run_id)) and a.applied_run_id and a)
        applied = until(lambda: (x := r.journal.run(row.applied_run_id)) and x.finished_at and x)
        assert applied.status == "succeeded" and applied.trigger == "approval"
        assert differences(tickets(r.sb), planned_state(before, plan)) == []
        assert "applied as run" in web.get(f"/runs/{held.run_id}").text
