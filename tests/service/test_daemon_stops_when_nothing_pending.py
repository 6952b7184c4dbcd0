"""Issue 12, case 6: a stop while a run is still reading or planning ends it at once.

Ctrl-C (or SIGTERM) of the daemon while a run was still reading pages used to wait the whole
stop timeout and then exit 5 saying pending rows would be reconciled, though nothing had been
written. Now the run stops before its next request (or its next second of waiting for the
request budget), is journaled ``interrupted`` with nothing written, and the daemon exits 0
within a second or two. The pending-rows message is only given when rows are pending.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SandboxFactory
from pydantic import SecretStr
from structlog.testing import capture_logs

from halo_automate.config import HaloSettings, Settings
from halo_automate.config.halo import RateLimit
from halo_automate.config.settings import DaemonSettings
from halo_automate.core.outcome import RunStatus
from halo_automate.engine.runner import Runner
from halo_automate.errors import ExitCode
from halo_automate.halo.client import HaloClient
from halo_automate.halo.ratelimit import RequestBudget
from halo_automate.sandbox import SandboxServer
from halo_automate.service.daemon import Daemon
from halo_automate.store.budget import JournalWindow
from halo_automate.store.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
SPAM = re.sub(
    r"(?m)^schedule:.*$",
    'schedule: "every 1h"',
    (ROOT / "playbooks" / "close-spam.yaml").read_text(encoding="utf-8"),
)


def slow_pages(sb: SandboxServer, seconds: float) -> threading.Event:
    """Each ticket page takes ``seconds``; the event is set once the scan has begun."""
    begun = threading.Event()

    def hook(query: dict[str, str]) -> None:
        begun.set()
        time.sleep(seconds)

    sb.before_list(hook)
    return begun


@pytest.fixture
def settings(tmp_path: Path, sandbox: SandboxServer) -> Settings:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "close-spam.yaml").write_text(SPAM, encoding="utf-8")
    return Settings(
        halo=HaloSettings(
            base_url=sandbox.base_url,
            client_id=sandbox.client_id,
            client_secret=SecretStr(sandbox.client_secret),
            page_size=5,
            concurrency=1,
        ),
        playbooks_dir=folder,
        journal=tmp_path / "journal.db",
        daemon=DaemonSettings(stop_timeout_seconds=30, watch_playbooks=False),
    )


@pytest.fixture
def journal(settings: Settings) -> Iterator[Journal]:
    with Journal.open(settings.journal) as journal:
        yield journal


def serve(service: Daemon) -> tuple[threading.Thread, list[int]]:
    code: list[int] = []
    thread = threading.Thread(target=lambda: code.append(service.serve()), daemon=True)
    thread.start()
    return thread, code


def test_stop_while_reading_pages_exits_0_at_once(
    settings: Settings, journal: Journal, sandbox: SandboxServer
) -> None:
    """Stop during a slow scan: serve returns 0 within two seconds (not after the 30 s stop
    timeout), the run is journaled interrupted, and nothing reached Halo."""
    begun = slow_pages(sandbox, 0.2)
    with HaloClient(settings.halo) as client:
        service = Daemon(settings, Runner(client, journal), install_signals=False)
        thread, code = serve(service)
        assert begun.wait(10)
        started = time.monotonic()
        with capture_logs() as logs:
            service.request_stop()
            thread.join(10)
        took = time.monotonic() - started
    assert code == [ExitCode.OK] and took < 2.0
    assert service.abandoned == []
    [run] = journal.runs()
    assert run.status == RunStatus.INTERRUPTED
    assert "nothing was written" in (run.message or "")
    assert sandbox.counters["writes_applied"] == 0
    assert not [e for e in logs if e["event"] == "stop_timeout"]


def test_stop_while_waiting_for_the_budget_exits_at_once(
    settings: Settings, journal: Journal, sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A run waiting minutes for a slot of the shared budget (another process filled it)
    stops within a second or two of the request too."""
    sb = sandbox_factory()
    halo = settings.halo.model_copy(
        update={"base_url": sb.base_url, "rate_limit": RateLimit(requests=5, per_seconds=300)}
    )
    settings = settings.model_copy(update={"halo": halo})
    with JournalWindow.open(settings.journal) as window:
        for _ in range(4):  # another process used 4 of the 4 slots (share 0.8 of 5)
            window.take(halo.identity, time.time(), 300, 0.0, 4)
        budget = RequestBudget.for_instance(halo, window=window)
        with HaloClient(halo, budget=budget) as client:
            service = Daemon(settings, Runner(client, journal), install_signals=False)
            thread, code = serve(service)
            time.sleep(0.5)  # the run is waiting for its first slot (its token)
            assert service.in_flight()
            started = time.monotonic()
            service.request_stop()
            thread.join(10)
            took = time.monotonic() - started
    assert code == [ExitCode.OK] and took < 2.5
    [run] = journal.runs()
    assert run.status == RunStatus.INTERRUPTED
    assert sb.counters["requests"] == 0


def test_sigint_of_the_daemon_process_during_a_scan(
    settings: Settings, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The real process: SIGINT while it reads pages; it exits 0 promptly, journaled."""
    slow_pages(sandbox, 0.2)
    config = tmp_path / "config.yaml"
    config.write_text(
        "halo:\n"
        f"  base_url: {sandbox.base_url}\n"
        f"  client_id: {sandbox.client_id}\n"
        "  client_secret: ${SANDBOX_SECRET}\n"
        "  page_size: 5\n"
        "  concurrency: 1\n"
        "playbooks_dir: playbooks\n"
        "journal: journal.db\n"
        "daemon: {watch_playbooks: false, stop_timeout_seconds: 30}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "SANDBOX_SECRET": sandbox.client_secret, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "halo_automate", "daemon", "--config", str(config)],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while sandbox.counters["requests_by_endpoint"].get("GET /api/Tickets", 0) < 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert took < 3.0
    assert "reconciled" not in err
    with Journal.open(tmp_path / "journal.db") as journal:
        [run] = journal.runs()
    assert run.status == RunStatus.INTERRUPTED
    assert sandbox.counters["writes_applied"] == 0


def test_stop_timeout_names_pending_rows_only_when_there_are_some(
    settings: Settings, journal: Journal, sandbox: SandboxServer
) -> None:
    """A run stuck in one slow read outlasts the stop timeout: the daemon exits anyway, and
    says nothing is left to reconcile (the journal has no pending rows), not that pending
    rows will be reconciled."""
    release = threading.Event()
    begun = threading.Event()

    def stuck(query: dict[str, str]) -> None:
        begun.set()
        release.wait(10)

    sandbox.before_list(stuck)
    settings = settings.model_copy(update={"daemon": DaemonSettings(stop_timeout_seconds=0.3)})
    with HaloClient(settings.halo) as client:
        service = Daemon(settings, Runner(client, journal), install_signals=False)
        thread, code = serve(service)
        assert begun.wait(10)
        with capture_logs() as logs:
            service.request_stop()
            thread.join(5)
        release.set()
        wait = time.monotonic() + 10
        while service.in_flight() and time.monotonic() < wait:
            time.sleep(0.05)
    assert code == [ExitCode.PARTIAL] and service.abandoned == ["close-spam"]
    [timeout] = [e for e in logs if e["event"] == "stop_timeout"]
    assert "no pending rows" in timeout["note"] and "reconciled on" not in timeout["note"]
    assert journal.pending() == []
