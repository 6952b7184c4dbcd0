"""One client never has more requests on the wire than its width, however its fan-outs meet."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fault_tools import SandboxFactory, client_for
from overlap_support import Requests

from halo_automate.halo.inflight import InFlight


def test_fan_outs_that_meet_share_the_clients_width(sandbox_factory: SandboxFactory) -> None:
    """Two threads each reading by id with ``concurrency: 2`` (and writes at 2) would put four
    requests on the wire; the client lets at most two go at once, and every read completes."""
    sb = sandbox_factory(tickets=800, latency=0.02)
    requests = Requests()
    sb.add_request_hook(requests)
    ids = list(range(1, 801))
    got: dict[str, int] = {}
    with client_for(sb, concurrency=2, write_concurrency=2) as client:
        client.lookups(["statuses"])  # the token first: not part of the race

        def read(name: str) -> None:
            got[name] = sum(1 for _ in client.tickets_by_ids(ids))

        threads = [threading.Thread(target=read, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert got["a"] == got["b"] > 0
    assert requests.most == 2  # without the client's bound: 4
    assert client._sender.in_flight.most == 2


def test_the_width_is_the_larger_of_the_read_and_write_widths(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(tickets=10)
    with client_for(sb, concurrency=2, write_concurrency=6) as client:
        assert client._sender.in_flight.width == 6
    assert InFlight(0).width == 1


def test_a_slow_answer_does_not_hold_the_other_slots_idle() -> None:
    """bounded_map starts a call whenever one ends, not only when the oldest result is taken:
    while the first call hangs, the next three run in the other slot; no more than
    ``2 * width`` are started and untaken; results still come in input order."""
    import time

    from halo_automate.halo.paging import bounded_map

    first = threading.Event()
    lock = threading.Lock()
    started: list[int] = []

    def call(i: int) -> int:
        with lock:
            started.append(i)
        if i == 0:
            assert first.wait(10)
        return i * 10

    results = bounded_map(call, list(range(8)), 2)
    got: list[int] = []
    reader = threading.Thread(target=lambda: got.extend(results))
    reader.start()
    deadline = time.monotonic() + 10
    while len(started) < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)  # room for a fifth start, which must not come
    with lock:
        assert sorted(started) == [0, 1, 2, 3]  # without the fix: [0, 1]
    first.set()
    reader.join(10)
    assert got == [i * 10 for i in range(8)]


def test_bounded_map_never_ends_early_while_ends_are_told_late(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A call's result can be taken before its end is told to the map (done-callbacks run
    after waiters wake); here every end is told 5 ms late. The map still yields every result,
    in order: it once ended early (found with 10,000 tickets read in 100 pages)."""
    import time
    from concurrent.futures import Future

    from halo_automate.halo.paging import bounded_map

    told = Future.add_done_callback

    def late(self: Future[Any], fn: Callable[[Future[Any]], object]) -> None:
        def later(future: Future[Any]) -> None:
            time.sleep(0.005)
            fn(future)

        told(self, later)

    monkeypatch.setattr(Future, "add_done_callback", late)
    items = list(range(12))
    for width in (2, 3):
        assert list(bounded_map(lambda i: i, items, width)) == items
