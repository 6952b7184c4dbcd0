"""Test helpers: a started sandbox with small, fast defaults."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from halo_automate.sandbox.server import SandboxOptions, SandboxServer

TEST_DEFAULTS: dict[str, Any] = {"port": 0, "tickets": 600, "rate_limit": 0}
"""Free port, 600 tickets (enough for every planted kind), no rate limit."""


def sandbox_options(**overrides: Any) -> SandboxOptions:
    return SandboxOptions(**{**TEST_DEFAULTS, **overrides})


@contextmanager
def running_sandbox(**overrides: Any) -> Iterator[SandboxServer]:
    """``with running_sandbox(tickets=100) as sb:`` -- started, stopped afterwards."""
    with SandboxServer(sandbox_options(**overrides)) as sandbox:
        yield sandbox
