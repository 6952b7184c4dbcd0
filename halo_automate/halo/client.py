"""The one Halo API client: token, request budget, paged reads, lookups, batched writes.

Everything that talks to Halo goes through :class:`HaloClient`. httpx exceptions are
translated to :mod:`halo_automate.errors` here and nowhere else (see ``_send``).

Retry policy (Halo has no idempotency key, FACTS.md §6.3):

* reads retry on 429, 5xx and transport errors with jittered exponential backoff;
* writes are re-sent only when the request provably never reached Halo (a connect error)
  or Halo refused it unapplied (429, 503). Any other failure of a write (500, a timeout,
  a dropped connection) raises :class:`WriteOutcomeUnknown`: the caller must read the
  tickets back before deciding anything.

Bad bodies are errors that name the endpoint, never tracebacks: a response body is read with
a cap (:data:`MAX_RESPONSE_BYTES`, decoded size, so a compression bomb is refused too), JSON
that cannot be parsed (truncated, HTML, nested too deeply) is a :class:`HaloResponseError`,
and Halo's error texts are cut to one line. A Retry-After that is not a finite number is
ignored; a longer one than the budget's window (at least a minute) is shortened to it.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import structlog

from halo_automate.config import HaloSettings
from halo_automate.core.fields import PAGING_PARAMS, ticket_params
from halo_automate.core.lookups import Lookups
from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import (
    HaloAuthError,
    HaloError,
    HaloNotFoundError,
    HaloRateLimitedError,
    HaloRejectedError,
    HaloResponseError,
    HaloUnavailableError,
    WriteOutcomeUnknown,
)
from halo_automate.halo.auth import Credentials, TokenManager
from halo_automate.halo.lookups import LookupCache
from halo_automate.halo.ratelimit import RequestBudget

log = structlog.get_logger("halo_automate.halo")

MAX_PAGE_SIZE = 100
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""A body larger than this (after decompression) is refused, not read into memory."""
MAX_MESSAGE_CHARS = 500
_JSON_MESSAGE_BYTES = 1024 * 1024  # larger error bodies are quoted, not parsed
_DROP_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_AUTH_HINT = (
    "check the client id and secret, the API application's scopes, and the permissions of "
    "the agent the API application logs in as"
)


