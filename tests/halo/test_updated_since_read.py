"""One updated-since read, verified as it arrives (halo/incremental.py, issue 15): the form the
sandbox honours is trusted; a form Halo ignores is caught on the first page, which is all it
costs; a form Halo refuses is proof too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from apply_support import client_for
from clock import FakeClock
from conftest import SandboxFactory

from halo_automate.core.dates import format_halo_date, parse_halo_date
from halo_automate.core.incremental import LAST_UPDATE_FORMS
from halo_automate.halo.incremental import read_updated

FORMS = dict(LAST_UPDATE_FORMS)
OPEN = {"open_only": "true"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_the_honoured_form_returns_just_the_updated_tickets(
    sandbox_factory: SandboxFactory, clock: FakeClock
) -> None:
    sb = sandbox_factory(monotonic=clock, sleep=clock.sleep, now=clock.now())
    since = clock.now() + timedelta(minutes=1)
    clock.advance(minutes=5)
    stamp = format_halo_date(clock.now())
    for ticket_id in (3, 10, 11):
        sb.edit_ticket(ticket_id, last_update=stamp)
    with sb.locked_state() as state:
        expected = sorted(i for i in (3, 10, 11) if state.tickets[i]["status_id"] != 9)
    with client_for(sb) as client:
        got = read_updated(client, OPEN, since, FORMS["datesearch=last_update"], whole=200)
    assert got.rows is not None and got.problem is None
    assert sorted(r["id"] for r in got.rows) == expected
    assert all(parse_halo_date(r["last_update"]) >= since for r in got.rows)  # type: ignore[operator]


def test_a_form_halo_ignores_costs_one_page_and_is_proven_ignored(
    sandbox_factory: SandboxFactory, clock: FakeClock
) -> None:
    sb = sandbox_factory(monotonic=clock, sleep=clock.sleep, now=clock.now())
    with client_for(sb) as client:
        client.lookups()  # the token and lookups are not what this counts
        sb.reset_counters()
        got = read_updated(client, OPEN, clock.now(), FORMS["datesearch=lastupdate"], 200)
    assert got.rows is None and got.proof
    assert "was last updated" in (got.problem or "")
    assert sb.counters["requests_by_endpoint"]["GET /api/Tickets"] == 1


def test_a_whole_set_count_stops_the_read_without_proof(
    sandbox_factory: SandboxFactory, clock: FakeClock
) -> None:
    """Every open ticket updated since the cut-off: the count is the whole set, which a Halo
    ignoring the filter shows too, so the caller reads in full (but keeps the form)."""
    sb = sandbox_factory(monotonic=clock, sleep=clock.sleep, now=clock.now())
    since = clock.now() - timedelta(days=3650)
    with client_for(sb) as client:
        whole = sum(1 for _ in client.iter_tickets(OPEN))
        got = read_updated(client, OPEN, since, FORMS["datesearch=last_update"], whole)
    assert got.rows is None and not got.proof
    assert "the whole set" in (got.problem or "")


def test_a_form_halo_refuses_is_proof(sandbox_factory: SandboxFactory, clock: FakeClock) -> None:
    sb = sandbox_factory(monotonic=clock, sleep=clock.sleep, now=clock.now())
    with client_for(sb) as client:
        got = read_updated(client, OPEN, clock.now(), FORMS["lastupdatefromdate"], 200)
    assert got.rows is None and got.proof
    assert "Halo refused it" in (got.problem or "")


def test_the_sandbox_switch_ignores_the_date_filter(
    sandbox_factory: SandboxFactory, clock: FakeClock
) -> None:
    sb = sandbox_factory(monotonic=clock, sleep=clock.sleep, now=clock.now(),
                         ignore_date_filter=True)  # fmt: skip
    with client_for(sb) as client:
        got = read_updated(client, OPEN, clock.now(), FORMS["datesearch=last_update"], 200)
    assert got.rows is None and got.proof
