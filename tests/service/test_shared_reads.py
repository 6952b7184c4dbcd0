"""The daemon's shared reads (service/shared_reads.py, issue 15): what a moment is, which read
covers which window, and tickets another run wrote are re-read before they are shared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from apply_support import client_for
from conftest import SandboxFactory

from halo_automate.sandbox import reference as ref
from halo_automate.service.shared_reads import SharedReads

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OPEN = {"open_only": "true"}
ROWS = [{"id": 1}, {"id": 2}]


def cache(now: datetime = T) -> SharedReads:
    return SharedReads(SimpleNamespace(), lambda: now)  # type: ignore[arg-type]


def test_a_read_is_shared_within_its_moment_for_the_identical_query_only() -> None:
    shared = cache()
    shared.begin("a", T)
    assert shared.get("default", OPEN, None) is None
    shared.put("default", OPEN, None, ROWS, T)
    shared.begin("b", T + timedelta(seconds=30))  # the same moment (within a minute)
    assert shared.get("default", OPEN, T - timedelta(minutes=5)) == (ROWS, T)  # full covers
    assert shared.get("default", OPEN, None) == (ROWS, T)
    assert shared.get("default", {"open_only": "false"}, None) is None
    assert shared.get("other-instance", OPEN, None) is None
    assert shared.reused == 2
    shared.begin("a", T + timedelta(minutes=15))  # the next moment reads afresh
    assert shared.get("default", OPEN, None) is None


def test_an_updated_since_read_covers_later_windows_only() -> None:
    shared = cache()
    shared.begin("a", T)
    since = T - timedelta(minutes=7)
    shared.put("default", OPEN, since, ROWS, T)
    assert shared.get("default", OPEN, since + timedelta(minutes=2)) == (ROWS, T)
    assert shared.get("default", OPEN, since - timedelta(minutes=10)) is None
    assert shared.get("default", OPEN, None) is None  # a full read needs a full read
    shared.put("default", OPEN, since - timedelta(minutes=10), ROWS[:1], T)  # wider: replaces
    assert shared.get("default", OPEN, since - timedelta(minutes=10)) == (ROWS[:1], T)


def test_the_scheduler_tells_each_job_its_moment_and_once_holds_one() -> None:
    shared = cache(now=T + timedelta(minutes=3))
    shared._submitted(SimpleNamespace(job_id="a", scheduled_run_times=[T]))  # type: ignore[arg-type]
    shared.begin("a")
    shared.put("default", OPEN, None, ROWS, T)
    shared.begin("b")  # no submission seen: now, three minutes later, is another moment
    assert shared.get("default", OPEN, None) is None
    shared.hold(T)  # --once: every run from now on is one moment
    shared.begin("c")
    shared.put("default", OPEN, None, ROWS, T)
    shared.begin("d")
    assert shared.get("default", OPEN, None) is not None


def test_tickets_another_run_wrote_are_re_read_with_the_querys_filters(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory()
    with client_for(sb) as client:
        rows = list(client.iter_tickets(OPEN))
        shared = SharedReads(client, lambda: T)
        shared.begin("a", T)
        shared.put("default", OPEN, None, rows, T)
        closed, edited = rows[0]["id"], rows[1]["id"]
        sb.edit_ticket(closed, status_id=ref.CLOSED_STATUS)
        sb.edit_ticket(edited, summary="changed meanwhile")
        shared.wrote("default", [closed, edited])
        shared.begin("b", T)
        got = shared.get("default", OPEN, None)
    assert got is not None
    by_id: dict[int, Any] = {r["id"]: r for r in got[0]}
    assert closed not in by_id  # no longer matches open_only: dropped
    assert by_id[edited]["summary"] == "changed meanwhile"
    assert len(by_id) == len(rows) - 1
    assert [r["id"] for r in got[0]] == sorted(by_id)


def test_a_playbook_running_again_starts_a_new_moment() -> None:
    """An `every 5s` job fires again within the tolerance: its own earlier read (and every
    other of that moment) is not reused; it would be the previous run's stale state."""
    shared = cache()
    shared.begin("fast", T)
    shared.put("default", OPEN, None, ROWS, T)
    shared.begin("fast", T + timedelta(seconds=5))
    assert shared.get("default", OPEN, None) is None


class FlakyClient:
    """Fails its first read (a Halo outage), then answers ``rows``."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls = 0

    def iter_tickets(self, query: dict[str, str]) -> list[dict[str, Any]]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("outage")
        wanted = {int(i) for i in query["ticketids"].split(",")}
        return [r for r in self.rows if r["id"] in wanted]


def test_written_tickets_stay_dirty_until_a_re_read_succeeds() -> None:
    client = FlakyClient([{"id": 2, "summary": "fresh"}])
    shared = SharedReads(client, lambda: T)  # type: ignore[arg-type]
    shared.begin("a", T)
    shared.put("default", OPEN, None, [{"id": 1}, {"id": 2, "summary": "stale"}], T)
    shared.wrote("default", [2])
    shared.begin("b", T)
    try:
        shared.get("default", OPEN, None)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the outage should fail the read")
    got = shared.get("default", OPEN, None)
    assert got is not None and got[0] == [{"id": 1}, {"id": 2, "summary": "fresh"}]
    assert client.calls == 2
    assert shared.get("default", OPEN, None) is not None and client.calls == 2  # clean now