@dataclass
class ClientStats:
    """What this client sent; shared by every thread of the process."""

    requests: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, endpoint: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "rate_limited": self.rate_limited,
                "retries": self.retries,
                "by_endpoint": dict(self.by_endpoint),
            }


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one element of a batched write, in input order."""

    index: int
    ticket_id: int | None
    ok: bool
    record: Mapping[str, Any] | None = None
    error: str | None = None
    unknown: bool = False  # the write may have landed: read the ticket back


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # for 5xx / transport errors on reads
    base_seconds: float = 0.5
    max_seconds: float = 8.0
    rate_limit_attempts: int = 12  # 429s are waited out, up to this many times per request


def halo_message(body: bytes, content_type: str = "") -> str:
    """Halo's error message from either 400 shape, a bare string, or ``{"error": ...}``.

    Always one line of at most :data:`MAX_MESSAGE_CHARS` characters.
    """
    if not body.strip():
        return "(empty body)"
    try:
        if len(body) > _JSON_MESSAGE_BYTES:
            raise ValueError("too large to parse")
        message = _message_of(json.loads(body.decode("utf-8", "replace")))
    except (ValueError, RecursionError):
        kind = content_type.split(";")[0] or "text"
        text = _one_line(body[:4096].decode("utf-8", "replace"))
        more = f" ... ({len(body)} bytes)" if len(text) > 120 or len(body) > 4096 else ""
        return f"not JSON ({kind}): {text[:120]}{more}"
    return _one_line(message)[:MAX_MESSAGE_CHARS]


def _message_of(data: Any) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        if isinstance(data.get("Message"), str):
            return str(data["Message"])
        if isinstance(data.get("error"), str):
            desc = data.get("error_description")
            return f"{data['error']}: {desc}" if isinstance(desc, str) else str(data["error"])
        parts = [
            f"{key}: {'; '.join(map(str, val)) if isinstance(val, list) else val}"
            for key, val in list(data.items())[:20]
        ]
        return ", ".join(parts)[:MAX_MESSAGE_CHARS] or "(empty object)"
    return json.dumps(data)[:MAX_MESSAGE_CHARS]


def _one_line(text: str) -> str:
    return " ".join(text.split())


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


class HaloClient:
    """A thread-safe client for one Halo instance. Use one per process."""

    def __init__(
        self,
        settings: HaloSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        budget: RequestBudget | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.budget = budget or RequestBudget(
            settings.rate_limit.requests, settings.rate_limit.per_seconds, clock=clock, sleep=sleep
        )
        self.stats = ClientStats()
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(
                settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds)
            ),
            headers={"Accept": "application/json", "User-Agent": "halo-automate"},
            follow_redirects=False,
        )
        self._credentials = Credentials(
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scope=settings.scope,
            tenant=settings.tenant,
        )
        self.tokens = TokenManager(self._fetch_token, clock=clock)
        self._issued: tuple[str, ...] = ()  # recent tokens, only to scrub them from messages
        self._lookups = LookupCache(
            self.get,
            lambda path, key: _PagedRead(self, path, key, {}).run(),
            lambda fetch, kinds: bounded_map(fetch, kinds, self.settings.concurrency),
        )

    def __repr__(self) -> str:
        return f"HaloClient({self.settings.base_url!r}, client_id={self.settings.client_id!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HaloClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _send(self, method: str, url: str, endpoint: str, **kwargs: Any) -> httpx.Response:
        """Take a budget slot and send one request; translate httpx failures (the one place).

        The body is read here, capped at :data:`MAX_RESPONSE_BYTES` (``_TooLarge``).
        """
        self.budget.acquire()
        self.stats.count(endpoint)
        sent = self._clock()
        try:
            request = self._http.build_request(method, url, **kwargs)
            resp = self._http.send(request, stream=True)
            try:
                return _read_capped(resp, endpoint)
            finally:
                resp.close()
                self.budget.observed(self._clock() - sent)
        except httpx.ConnectError as e:
            raise _NeverSent(endpoint, f"cannot connect: {_reason(e)}") from e
        except httpx.ConnectTimeout as e:
            raise _NeverSent(endpoint, "connect timed out") from e
        except httpx.TimeoutException as e:
            raise _MaybeSent(endpoint, f"timed out ({type(e).__name__})") from e
        except httpx.TransportError as e:
            raise _MaybeSent(endpoint, f"connection failed: {_reason(e)}") from e

    def _fetch_token(self) -> tuple[str, float]:
        endpoint = "POST /auth/token"
        for attempt in range(1, self.retry.attempts + 1):
            try:
                resp = self._send(
                    "POST",
                    self._credentials.token_url,
                    endpoint,
                    data=self._credentials.form(),
                    params=self._credentials.params(),
                )
            except _TooLarge as e:
                raise HaloResponseError(e.message, endpoint=endpoint) from None
            except _TransportFailure as e:
                if attempt == self.retry.attempts:
                    raise HaloUnavailableError(e.message, endpoint=endpoint) from None
                self._backoff(attempt)
                continue
            if resp.status_code == 429:
                self._rate_limited(resp, endpoint)
                continue
            if resp.status_code >= 500 and attempt < self.retry.attempts:
                self._backoff(attempt)
                continue
            return self._token_from(resp, endpoint)
        raise HaloUnavailableError("token endpoint kept failing", endpoint=endpoint)

    def _token_from(self, resp: httpx.Response, endpoint: str) -> tuple[str, float]:
        if resp.status_code in (400, 401, 403):
            msg = self._message(resp)
            raise HaloAuthError(
                f"token request refused ({msg}); {_AUTH_HINT}",
                endpoint=endpoint,
                status=resp.status_code,
            )
        if resp.status_code >= 300:
            raise HaloUnavailableError(
                self._message(resp), endpoint=endpoint, status=resp.status_code
            )
        data = self._json(resp, endpoint)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise HaloResponseError("token response has no access_token", endpoint=endpoint)
        expires = data.get("expires_in", 3600)
        lifetime = 3600.0
        number = isinstance(expires, int | float) and not isinstance(expires, bool)
        if number and math.isfinite(expires) and expires > 0:
            lifetime = float(expires)
        self.budget.succeeded()
        self._issued = (*self._issued[-3:], token)
        log.debug("token_issued", expires_in=lifetime)
        return token, lifetime

    def _backoff(self, attempt: int) -> None:
        self.stats.retries += 1
        delay = min(self.retry.max_seconds, self.retry.base_seconds * 2 ** (attempt - 1))
        self._sleep(delay * self._rng.uniform(0.5, 1.0))

    def _rate_limited(self, resp: httpx.Response, endpoint: str) -> None:
        self.stats.rate_limited += 1
        retry_after = _retry_after(resp)
        if retry_after is not None:
            retry_after = min(retry_after, max(self.budget.per_seconds, 60.0))
        pause = self.budget.back_off(retry_after)
        log.warning("rate_limited", endpoint=endpoint, pause_seconds=round(pause, 2))

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
        endpoint = f"{method} /api/{path.split('/')[0]}" + ("/{id}" if "/" in path else "")
        url = f"{self.settings.api_url}/{path}"
        auth_retried = False
        attempt = 0
        limited = 0
        while True:
            token = self.tokens.get()
            headers = {"Authorization": f"Bearer {token}"}
            try:
                resp = self._send(method, url, endpoint, params=params, json=body, headers=headers)
            except _TooLarge as e:
                if write:
                    raise WriteOutcomeUnknown(e.message, endpoint=endpoint) from None
                raise HaloResponseError(e.message, endpoint=endpoint) from None
            except _NeverSent as e:
                attempt += 1
                if attempt >= self.retry.attempts:
                    raise HaloUnavailableError(e.message, endpoint=endpoint) from None
                self._backoff(attempt)
                continue
            except _MaybeSent as e:
                if write:
                    raise WriteOutcomeUnknown(e.message, endpoint=endpoint) from None
                attempt += 1
                if attempt >= self.retry.attempts:
                    raise HaloUnavailableError(e.message, endpoint=endpoint) from None
                self._backoff(attempt)
                continue
            status = resp.status_code
            if status == 401 and not auth_retried:
                auth_retried = True
                self.tokens.invalidate(token)
                continue
            if status == 429:
                limited += 1
                if limited > self.retry.rate_limit_attempts:
                    raise HaloRateLimitedError(self._message(resp), endpoint=endpoint, status=429)
                self._rate_limited(resp, endpoint)
                continue
            if status >= 500:
                if write and status != 503:
                    raise WriteOutcomeUnknown(self._message(resp), endpoint=endpoint, status=status)
                attempt += 1
                if attempt >= self.retry.attempts:
                    raise HaloUnavailableError(
                        self._message(resp), endpoint=endpoint, status=status
                    )
                self._backoff(attempt)
                continue
            self.budget.succeeded()
            return self._decode(resp, endpoint)

    def _decode(self, resp: httpx.Response, endpoint: str) -> Any:
        status = resp.status_code
        if status in (401, 403):
            raise HaloAuthError(
                f"Halo refused the request after a fresh token; {_AUTH_HINT}",
                endpoint=endpoint,
                status=status,
            )
        if status == 404:
            raise HaloNotFoundError("not found", endpoint=endpoint, status=404)
        if status >= 400:
            raise HaloRejectedError(self._message(resp), endpoint=endpoint, status=status)
        if status >= 300:
            raise HaloResponseError(f"unexpected redirect ({status})", endpoint=endpoint)
        return self._json(resp, endpoint)

    def _message(self, resp: httpx.Response) -> str:
        """Halo's message from an error body, with any echo of our credentials removed."""
        return self._scrub(halo_message(resp.content, resp.headers.get("content-type", "")))

    def _json(self, resp: httpx.Response, endpoint: str) -> Any:
        try:
            return _json(resp, endpoint)
        except HaloResponseError as e:
            raise HaloResponseError(self._scrub(e.message), endpoint=endpoint) from None

    def _scrub(self, text: str) -> str:
        """Replace the client secret and the tokens Halo issued us with ``***`` (a body that
        echoes the request must not carry them into an error, a log line or the journal)."""
        for value in (self.settings.client_secret.get_secret_value(), *self._issued):
            if value:
                text = text.replace(value, "***")
        return text

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
        """Stream every ticket matching ``query``, page by page, never missing one silently."""
        query = dict(query or {})
        if check:
            check_ticket_query(query)
        yield from _PagedRead(self, "Tickets", "tickets", query).run()

    def tickets_by_ids(self, ids: Sequence[int]) -> Iterator[dict[str, Any]]:
        """Read tickets by id, 100 ids per ``ticketids`` query (stale checks, read-back),
        ``concurrency`` queries at a time, in order."""
        chunks = [ids[i : i + MAX_PAGE_SIZE] for i in range(0, len(ids), MAX_PAGE_SIZE)]

        def read(chunk: Sequence[int]) -> list[dict[str, Any]]:
            query = {"ticketids": ",".join(str(i) for i in chunk)}
            return list(_PagedRead(self, "Tickets", "tickets", query).run())

        for rows in bounded_map(read, chunks, self.settings.concurrency):
            yield from rows

    def list_actions(self, ticket_id: int) -> list[dict[str, Any]]:
        data = self.get("Actions", {"ticket_id": str(ticket_id), "excludesys": "false"})
        rows = _rows(data, "actions", "GET /api/Actions")
        return rows

    def delete_action(self, ticket_id: int, action_id: int) -> None:
        self.request(
            "DELETE", f"Actions/{action_id}", params={"ticket_id": str(ticket_id)}, write=True
        )

    # ------------------------------------------------------------------ lookups

    def lookups(self, kinds: Iterable[str] | None = None, *, refresh: bool = False) -> Lookups:
        """The lookup lists named in ``kinds`` (default: all), fetched once and cached
        (:mod:`halo_automate.halo.lookups`)."""
        return self._lookups.lookups(kinds, refresh=refresh)

    # ------------------------------------------------------------------ writes

    def write_tickets(self, items: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        """POST one batch of ticket updates/creates; 400s are bisected to the bad tickets."""
        return self._write("Tickets", list(items), id_key="id")

    def write_actions(self, items: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        """POST one batch of actions; 400s are bisected to the bad elements."""
        return self._write("Actions", list(items), id_key="ticket_id")

    def _write(
        self, path: str, items: list[Mapping[str, Any]], *, id_key: str, offset: int = 0
    ) -> list[WriteResult]:
        if not items:
            return []
        endpoint = f"POST /api/{path}"
        try:
            data = self.request("POST", path, params={"returnall": "true"}, body=items, write=True)
        except HaloRejectedError as e:
            if len(items) == 1:
                return [_failed(offset, items[0], id_key, e.message)]
            mid = len(items) // 2
            first = self._write(path, items[:mid], id_key=id_key, offset=offset)
            second = self._write(path, items[mid:], id_key=id_key, offset=offset + mid)
            return first + second
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


_T = TypeVar("_T")
_R = TypeVar("_R")


def bounded_map(func: Callable[[_T], _R], items: Sequence[_T], width: int) -> Iterator[_R]:
    """``map`` with at most ``width`` calls in flight, results in input order.

    Each call still takes its slot from the shared request budget; this only overlaps their
    latency. Calls run in a copy of the caller's context, so log lines keep run_id/playbook.
    A sliding window keeps at most ``width`` results unconsumed, so a long read is never held
    in memory at once.
    """
    if width <= 1 or len(items) <= 1:
        yield from map(func, items)
        return
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="halo-read") as pool:
        pending: deque[Future[_R]] = deque()
        rest = iter(items)
        try:
            for item in rest:
                pending.append(pool.submit(contextvars.copy_context().run, func, item))
                if len(pending) >= width:
                    break
            while pending:
                result = pending.popleft().result()
                for nxt in itertools.islice(rest, 1):
                    pending.append(pool.submit(contextvars.copy_context().run, func, nxt))
                yield result
        finally:
            for fut in pending:
                fut.cancel()


class _PagedRead:
    """One paged list read with the checks that make a short read an error."""

    def __init__(self, client: HaloClient, path: str, key: str, query: dict[str, str]) -> None:
        self.client = client
        self.path = path
        self.key = key
        self.endpoint = f"GET /api/{path}"
        self.query = query
        self.page_size = min(client.settings.page_size, MAX_PAGE_SIZE)
        self.seen: set[int] = set()
        self.record_count = 0

    def _page(self, page_no: int) -> tuple[int, list[dict[str, Any]]]:
        params = {
            **self.query,
            "pageinate": "true",
            "page_size": str(self.page_size),
            "page_no": str(page_no),
        }
        data = self.client.get(self.path, params)
        if not isinstance(data, dict) or not isinstance(data.get("record_count"), int):
            raise HaloResponseError(
                f"page {page_no}: expected an object with record_count", endpoint=self.endpoint
            )
        rows = data.get(self.key)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise HaloResponseError(
                f"page {page_no}: expected a '{self.key}' list", endpoint=self.endpoint
            )
        return int(data["record_count"]), rows

    def _accept(self, page_no: int, count: int, rows: list[dict[str, Any]]) -> None:
        if count != self.record_count:
            raise HaloResponseError(
                f"record_count changed from {self.record_count} to {count} while reading "
                f"(page {page_no}); the list moved under us, run again",
                endpoint=self.endpoint,
            )
        ids = {r.get("id") for r in rows}
        if len(ids) != len(rows) or not all(isinstance(i, int) for i in ids):
            raise HaloResponseError(
                f"page {page_no}: rows without unique integer ids", endpoint=self.endpoint
            )
        int_ids = {i for i in ids if isinstance(i, int)}
        repeated = self.seen & int_ids
        if repeated:
            raise HaloResponseError(
                f"page {page_no} repeats {len(repeated)} records already read (e.g. id "
                f"{min(repeated)}); Halo ignored paging",
                endpoint=self.endpoint,
            )
        self.seen.update(int_ids)

    def run(self) -> Iterator[dict[str, Any]]:
        self.record_count, first = self._page(1)
        self._accept(1, self.record_count, first)
        yield from first
        if len(first) >= self.record_count:
            self._check_total()
            return
        if not first:
            self._short(1)
        per_page = min(self.page_size, len(first))
        pages = math.ceil(self.record_count / per_page)
        yield from self._rest(range(2, pages + 1))
        self._check_total()

    def _rest(self, pages: range) -> Iterator[dict[str, Any]]:
        width = self.client.settings.concurrency
        for page_no, result in zip(pages, bounded_map(self._page, pages, width), strict=True):
            yield from self._consume(page_no, result)

    def _consume(
        self, page_no: int, result: tuple[int, list[dict[str, Any]]]
    ) -> Iterator[dict[str, Any]]:
        count, rows = result
        if not rows:
            self._short(page_no)
        self._accept(page_no, count, rows)
        yield from rows

    def _short(self, page_no: int) -> None:
        raise HaloResponseError(
            f"page {page_no} came back empty after {len(self.seen)} of {self.record_count} "
            "records; refusing a short read",
            endpoint=self.endpoint,
        )

    def _check_total(self) -> None:
        if len(self.seen) != self.record_count:
            raise HaloResponseError(
                f"read {len(self.seen)} records but Halo reported record_count "
                f"{self.record_count}; refusing a short read",
                endpoint=self.endpoint,
            )


class _TransportFailure(Exception):
    def __init__(self, endpoint: str, message: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.message = message


class _NeverSent(_TransportFailure):
    """The request provably never reached Halo (connect failed)."""


class _MaybeSent(_TransportFailure):
    """The request may have reached Halo (timeout or dropped connection after sending)."""


def _reason(e: Exception) -> str:
    return str(e) or type(e).__name__


class _TooLarge(Exception):
    """The response body is larger than MAX_RESPONSE_BYTES (it was not read)."""

    def __init__(self, endpoint: str, message: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.message = message


def _read_capped(resp: httpx.Response, endpoint: str) -> httpx.Response:
    """Read a streamed response's (decoded) body, refusing more than MAX_RESPONSE_BYTES."""
    limit = MAX_RESPONSE_BYTES
    too_large = f"response body is larger than {limit // (1024 * 1024)} MB; refusing to read it"
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge(endpoint, too_large)
    body = bytearray()
    for chunk in resp.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise _TooLarge(endpoint, too_large)
    headers = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _DROP_HEADERS]
    return httpx.Response(
        resp.status_code, headers=headers, content=bytes(body), request=resp.request
    )


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _json(resp: httpx.Response, endpoint: str) -> Any:
    if not resp.content:
        return None
    try:
        return json.loads(resp.content)
    except RecursionError:
        raise HaloResponseError(
            f"HTTP {resp.status_code} body is JSON nested too deeply to read", endpoint=endpoint
        ) from None
    except ValueError:
        msg = halo_message(resp.content, resp.headers.get("content-type", ""))
        raise HaloResponseError(
            f"HTTP {resp.status_code} body is {msg}", endpoint=endpoint
        ) from None


def _rows(data: Any, key: str, endpoint: str) -> list[dict[str, Any]]:
    """A lookup list: a bare array, or an object whose array is under ``key`` or ``results``."""
    if isinstance(data, dict):
        data = data.get(key, data.get("results"))
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise HaloResponseError("expected a list of records", endpoint=endpoint)
    return data


def _id_of(item: Mapping[str, Any], id_key: str) -> int | None:
    value = item.get(id_key)
    return value if isinstance(value, int) else None


def _failed(
    index: int, item: Mapping[str, Any], id_key: str, message: str, *, unknown: bool = False
) -> WriteResult:
    return WriteResult(index, _id_of(item, id_key), False, None, message, unknown)


__all__ = [
    "ClientStats",
    "HaloClient",
    "HaloError",
    "RetryPolicy",
    "WriteResult",
    "check_ticket_query",
    "halo_message",
]
