"""One request to Halo on the wire: the budget slot, the capped body, httpx's failures translated.

This is the one module that catches httpx exceptions (and ``halo.client`` the only one that
builds a :class:`Sender`). :meth:`Sender.send_once` sends one request and reads its body with
a cap (:data:`MAX_RESPONSE_BYTES`, decoded size, so a compression bomb is refused too); every
``httpx.HTTPError`` becomes a :class:`SendFailed` of one :class:`~halo_automate.halo.retry.Failure`
kind, and a URL httpx cannot use is a :class:`ConfigError` naming it. :meth:`Sender.send` repeats
a request as :func:`~halo_automate.halo.retry.decide` says, sleeping the back-off, pausing the
shared budget on a 429, counting both in :class:`ClientStats`, and raising the error class the
decision names with Halo's message (one line, credentials scrubbed). Every wait is bounded
(:class:`Limits`): a request's total deadline (tries, bodies however slow, back-off), its total
rate-limit wait, and the run's deadline, after which no request starts.

Bad bodies are errors that name the endpoint, never tracebacks: JSON that cannot be parsed
(truncated, HTML, nested too deeply) is a :class:`HaloResponseError`, and Halo's error texts
are cut to one line.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from halo_automate.errors import (
    ConfigError,
    HaloRateLimitedError,
    HaloResponseError,
    HaloUnavailableError,
    one_line,
)
from halo_automate.halo.bodies import decode_json, halo_message
from halo_automate.halo.inflight import InFlight
from halo_automate.halo.ratelimit import RequestBudget
from halo_automate.halo.retry import (
    Decision,
    Failure,
    GiveUp,
    Retry,
    RetryPolicy,
    Tries,
    backoff_is_instant,
    decide,
    is_refused,
    retry_after_seconds,
)
from halo_automate.halo.stopping import stop_check

log = structlog.get_logger("halo_automate.halo")

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""A body larger than this (after decompression) is refused, not read into memory."""
_DROP_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_LONGEST_RETRY_AFTER = 60.0  # or the budget's window, when that is longer

Scrub = Callable[[str], str]


_BEFORE_SEND: ContextVar[Callable[[], None] | None] = ContextVar("before_send", default=None)


@contextmanager
def before_each_send(hook: Callable[[], None]) -> Iterator[None]:
    """Run ``hook`` right before each request of this thread goes on the wire, after any wait
    for the rate limit or a back-off (every attempt, re-sends included); whatever it raises
    propagates and the request is not sent. The engine's lock fence (issue 13): a writer
    whose lock was taken over while it waited must not send."""
    token = _BEFORE_SEND.set(hook)
    try:
        yield
    finally:
        _BEFORE_SEND.reset(token)


@dataclass
class ClientStats:
    """What this client sent; shared by every thread of the process (every change under
    ``lock``)."""

    requests: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    retries: int = 0
    lock: AbstractContextManager[Any] = field(
        default_factory=threading.Lock, repr=False, compare=False
    )

    def count(self, endpoint: str) -> None:
        """One request sent (a re-sent one included)."""
        with self.lock:
            self.requests += 1
            self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1

    def count_retry(self) -> None:
        """One back-off after a 5xx or a transport failure."""
        with self.lock:
            self.retries += 1

    def count_rate_limited(self) -> None:
        """One 429 waited out."""
        with self.lock:
            self.rate_limited += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "rate_limited": self.rate_limited,
                "retries": self.retries,
                "by_endpoint": dict(self.by_endpoint),
            }


