"""One client never has more requests on the wire than its width, however its fan-outs meet."""

from __future__ import annotations

import threading

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
