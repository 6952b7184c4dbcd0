"""Issue 13 point 3: a long scan completes while tickets change on every page, and misses no
ticket that matched throughout.

Before: one ticket created during a read aborted the scan ("record_count changed ... run
again"). The sandbox here changes tickets before answering every page of the scan: it
creates a matching ticket, closes a matching one (shifting every later row up one place),
reopens a closed one (shifting rows down), and edits the summary of a matching one.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from fault_tools import SandboxFactory, client_for

from halo_automate.halo.scan import TicketScan
from halo_automate.sandbox import reference as ref

TICKETS = 3000
QUERY = {"open_only": "true"}


def is_open(ticket: dict[str, Any]) -> bool:
    return ticket["status_id"] != ref.CLOSED_STATUS and not ticket["deleted"]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_scan_completes_under_churn_and_misses_nothing(
    sandbox_factory: SandboxFactory, concurrency: int
) -> None:
    sb = sandbox_factory(tickets=TICKETS)
    with sb.locked_state() as state:
        start_open = {i for i, t in state.tickets.items() if is_open(t)}
        start_closed = {i for i, t in state.tickets.items() if not is_open(t) and not t["deleted"]}
    rng = random.Random(13)
    changed: dict[str, set[int]] = {"inserted": set(), "closed": set(), "reopened": set(),
                                    "edited": set()}  # fmt: skip
    pages_seen = 0

    def churn(query: dict[str, str]) -> None:
        nonlocal pages_seen
        if query.get("pageinate") != "true" or "ticketids" in query:
            return  # the scan's id-only listing and by-id reads: no churn, as a worst case
        pages_seen += 1
        state = sb.state  # the hook runs under the sandbox's state lock
        now_open = sorted(i for i in start_open if is_open(state.tickets[i]))
        low = now_open[: max(1, len(now_open) // 3)]  # rows already read: shifts every page
        close = rng.choice(low)
        sb.edit_ticket(close, status_id=ref.CLOSED_STATUS, hasbeenclosed=True)
        changed["closed"].add(close)
        reopen = rng.choice(sorted(start_closed - changed["reopened"]))
        sb.edit_ticket(reopen, status_id=1, hasbeenclosed=False)
        changed["reopened"].add(reopen)
        edit = rng.choice(now_open)
        sb.edit_ticket(edit, summary=f"edited during the scan (page {pages_seen})")
        changed["edited"].add(edit)
        changed["inserted"].add(sb.insert_ticket(now_open[0], summary="new during the scan"))

    sb.before_list(churn)
    sb.reset_counters()
    with client_for(sb, concurrency=concurrency) as client:
        scan = TicketScan(client, QUERY)
        rows = list(scan.run())
    sb.before_list(None)
    ids = [r["id"] for r in rows]
    matched_throughout = start_open - changed["closed"]
    missed = matched_throughout - set(ids)
    requests = sb.counters["requests_by_endpoint"]["GET /api/Tickets"]
    report = scan.report
    touched = set().union(*changed.values())
    print(
        f"\nscan under churn (concurrency {concurrency}): {len(start_open)} open at start, "
        f"{report.pages} pages, tickets changed during the scan {len(touched)} "
        f"({', '.join(f'{k} {len(v)}' for k, v in changed.items())}), missed {len(missed)}, "
        f"shifted repeats {report.shifted_repeats}, fetched by id {report.fetched_by_id}, "
        f"extra requests {requests - report.pages}"
    )
    assert missed == set()
    assert len(ids) == len(set(ids)), "a ticket was yielded twice"
    assert pages_seen == report.pages >= 10
    assert len(changed["closed"]) == report.pages  # every page moved the list
    paged_only = set(ids[: len(ids) - report.fetched_by_id])  # by-id reads come last
    hidden = matched_throughout - paged_only
    print(f"pages alone would have missed {len(hidden)} tickets that matched throughout")
    assert hidden, "the churn should hide rows from the pages; this test proves nothing"
    assert requests - report.pages == report.extra_requests
    # every ticket that matched at the end was read (reopened and new ones included)
    with sb.locked_state() as state:
        open_now = {i for i, t in state.tickets.items() if is_open(t)}
    assert open_now <= set(ids)


def test_cli_scan_through_client_iter_tickets(sandbox_factory: SandboxFactory) -> None:
    """iter_tickets is the scan: a ticket inserted mid-scan no longer aborts the read."""
    sb = sandbox_factory(tickets=600)
    inserted: list[int] = []

    def insert_once(query: dict[str, str]) -> None:
        if query.get("page_no") == "2" and not inserted:
            inserted.append(sb.insert_ticket(1, summary="arrived mid-scan", status_id=1))

    sb.before_list(insert_once)
    with client_for(sb, concurrency=1) as client:
        ids = [t["id"] for t in client.iter_tickets(QUERY)]
    assert inserted and inserted[0] in ids


# ---------------------------------------------------------------- the scan's own checks

BASE = "https://acme.halopsa.example"


def scan_client(**over: Any) -> Any:
    from pydantic import SecretStr

    from halo_automate.config import HaloSettings, RateLimit
    from halo_automate.halo.client import HaloClient, RetryPolicy

    settings = HaloSettings(
        base_url=BASE,
        client_id="c",
        client_secret=SecretStr("s"),
        rate_limit=RateLimit(requests=10_000, per_seconds=1),
        concurrency=1,
        **over,
    )
    return HaloClient(settings, retry=RetryPolicy(attempts=1), sleep=lambda s: None)


def envelope(ids: list[int], count: int) -> Any:
    import httpx

    return httpx.Response(200, json={"record_count": count, "tickets": [{"id": i} for i in ids]})


@pytest.mark.parametrize(
    ("pages", "listing", "message"),
    [
        ([([3, 2, 1], 6)], None, "not in ascending id order"),
        ([([1, 2, 3], 6), ([4, 5], 6)], None, "read 5 records but Halo reported record_count 6"),
        ([([1, 2, 3], 6), ([1, 2, 3], 6)], None, "repeats 3 records already read"),
        ([([1, 2, 3], 6), ([], 6)], None, "came back empty"),
        ([([1, 2, 3], 6), ([4, 5, 6], 6)], {"tickets": "x"}, "id-only listing"),
        ([([1, 2, 3], 6), ([4, 5, 6], 6)], {"tickets": [{"id": "7"}]}, "id-only listing"),
    ],
)
def test_scan_refuses_what_it_cannot_trust(
    pages: list[tuple[list[int], int]], listing: Any, message: str
) -> None:
    """Halo ignoring order=id or paging, a short or empty page, a broken id-only listing:
    each is a HaloResponseError naming GET /api/Tickets, never a silently short scan."""
    import httpx
    import respx

    from halo_automate.errors import HaloResponseError

    answers = iter(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("ticketidonly") == "true":
            return httpx.Response(200, json=listing)
        ids, count = next(answers)
        return envelope(ids, count)

    with respx.mock(base_url=BASE) as mock:
        mock.post("/auth/token").mock(return_value=httpx.Response(200, json={"access_token": "t"}))
        mock.get("/api/Tickets").mock(side_effect=handler)
        with scan_client(page_size=3) as client, pytest.raises(HaloResponseError) as caught:
            list(client.iter_tickets())
    assert str(caught.value).startswith("GET /api/Tickets:") and message in str(caught.value)


def test_a_playbook_cannot_set_the_scan_order() -> None:
    """order/orderdesc/ticketidonly belong to the scan: a query setting them is refused."""
    from halo_automate.errors import HaloRejectedError

    with scan_client() as client:
        for name in ("order", "orderdesc", "ticketidonly"):
            with pytest.raises(HaloRejectedError, match="paging"):
                list(client.iter_tickets({name: "true"}))