class SendFailed(Exception):
    """One try got no usable answer; ``failure`` says whether it may have reached Halo."""

    def __init__(self, failure: Failure, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


class Sender:
    """Sends requests under the shared budget and the retry policy (thread-safe)."""

    def __init__(
        self,
        http: httpx.Client,
        budget: RequestBudget,
        policy: RetryPolicy,
        stats: ClientStats,
        *,
        scrub: Scrub,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        limits: Limits | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        self.http = http
        self.in_flight = in_flight or InFlight(1)
        self.budget = budget
        self.policy = policy
        self.stats = stats
        self.scrub = scrub
        self.max_response_bytes = max_response_bytes
        self.limits = limits or Limits()
        self.run_deadline: float | None = None  # monotonic; no request starts after it
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    def build(self, method: str, url: str, **kwargs: Any) -> httpx.Request:
        """An httpx request; a URL httpx cannot use is a ConfigError naming it."""
        try:
            return self.http.build_request(method, url, **kwargs)
        except (httpx.InvalidURL, UnicodeError) as e:
            raise _bad_url(url, e) from None

    def send(self, request: httpx.Request, endpoint: str, *, write: bool) -> httpx.Response:
        """Send ``request`` until the retry policy calls its answer final; return it.

        Bounded in time (:class:`Limits`): the run's deadline is checked before every try,
        the request's deadline covers every try, its body and its back-off (a retry that
        cannot start before it is not made), and the rate-limit waits of one request are
        capped in total (it gives up rather than start a wait that would exceed the cap).
        """
        tries = Tries()
        until = self._clock() + self.limits.request_deadline
        limited = 0.0  # seconds of rate-limit pauses so far (they extend ``until``)
        while True:
            self.check_run_deadline(endpoint)
            try:
                answer: httpx.Response | SendFailed = self.send_once(request, endpoint, until)
            except SendFailed as e:
                answer = e
            decision = self._decide(answer, tries, write)
            if isinstance(decision, Retry):
                if not decision.rate_limited and self._clock() + (decision.delay or 0.0) > until:
                    raise HaloUnavailableError(
                        self.scrub(f"{_reason_text(answer)}; {self._overdue()}"),
                        endpoint=endpoint,
                    )
                pause = self._pause(decision, endpoint, _reason_of(answer))
                if decision.rate_limited:
                    limited += pause
                    until += pause
                    self._check_rate_limited(limited, endpoint)
                tries = decision.tries
            elif isinstance(answer, SendFailed):
                assert isinstance(decision, GiveUp)
                raise decision.error(self.scrub(answer.message), endpoint=endpoint)
            elif isinstance(decision, GiveUp):
                status = answer.status_code
                raise decision.error(self.message(answer), endpoint=endpoint, status=status)
            else:
                self.budget.succeeded()
                return answer

    def check_run_deadline(self, endpoint: str) -> None:
        """Refuse to start a request once the run's deadline has passed."""
        if self.run_deadline is not None and self._clock() > self.run_deadline:
            raise HaloUnavailableError(
                f"the run passed its deadline (halo.run_deadline_seconds: "
                f"{self.limits.run_deadline:g}); nothing more is sent, the next run tries again",
                endpoint=endpoint,
            )

    def _overdue(self) -> str:
        return (
            f"no complete answer within halo.request_deadline_seconds "
            f"({self.limits.request_deadline:g} s); giving up"
        )

    def _check_rate_limited(self, limited: float, endpoint: str) -> None:
        """Give up, before waiting, once this request's rate-limit pauses would exceed
        ``max_rate_limit_wait`` in total (a 10-hour Retry-After, capped at one window per
        429, used to be retried for an hour)."""
        if limited > self.limits.max_rate_limit_wait:
            raise HaloRateLimitedError(
                f"rate limited: Halo kept answering 429; waiting {limited:g} s on this request "
                f"would exceed halo.max_rate_limit_wait_seconds "
                f"({self.limits.max_rate_limit_wait:g} s); giving up, the next run tries again",
                endpoint=endpoint,
                status=429,
            )

    def _decide(self, answer: httpx.Response | SendFailed, tries: Tries, write: bool) -> Decision:
        jitter = self._rng.uniform(0.5, 1.0)
        if isinstance(answer, SendFailed):
            return decide(self.policy, tries, write=write, failure=answer.failure, jitter=jitter)
        retry_after = None
        if answer.status_code == 429:
            longest = max(self.budget.per_seconds, _LONGEST_RETRY_AFTER)
            retry_after = retry_after_seconds(answer.headers.get("retry-after"), longest)
        return decide(
            self.policy,
            tries,
            write=write,
            status=answer.status_code,
            retry_after=retry_after,
            jitter=jitter,
        )

    def send_once(
        self, request: httpx.Request, endpoint: str, until: float = math.inf
    ) -> httpx.Response:
        """Take a budget slot, send one request and read its body (capped in size, and in
        time by ``until``); every httpx failure is translated here, to :class:`SendFailed`
        or a :class:`ConfigError`."""
        stop = stop_check()  # a stop request reaches a run that is only reading
        self.budget.acquire(stop)
        if stop is not None:
            stop()
        with self.in_flight:  # at most the client's width on the wire (halo.inflight)
            return self._on_the_wire(request, endpoint, until)

    def _on_the_wire(self, request: httpx.Request, endpoint: str, until: float) -> httpx.Response:
        sent = self._clock()  # the latency the budget learns runs from the slot to the answer
        self.check_run_deadline(endpoint)  # the slot may have taken a while
        hook = _BEFORE_SEND.get()
        if hook is not None:  # after every wait (rate limit, back-off): right before the wire
            hook()
        self.stats.count(endpoint)
        resp: httpx.Response | None = None
        try:
            resp = self.http.send(request, stream=True)
            try:
                return self._read_capped(resp, until)
            finally:
                resp.close()
                self.budget.observed(self._clock() - sent)
        except httpx.ConnectError as e:
            raise _connect_failed(request.url, e) from e
        except httpx.ConnectTimeout as e:
            raise SendFailed(Failure.NEVER_SENT, "connect timed out") from e
        except httpx.TimeoutException as e:
            raise SendFailed(Failure.MAYBE_SENT, f"timed out ({type(e).__name__})") from e
        except httpx.DecodingError as e:
            encoding = "?" if resp is None else resp.headers.get("content-encoding", "?")
            raise SendFailed(
                Failure.UNREADABLE,
                f"response body cannot be decoded (Content-Encoding {encoding}): {_reason(e)}",
            ) from e
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, UnicodeError) as e:
            raise _bad_url(str(request.url), e) from None
        except httpx.HTTPError as e:  # a dropped connection, a protocol error, ...
            raise SendFailed(Failure.MAYBE_SENT, f"connection failed: {_reason(e)}") from e

    def _read_capped(self, resp: httpx.Response, until: float = math.inf) -> httpx.Response:
        """Read a streamed response's (decoded) body, refusing more than the cap, and giving
        up at ``until`` however steadily it trickles in (each chunk resets httpx's read
        timeout, so only a total deadline ends a body sent a byte at a time)."""
        limit = self.max_response_bytes
        too_large = SendFailed(
            Failure.UNREADABLE,
            f"response body is larger than {limit // (1024 * 1024)} MB; refusing to read it",
        )
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        body = bytearray()
        for chunk in resp.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise too_large
            if self._clock() > until:
                raise SendFailed(
                    Failure.MAYBE_SENT,
                    f"the body was still arriving ({len(body)} bytes) at the request deadline",
                )
        headers = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _DROP_HEADERS]
        return httpx.Response(
            resp.status_code, headers=headers, content=bytes(body), request=resp.request
        )

    def _pause(self, decision: Retry, endpoint: str, reason: str) -> float:
        """Carry out a Retry: pause every caller after a 429, else back off this one; return
        the pause in seconds."""
        instant = backoff_is_instant()
        if decision.rate_limited:
            self.stats.count_rate_limited()
            pause = self.budget.back_off(0.0 if instant else decision.delay)
            log.warning("rate_limited", endpoint=endpoint, pause_seconds=round(pause, 2))
            return pause
        self.stats.count_retry()
        pause = 0.0 if instant or decision.delay is None else decision.delay
        log.info(
            "retrying",
            endpoint=endpoint,
            reason=reason,
            failures=decision.tries.failures,
            pause_seconds=round(pause, 2),
        )
        if pause > 0:
            self._sleep(pause)
        return pause

    def message(self, resp: httpx.Response) -> str:
        """Halo's message from an error body, with any echo of our credentials removed."""
        return self.scrub(halo_message(resp.content, resp.headers.get("content-type", "")))

    def json(self, resp: httpx.Response, endpoint: str) -> Any:
        """The decoded JSON body (None when empty); a body that is not JSON is an error."""
        try:
            return decode_json(resp, endpoint)
        except HaloResponseError as e:
            raise HaloResponseError(self.scrub(e.message), endpoint=endpoint) from None


