"""The daemon's wake-up: a stop or reload request (a call, or SIGTERM/SIGHUP) takes effect at
once, however long the main thread's poll interval is."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from halo_automate.config import DaemonSettings, HaloSettings, Settings
from halo_automate.core.outcome import RunOutcome
from halo_automate.errors import ExitCode
from halo_automate.service.daemon import Daemon
from halo_automate.service.wakeup import Wakeup

LONG_POLL = 30.0  # seconds: far longer than any assertion below waits


class IdleRunner:
    """A runner for a service with nothing scheduled: nothing to recover, nothing to run."""

    def __init__(self) -> None:
        self.stop_requested = False

    def recover(self, playbook: str | None = None) -> list[RunOutcome]:
        return []

    def request_stop(self) -> None:
        self.stop_requested = True


def idle_daemon(tmp_path: Path, *, install_signals: bool) -> Daemon:
    (tmp_path / "playbooks").mkdir()
    settings = Settings(
        halo=HaloSettings(
            base_url="http://127.0.0.1:9", client_id="x", client_secret=SecretStr("secret")
        ),
        playbooks_dir=tmp_path / "playbooks",
        journal=tmp_path / "journal.db",
        daemon=DaemonSettings(),
    )
    runner: Any = IdleRunner()
    return Daemon(settings, runner, poll_seconds=LONG_POLL, install_signals=install_signals)


def until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


# ---------------------------------------------------------------------------- Wakeup


def test_a_wake_before_the_wait_is_not_lost_and_is_consumed() -> None:
    """wake() then wait(): returns at once, woken; the next wait times out, not woken."""
    with Wakeup() as wakeup:
        wakeup.wake()
        wakeup.wake()  # two wakes before one wait are one wake-up
        started = time.monotonic()
        assert wakeup.wait(LONG_POLL) is True
        assert time.monotonic() - started < 1
        assert wakeup.wait(0.01) is False


def test_a_wake_from_another_thread_ends_a_wait_without_timeout() -> None:
    with Wakeup() as wakeup:
        threading.Timer(0.05, wakeup.wake).start()
        assert wakeup.wait(None) is True


def test_a_wake_outside_the_block_is_a_no_op_and_wait_needs_the_block() -> None:
    wakeup = Wakeup()
    wakeup.wake()  # not open: nothing to wake, no error
    with wakeup:
        assert wakeup.wait(0) is False  # the earlier wake was not kept
    wakeup.wake()  # closed: no error either
    with pytest.raises(RuntimeError, match="outside its with block"):
        wakeup.wait(0)


def test_a_wake_from_a_signal_handler_ends_the_wait() -> None:
    """The handler runs in the main thread while it waits: its wake still gets through."""
    with Wakeup() as wakeup:
        previous = signal.signal(signal.SIGUSR1, lambda signum, frame: wakeup.wake())
        try:
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
            started = time.monotonic()
            assert wakeup.wait(LONG_POLL) is True
            assert time.monotonic() - started < 5
        finally:
            signal.signal(signal.SIGUSR1, previous)


# ---------------------------------------------------------------------------- Daemon.serve


def test_request_stop_ends_serve_at_once_whatever_the_poll_interval(tmp_path: Path) -> None:
    """With a 30 s poll, request_stop (another thread) still stops serve within a second or
    two (it used to sleep out the poll first)."""
    service = idle_daemon(tmp_path, install_signals=False)
    result: list[ExitCode] = []
    thread = threading.Thread(target=lambda: result.append(service.serve()), daemon=True)
    thread.start()
    until(lambda: service.scheduler.running)
    started = time.monotonic()
    service.request_stop()
    thread.join(10)
    assert result == [ExitCode.OK]
    assert time.monotonic() - started < 5


def test_sighup_and_sigterm_act_at_once_whatever_the_poll_interval(tmp_path: Path) -> None:
    """In the main thread with a 30 s poll: SIGHUP reloads at once, SIGTERM stops at once."""
    service = idle_daemon(tmp_path, install_signals=True)
    loads: list[float] = []
    original = service.load

    def counting_load() -> Any:
        loads.append(time.monotonic())
        return original()

    service.load = counting_load  # type: ignore[method-assign]
    sent: dict[str, float] = {}

    def send() -> None:
        try:
            until(lambda: service.scheduler.running, timeout=60)
            sent["hup"] = time.monotonic()
            os.kill(os.getpid(), signal.SIGHUP)
            until(lambda: len(loads) == 2, timeout=60)  # the start's load, then the reload
        finally:  # whatever happened, stop the daemon: the assertions below say what failed
            sent["term"] = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=send, daemon=True).start()
    assert service.serve() == ExitCode.OK
    stopped = time.monotonic()
    assert len(loads) == 2 and loads[1] - sent["hup"] < 5
    assert stopped - sent["term"] < 5
