"""The sandbox's last-update date filter (FACTS §2.3) and its switch to ignore it, as a tenant
that does not honour it would (issue 15: the incremental fallback is tested against it)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from apply_support import client_for
from click.testing import CliRunner
from clock import FakeClock
from conftest import SandboxFactory

from halo_automate.core.dates import format_halo_date
from halo_automate.sandbox import SandboxServer, command
from halo_automate.sandbox.command import sandbox_command


def since_query(clock: FakeClock, column: str = "last_update") -> dict[str, str]:
    return {"datesearch": column, "startdate": format_halo_date(clock.now())}


def test_datesearch_on_the_last_update_filters_and_an_unknown_column_is_ignored(
    sandbox_factory: SandboxFactory,
) -> None:
    clock = FakeClock()
    sb = sandbox_factory(monotonic=clock, sleep=clock.sleep, now=clock.now())
    clock.advance(minutes=1)
    query = since_query(clock)
    sb.edit_ticket(7, last_update=format_halo_date(clock.now() + timedelta(seconds=1)))
    with client_for(sb) as client:
        assert [t["id"] for t in client.iter_tickets(query)] == [7]
        assert len(list(client.iter_tickets(since_query(clock, "lastupdate")))) == 600


def test_the_switch_ignores_the_date_filter(sandbox_factory: SandboxFactory) -> None:
    clock = FakeClock()
    sb = sandbox_factory(monotonic=clock, sleep=clock.sleep, now=clock.now(),
                         ignore_date_filter=True)  # fmt: skip
    clock.advance(minutes=1)
    with client_for(sb) as client:
        assert len(list(client.iter_tickets(since_query(clock)))) == 600


def test_the_command_line_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[SandboxServer] = []

    def fake_serve(sandbox: SandboxServer, stop: threading.Event | None = None) -> None:
        seen.append(sandbox)
        sandbox.stop()

    monkeypatch.setattr(command, "serve_until_stopped", fake_serve)
    args = ["--port", "0", "--tickets", "5", "--ignore-date-filter"]
    result = CliRunner().invoke(sandbox_command, args)
    assert result.exit_code == 0, result.output
    assert seen[0].options.ignore_date_filter
    assert not seen[0].state.behaviour.date_filter
