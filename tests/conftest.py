"""Shared fixtures. The sandbox Halo fixtures start a real loopback HTTP server."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fault_tools import SecretWatch
from hypothesis import settings

from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox.testing import sandbox_options

SandboxFactory = Callable[..., SandboxServer]

# Property tests that do not pin their own count take the profile's: Hypothesis' default of 100
# examples in the everyday run; `pytest --hypothesis-profile=thorough` tries 2000 of each.
settings.register_profile("thorough", max_examples=2000)

TMPFS = Path("/dev/shm")
TMPFS_MIN_FREE = 1 << 30  # bytes: a whole run's temporary files are a few tens of MB


def pytest_configure(config: pytest.Config) -> None:
    """Temporary directories (``tmp_path``) in memory, on ``/dev/shm``, where there is one.

    The journal commits with ``synchronous=FULL``: every commit is an fsync, and the suite
    commits tens of thousands of times, so on a disk the suite spends about half its time
    waiting for fsyncs that no test can observe (durability across a power cut is not
    something a test checks). On tmpfs an fsync returns at once. An explicit ``--basetemp``
    or ``PYTEST_DEBUG_TEMPROOT`` (pytest's documented setting for the root) wins, and a
    small ``/dev/shm`` (a container's 64 MB default) is left alone.
    """
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    if TMPFS.is_dir() and os.access(TMPFS, os.W_OK | os.X_OK):
        free = os.statvfs(TMPFS)
        if free.f_bavail * free.f_frsize >= TMPFS_MIN_FREE:
            os.environ["PYTEST_DEBUG_TEMPROOT"] = str(TMPFS)


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Start sandboxes with ``SandboxOptions`` overrides (600 tickets, no rate limit by
    default) and optionally a fake clock (``monotonic=clock, sleep=clock.sleep``); every one
    started is stopped after the test."""
    started: list[SandboxServer] = []

    def make(
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        **overrides: Any,
    ) -> SandboxServer:
        sandbox = SandboxServer(sandbox_options(**overrides), monotonic=monotonic, sleep=sleep)
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> SandboxServer:
    """A fresh running sandbox Halo: 600 seeded tickets, seed 1, no rate limit."""
    return sandbox_factory()


@pytest.fixture(autouse=True)
def _no_inherited_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-xdist starts its workers with COLUMNS=80, which the CLI's console honours off a
    terminal: every test sees the same environment as a plain run (a test that wants a width
    sets COLUMNS itself)."""
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Every test starts and ends with structlog's defaults, so no test's log setup (level
    filters, renderers, bound context) leaks into the next."""
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def watch() -> Iterator[SecretWatch]:
    """Every log line of the test is captured; no secret or token may appear in any text."""
    w = SecretWatch()
    w.capture_logs()
    yield w
    w.release()
    assert w.leaks() == []
