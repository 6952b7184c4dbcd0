"""The one Halo API client: the facade every caller uses for reads, lookups and batched writes.

Everything that talks to Halo goes through :class:`HaloClient`. A call is built from small
pieces, each in its own module:

* ``halo.auth``: the token, added by an httpx auth flow that retries a 401 once with a fresh
  token; the token request is an ordinary request (same budget, same retries);
* ``halo.retry``: the pure decision of what to do after each answer (the write re-send rules
  of FACTS.md §6.3 live there);
* ``halo.transport``: one request on the wire under the shared budget (``halo.ratelimit``),
  its body read with a cap, every httpx failure translated to :mod:`halo_automate.errors`;
* ``halo.paging``: paged list reads that never come back short, and bounded fan-out;
* ``halo.scan``: the ticket scan that completes while tickets change, missing none.

Here the final answer becomes a value or an error (404, 400 with Halo's message, a 401/403
after a fresh token). A write that may have landed is a :class:`WriteResult` with
``unknown=True``: the caller must read the tickets back before deciding anything. That
includes a batch of several elements that Halo refused with a 400 (``rejected=True``):
whether Halo commits the elements before a bad one is unknown (FACTS §3.1, §9.5), so the
client never re-sends any of them; the engine reads back what landed (notes by their run
marker) and only then re-sends the rest, split (:mod:`halo_automate.engine.batches`). A 400
on a single element is a definite refusal with Halo's message.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx

from halo_automate.config import HaloSettings
from halo_automate.core.fields import PAGING_PARAMS, ticket_params
from halo_automate.core.lookups import Lookups
from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import (
    HaloAuthError,
    HaloError,
    HaloNotFoundError,
    HaloPermissionError,
    HaloRejectedError,
    HaloResponseError,
    WriteOutcomeUnknown,
)
from halo_automate.halo.assertion import assertion_options
from halo_automate.halo.auth import (
    AUTH_HINT,
    BearerAuth,
    Credentials,
    Scrubber,
    TokenManager,
    authorized,
    fetch_token,
)
from halo_automate.halo.bodies import halo_message
from halo_automate.halo.inflight import InFlight
from halo_automate.halo.lookups import LookupCache
from halo_automate.halo.paging import MAX_PAGE_SIZE, PagedRead, bounded_map, list_rows
from halo_automate.halo.permissions import explain_refusal, permission_for, permission_message
from halo_automate.halo.ratelimit import RequestBudget
from halo_automate.halo.retry import RetryPolicy
from halo_automate.halo.scan import TicketScan
from halo_automate.halo.stopping import stop_when
from halo_automate.halo.transport import (
    MAX_RESPONSE_BYTES,
    ClientStats,
    Limits,
    Sender,
    before_each_send,
)


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one element of a batched write, in input order."""

    index: int
    ticket_id: int | None
    ok: bool
    record: Mapping[str, Any] | None = None
    error: str | None = None
    unknown: bool = False  # the write may have landed: read the ticket back
    rejected: bool = False  # Halo refused the batch (400) it was part of: read back, then split


def check_ticket_query(query: Mapping[str, str]) -> None:
    """Refuse unknown ``GET /api/Tickets`` parameters: Halo would silently ignore them."""
    known = ticket_params()
    for name in query:
        if name in PAGING_PARAMS:
            raise HaloRejectedError(f"'{name}' is set by the client for paging; do not pass it")
        if name not in known:
            hint = did_you_mean(name, known)
            raise HaloRejectedError(
                f"unknown ticket filter '{name}'{hint}: Halo ignores unknown filters and "
                "would return every ticket"
            )


def endpoint_name(method: str, path: str) -> str:
    """How messages, stats and logs name a call: ``GET /api/Tickets``, ``GET /api/Tickets/{id}``."""
    return f"{method} /api/{path.split('/')[0]}" + ("/{id}" if "/" in path else "")


