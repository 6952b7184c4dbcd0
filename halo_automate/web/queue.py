"""The approvals queue pages (filled in on the approvals API of issue 16)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from halo_automate.store.listing import count_runs
from halo_automate.web.console import Console


def waiting_count(console: Console) -> int:
    return count_runs(console.journal, status="awaiting_approval")


def paused(console: Console) -> list[str]:
    return []


def decision_of(console: Console, run_id: str) -> Any:
    return None


ROUTES: list[Route] = []
