"""Test helpers: a started sandbox with small, fast defaults."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from halo_automate.sandbox.server import SandboxOptions, SandboxServer

TEST_DEFAULTS: dict[str, Any] = {"port": 0, "tickets": 600, "rate_limit": 0}
"""Free port, 600 tickets (enough for every planted kind), no rate limit."""


def sandbox_options(**overrides: Any) -> SandboxOptions:
    return SandboxOptions(**{**TEST_DEFAULTS, **overrides})


@contextmanager
def running_sandbox(
    *,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    **overrides: Any,
) -> Iterator[SandboxServer]:
    """``with running_sandbox(tickets=100) as sb:`` -- started, stopped afterwards (pass a fake
    clock as ``monotonic`` and ``sleep`` to control the rate-limit window and token expiry)."""
    with SandboxServer(sandbox_options(**overrides), monotonic=monotonic, sleep=sleep) as sandbox:
        yield sandbox