class HaloClient:
    """A thread-safe client for one Halo instance. Use one per process."""

    def __init__(
        self,
        settings: HaloSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        budget: RequestBudget | None = None,
        retry: RetryPolicy | None = None,
        stats: ClientStats | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        instance_name: str = "default",
    ) -> None:
        settings.check_secret()  # an unset secret variable fails here, before any connection
        self.settings = settings
        self.instance_name = instance_name
        """The config's name for this Halo (``settings.identity`` is what makes it this Halo)."""
        self.retry = retry or RetryPolicy()
        self.budget = budget or RequestBudget.for_instance(settings, clock=clock, sleep=sleep)
        self.stats = stats or ClientStats()
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(
                settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds)
            ),
            headers={"Accept": "application/json", "User-Agent": "halo-automate"},
            follow_redirects=False,
        )
        scrubber = Scrubber(settings.client_secret, settings.client_id)
        self._sender = Sender(
            self._http,
            self.budget,
            self.retry,
            self.stats,
            scrub=scrubber,
            clock=clock,
            sleep=sleep,
            rng=rng,
            max_response_bytes=max_response_bytes,
            limits=Limits(
                request_deadline=settings.request_deadline_seconds,
                max_rate_limit_wait=settings.max_rate_limit_wait_seconds,
                run_deadline=settings.run_deadline_seconds,
            ),
            in_flight=InFlight(max(settings.concurrency, settings.write_concurrency)),
        )
        self._clock = clock
        self.begin_run()
        credentials = Credentials(
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scope=settings.scope,
            tenant=settings.tenant,
            **assertion_options(settings),
        )
        self.auth_method = credentials.method
        self.tokens = TokenManager(
            partial(fetch_token, self._sender, credentials, scrubber), clock=clock
        )
        self._auth = BearerAuth(self.tokens)
        self._lookups = LookupCache(
            self.get,
            lambda path, key: PagedRead(self, path, key, {}).run(),
            lambda fetch, kinds: bounded_map(fetch, kinds, self.settings.concurrency),
        )

    def __repr__(self) -> str:
        return f"HaloClient({self.settings.base_url!r}, client_id={self.settings.client_id!r})"

    def begin_run(self) -> dict[str, Any]:
        """A run starts now: arm its deadline (``halo.run_deadline_seconds``; no request
        starts after it) and return the stats snapshot the run's figures count from. A client
        is armed when built (one CLI command, one run); the daemon calls this per run."""
        self._sender.run_deadline = self._clock() + self.settings.run_deadline_seconds
        return self.stats.snapshot()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HaloClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ one call

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        write: bool = False,
    ) -> Any:
        """One API call with auth, budget and the retry policy; returns the decoded JSON."""
        endpoint = endpoint_name(method, path)
        url = f"{self.settings.api_url}/{path}"
        request = self._sender.build(method, url, params=params, json=body)

        def send(req: httpx.Request) -> httpx.Response:
            return self._sender.send(req, endpoint, write=write)

        return self._decode(authorized(self._auth, request, send), endpoint)

    def _decode(self, resp: httpx.Response, endpoint: str) -> Any:
        status = resp.status_code
        if status == 403:
            raise HaloPermissionError(
                permission_message(endpoint), endpoint=endpoint, permission=permission_for(endpoint)
            )
        if status == 401:
            raise HaloAuthError(
                f"Halo refused the request after a fresh token; {AUTH_HINT}",
                endpoint=endpoint,
                status=status,
            )
        if status == 404:
            raise HaloNotFoundError("not found", endpoint=endpoint, status=404)
        if status >= 400:
            raise HaloRejectedError(self._sender.message(resp), endpoint=endpoint, status=status)
        if status >= 300:
            raise HaloResponseError(f"unexpected redirect ({status})", endpoint=endpoint)
        return self._sender.json(resp, endpoint)

    # ------------------------------------------------------------------ reads

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        data = self.get(f"Tickets/{ticket_id}")
        if not isinstance(data, dict):
            raise HaloResponseError("expected a ticket object", endpoint="GET /api/Tickets/{id}")
        return data

    def iter_tickets(
        self, query: Mapping[str, str] | None = None, *, check: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Stream every ticket matching ``query``, page by page in id order, never missing one
        that matched throughout, however the list changes meanwhile (``halo.scan``)."""
        query = dict(query or {})
        if check:
            check_ticket_query(query)
        yield from TicketScan(self, query).run()

    def tickets_by_ids(self, ids: Sequence[int]) -> Iterator[dict[str, Any]]:
        """Read tickets by id, 100 ids per ``ticketids`` query (stale checks, read-back),
        ``concurrency`` queries at a time, in order."""
        chunks = [ids[i : i + MAX_PAGE_SIZE] for i in range(0, len(ids), MAX_PAGE_SIZE)]

        def read(chunk: Sequence[int]) -> list[dict[str, Any]]:
            query = {"ticketids": ",".join(str(i) for i in chunk)}
            return list(PagedRead(self, "Tickets", "tickets", query).run())

        for rows in bounded_map(read, chunks, self.settings.concurrency):
            yield from rows

    def list_actions(self, ticket_id: int) -> list[dict[str, Any]]:
        data = self.get("Actions", {"ticket_id": str(ticket_id), "excludesys": "false"})
        rows = list_rows(data, "actions", "GET /api/Actions")
        return rows

    def delete_action(self, ticket_id: int, action_id: int) -> None:
        self.request(
            "DELETE", f"Actions/{action_id}", params={"ticket_id": str(ticket_id)}, write=True
        )

    def instance_info(self) -> dict[str, Any] | None:
        """``GET /api/InstanceInfo`` (version, hosting track: FACTS §9.8); None where the
        application may not read it (403) or the route is missing (404)."""
        try:
            data = self.get("InstanceInfo")
        except HaloNotFoundError:
            return None
        except HaloAuthError as e:
            if e.status == 403:
                return None
            raise
        return data if isinstance(data, dict) else None

    def ticket_type_mandatory(self, type_id: int) -> tuple[str, ...] | None:
        """The fields ticket type ``type_id`` requires (``GET /api/TicketType/{id}
        ?includedetails=true``, ``fields[].fieldinfo.mandatory``: FACTS §9.4); None where the
        settings are not readable (403, 404, or no ``fields`` in the answer)."""
        try:
            data = self.get(f"TicketType/{type_id}", {"includedetails": "true"})
        except HaloNotFoundError:
            return None
        except HaloAuthError as e:
            if e.status == 403:
                return None
            raise
        fields = data.get("fields") if isinstance(data, dict) else None
        if not isinstance(fields, list):
            return None
        names = []
        for row in fields:
            info = row.get("fieldinfo") if isinstance(row, dict) else None
            if isinstance(info, dict) and info.get("mandatory"):
                name = row.get("fieldname") or info.get("name")
                if isinstance(name, str):
                    names.append(name)
        return tuple(names)

    # ------------------------------------------------------------------ lookups

    def lookups(self, kinds: Iterable[str] | None = None, *, refresh: bool = False) -> Lookups:
        """The lookup lists named in ``kinds`` (default: all), fetched once and cached
        (:mod:`halo_automate.halo.lookups`)."""
        return self._lookups.lookups(kinds, refresh=refresh)

    # ------------------------------------------------------------------ writes

    def write_tickets(self, items: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        """POST one batch of ticket updates/creates (a refused batch: see :meth:`_write`)."""
        return self._write("Tickets", list(items), id_key="id")

    def write_actions(self, items: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        """POST one batch of actions (a refused batch: see :meth:`_write`)."""
        return self._write("Actions", list(items), id_key="ticket_id")

    def _write(
        self, path: str, items: list[Mapping[str, Any]], *, id_key: str, offset: int = 0
    ) -> list[WriteResult]:
        """One POST, never re-sent here: a 400 on one element fails it with Halo's message; a
        400 on several marks every element ``unknown`` and ``rejected`` (Halo may have kept
        the elements before the bad one: the caller reads back before re-sending any)."""
        if not items:
            return []
        endpoint = f"POST /api/{path}"
        try:
            data = self.request("POST", path, params={"returnall": "true"}, body=items, write=True)
        except HaloRejectedError as e:
            if len(items) == 1:
                return [_failed(offset, items[0], id_key, e.message)]
            return [
                _failed(offset + i, item, id_key, e.message, unknown=True, rejected=True)
                for i, item in enumerate(items)
            ]
        except WriteOutcomeUnknown as e:
            return [
                _failed(offset + i, item, id_key, e.message, unknown=True)
                for i, item in enumerate(items)
            ]
        records = data if isinstance(data, list) else [data]
        if len(records) != len(items) or not all(isinstance(r, dict) for r in records):
            raise HaloResponseError(
                f"sent {len(items)} records, Halo returned {len(records)}", endpoint=endpoint
            )
        return [
            WriteResult(offset + i, _id_of(item, id_key), True, record)
            for i, (item, record) in enumerate(zip(items, records, strict=True))
        ]


def _id_of(item: Mapping[str, Any], id_key: str) -> int | None:
    value = item.get(id_key)
    return value if isinstance(value, int) else None


def _failed(
    index: int,
    item: Mapping[str, Any],
    id_key: str,
    message: str,
    *,
    unknown: bool = False,
    rejected: bool = False,
) -> WriteResult:
    message = explain_refusal(message, item)
    return WriteResult(index, _id_of(item, id_key), False, None, message, unknown, rejected)


__all__ = [
    "MAX_PAGE_SIZE",
    "ClientStats",
    "HaloClient",
    "HaloError",
    "RetryPolicy",
    "WriteOutcomeUnknown",
    "WriteResult",
    "before_each_send",
    "bounded_map",
    "check_ticket_query",
    "halo_message",
    "stop_when",
]
