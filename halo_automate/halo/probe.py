"""Single probing calls for ``doctor``: Halo's answer as a status, never an exception.

``doctor`` asks Halo questions whose answer *is* the status (200, 403, 400, 404), and wants
each answer's latency and headers (rate-limit headers, if a tenant sends any: FACTS.md §9.11
knows of none). :class:`Prober` wraps a :class:`~halo_automate.halo.client.HaloClient` built
over a :class:`RecordingTransport` (which notes every exchange on the wire, the token request
included) and turns each call into an :class:`Answer`. It goes through the client's ordinary
path (auth, budget, retries, the same error translation), so what it learns holds for runs.

Write probes (:meth:`Prober.refused_write`) send a body Halo's model binding refuses before
any controller code runs (a string where an integer id belongs: ``{"[0].id": ["Could not
convert string to integer ..."]}``, FACTS.md §5.2), so nothing can be written, while the
authorisation check, which ASP.NET runs before model binding, still answers 403 when the
application lacks the permission.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from halo_automate.config import HaloSettings
from halo_automate.errors import HaloError
from halo_automate.halo.client import HaloClient, endpoint_name
from halo_automate.halo.retry import RetryPolicy

PROBE_ID = "doctor-probe"
"""The id a write probe sends: not an integer, so Halo refuses it before saving."""
RATE_HEADERS = ("ratelimit", "rate-limit", "retry-after", "x-rate")


@dataclass(frozen=True)
class Exchange:
    """One request on the wire and its answer."""

    method: str
    path: str
    status: int
    seconds: float
    headers: Mapping[str, str]


class RecordingTransport(httpx.BaseTransport):
    """Passes every request to ``inner`` and notes the exchange (thread-safe)."""

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.clock = clock
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        start = self.clock()
        response = self.inner.handle_request(request)
        seen = Exchange(
            request.method,
            request.url.path,
            response.status_code,
            self.clock() - start,
            {k.lower(): v for k, v in response.headers.items()},
        )
        with self._lock:
            self.exchanges.append(seen)
        return response

    def close(self) -> None:
        self.inner.close()

    def rate_headers(self) -> dict[str, str]:
        """Every rate-limit-looking header any answer carried (last value wins)."""
        with self._lock:
            return {
                name: value
                for seen in self.exchanges
                for name, value in seen.headers.items()
                if any(mark in name for mark in RATE_HEADERS)
            }


@dataclass(frozen=True)
class Answer:
    """What one probing call got: ``status`` (None: no answer at all), the body when 2xx."""

    endpoint: str
    status: int | None
    data: Any = None
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Prober:
    """A client for probing: few retries, every exchange recorded."""

    settings: HaloSettings
    transport: httpx.BaseTransport | None = None
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(attempts=2))
    recorder: RecordingTransport = field(init=False)
    client: HaloClient = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = RecordingTransport(self.transport)
        self.client = HaloClient(self.settings, transport=self.recorder, retry=self.retry)

    def close(self) -> None:
        self.client.close()

    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        *,
        write: bool = False,
    ) -> Answer:
        endpoint = endpoint_name(method, path)
        before = len(self.recorder.exchanges)
        try:
            data = self.client.request(method, path, params=params, body=body, write=write)
        except HaloError as e:
            return Answer(endpoint, e.status, None, e.message, self._seconds(before))
        return Answer(endpoint, 200, data, "", self._seconds(before))

    def refused_write(self, method: str, resource: str) -> Answer:
        """A write Halo must refuse before applying (see the module docstring)."""
        if method == "DELETE":
            return self.call("DELETE", f"{resource}/{PROBE_ID}", write=True)
        key = "ticket_id" if resource == "Actions" else "id"
        return self.call(method, resource, body=[{key: PROBE_ID}], write=True)

    def _seconds(self, before: int) -> float:
        return sum(e.seconds for e in self.recorder.exchanges[before:])
