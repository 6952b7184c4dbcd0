"""Shared fixtures. The sandbox Halo fixtures start a real loopback HTTP server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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