@dataclass(frozen=True)
class Limits:
    """How long one request and one run may take (``halo.*`` settings, in seconds)."""

    request_deadline: float = 300.0
    max_rate_limit_wait: float = 600.0
    run_deadline: float = 14400.0


def _reason_text(answer: httpx.Response | SendFailed) -> str:
    return answer.message if isinstance(answer, SendFailed) else f"HTTP {answer.status_code}"


def _reason_of(answer: httpx.Response | SendFailed) -> str:
    return str(answer.failure) if isinstance(answer, SendFailed) else f"HTTP {answer.status_code}"


def _bad_url(url: str, error: Exception) -> ConfigError:
    return ConfigError(
        f"cannot send to {one_line(url)!r}: {one_line(_reason(error))}; check halo.base_url "
        "and halo.auth_url"
    )


def _connect_failed(url: httpx.URL, error: httpx.ConnectError) -> SendFailed:
    """``cannot connect to http://127.0.0.1:9 (connection refused)``: the scheme, host and
    port the request went to (never its path or query), and why; a refusal is its own
    failure (retried once, quickly)."""
    where = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
    if is_refused(error):
        return SendFailed(Failure.REFUSED, f"cannot connect to {where} (connection refused)")
    return SendFailed(Failure.NEVER_SENT, f"cannot connect to {where} ({_reason(error)})")


def _reason(e: BaseException) -> str:
    return str(e) or type(e).__name__
