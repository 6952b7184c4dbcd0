"""The sandbox Halo over real HTTP: token endpoint, ``/api`` routes, faults and counters.

Standard library (HTTP/1.1 keep-alive, a thread per connection: ``listener.py``; PyJWT only to
verify client assertions, ``assertion.py``). Every request passes, in order: the request hooks
a test added (``add_request_hook``), counting, the rolling-window rate limit (429), added
latency, the bearer check (401 empty), the application's permissions (403 empty,
``permissions.py``), injected failures (500 empty, nothing applied), then the Halo endpoint
under one state lock (a write the agent may not make is refused there). ``/_sandbox/*``
control routes are not Halo: no auth, no limit, not counted.

Never imported by the runtime path (client/plan/apply): only by the CLI's sandbox/demo
commands and by tests.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from halo_automate.sandbox.api import HaloApi
from halo_automate.sandbox.assertion import AssertionCheck
from halo_automate.sandbox.data import generate
from halo_automate.sandbox.hold import Hold
from halo_automate.sandbox.hooks import Handle, SandboxHooks
from halo_automate.sandbox.listener import Handler, Listener
from halo_automate.sandbox.permissions import Permissions
from halo_automate.sandbox.ratelimit import RollingWindow, retry_after_seconds
from halo_automate.sandbox.replies import Reply, empty
from halo_automate.sandbox.state import Behaviour, SandboxState
from halo_automate.sandbox.webhooks import WebhookDelivery

_RESOURCES = {
    r.lower(): r
    for r in ("Tickets", "Actions", "Status", "Category", "TicketType", "Team", "Agent",
              "Outcome", "Priority", "Client", "Site", "Users", "authinfo", "Lookup",
              "InstanceInfo")
}  # fmt: skip
_FAULT_KEYS = ("fail_rate", "latency", "rate_limit", "rate_window", "token_ttl")


@dataclass(frozen=True)
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    tickets: int = 5000
    seed: int = 1
    rate_limit: int = 300  # requests per rolling window; 0 = off
    rate_window: float = 300.0
    latency: float = 0.0  # seconds added to every request
    fail_rate: float = 0.0  # share of /api requests answered 500 (write not applied)
    token_ttl: int = 3600
    client_id: str = "halo-automate-sandbox"
    client_secret: str = "sandbox-secret-do-not-use"  # noqa: S105 - a public sandbox value
    tenant: str | None = None
    retry_after: bool = False
    state_file: Path | None = None
    now: datetime | None = None  # seed dates end here; None = the wall clock at start
    deny: tuple[str, ...] = ()  # endpoints the API application may not use: 403 (permissions.py)
    allowed_outcomes: tuple[str, ...] | None = None  # outcomes its agent may use; None = all
    assertion_key: Path | None = None  # require an RFC 7523 assertion signed for this public key
    assertion_audience: str | None = None  # the assertion's expected aud; None = token URL
    assertion_only: bool = False  # with an assertion, the client secret may be left out
    omit_unset: bool = True  # list rows leave out unset fields, as real Halo (FACTS §9.2)
    partial_commit: bool = False  # a rejected multi-element POST keeps the elements before
    mandatory: Mapping[int, tuple[str, ...]] | None = None  # ticket type -> required on close
    cab_types: frozenset[int] = frozenset()  # ticket types whose close needs CAB approval
    webhook_url: str | None = None  # POST ticket create/update events here, as Halo does
    webhook_auth: tuple[str, str] | None = None  # Basic credentials for those POSTs
    ignore_date_filter: bool = False  # ignore datesearch/startdate/enddate (no date filter)
    duplicates: bool = False  # seed duplicate alert bursts and look-alikes (duplicates.py)

    def behaviour(self) -> Behaviour:
        return Behaviour(self.omit_unset, self.partial_commit, dict(self.mandatory or {}),
                         frozenset(self.cab_types), not self.ignore_date_filter)  # fmt: skip


class SandboxServer(SandboxHooks):
    """A local Halo stand-in; ``with SandboxServer(options) as sb:`` starts and stops it.

    ``monotonic`` and ``sleep`` are its clock (rate-limit window, token expiry, the write
    time of ``options.now``) and how it waits out ``latency``; tests pass a fake clock so that
    no test waits for a window to roll or a token to expire.
    """

    def __init__(
        self,
        options: SandboxOptions,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.options = options
        self._clock = monotonic
        self._sleep = sleep
        self._origin = options.now or datetime.now(UTC)
        self._started = monotonic()
        self._lock = threading.RLock()
        self._meta_lock = threading.Lock()
        self.state = self._initial_state()
        self.api = HaloApi(self.state, self.clock)
        self.limiter = RollingWindow(options.rate_limit, options.rate_window, monotonic)
        self.fail_rate = options.fail_rate
        self.permissions = Permissions.of(options.deny, options.allowed_outcomes)
        self.assertions = None if options.assertion_key is None else AssertionCheck.from_file(
            options.assertion_key, options.client_id,
            lambda: options.assertion_audience or f"{self.base_url}/auth/token")  # fmt: skip
        self.latency = options.latency
        self.token_ttl = options.token_ttl
        self._fail_rng = random.Random(f"{options.seed}-faults")
        self._tokens: dict[str, float] = {}
        self._token_listeners: list[Callable[[str], None]] = []
        self._entry: Handle = self._answer
        self._hold: Hold | None = None
        self._list_hook: Callable[[dict[str, str]], None] | None = None
        self._counters: Counter[str] = Counter()
        self._by_endpoint: Counter[str] = Counter()
        self._httpd: Listener | None = None
        self._thread: threading.Thread | None = None
        self.webhooks: WebhookDelivery | None = None
        if options.webhook_url:
            self.deliver_webhooks(options.webhook_url, *(options.webhook_auth or (None, None)))

    def _initial_state(self) -> SandboxState:
        path = self.options.state_file
        if path is not None and path.exists():
            state = SandboxState.load(path)
        else:
            options = self.options
            state = generate(options.tickets, options.seed, self._origin,
                             duplicates=options.duplicates)  # fmt: skip
        state.behaviour = self.options.behaviour()
        return state

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Listen and serve in a daemon thread; returns the base URL."""
        if self._httpd is not None:
            return self.base_url
        family = socket.AF_INET6 if ":" in self.options.host else socket.AF_INET
        httpd = Listener((self.options.host, self.options.port), Handler, family, self)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True,
            name="sandbox-halo",
        )  # fmt: skip
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving, drop open connections, and save the state file if one is set."""
        httpd, self._httpd = self._httpd, None
        self.deliver_webhooks(None)
        if self._hold is not None:
            self._hold.release()
        if httpd is not None:
            httpd.shutdown()
            httpd.close_connections()
            httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        if self.options.state_file is not None:
            with self._lock:
                self.state.save(self.options.state_file)

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running")
        host, port = self.options.host, self._httpd.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @property
    def client_id(self) -> str:
        return self.options.client_id

    @property
    def client_secret(self) -> str:
        return self.options.client_secret

    def clock(self) -> datetime:
        """Write time: the wall clock, or a fixed ``now`` advancing with ``monotonic``."""
        if self.options.now is None:
            return datetime.now(UTC)
        return self._origin + timedelta(seconds=self._clock() - self._started)

    # ------------------------------------------------------------------ test hooks

    @property
    def planted(self) -> dict[str, set[int]]:
        return {k: set(v) for k, v in self.state.planted.items()}

    @property
    def counters(self) -> dict[str, Any]:
        with self._meta_lock:
            out: dict[str, Any] = {
                k: self._counters[k]
                for k in ("requests", "rate_limited", "writes_applied", "tickets_written",
                          "actions_written", "tickets_linked", "tickets_merged",
                          "failures_injected", "tokens_issued")
            }  # fmt: skip
            out["requests_by_endpoint"] = dict(self._by_endpoint)
        return out

    def reset_counters(self) -> None:
        with self._meta_lock:
            self._counters.clear()
            self._by_endpoint.clear()

    def set_faults(
        self,
        *,
        fail_rate: float | None = None,
        latency: float | None = None,
        rate_limit: int | None = None,
        rate_window: float | None = None,
        token_ttl: int | None = None,
    ) -> None:
        """Change fault settings while running; None leaves a setting as it is."""
        if fail_rate is not None:
            self.fail_rate = fail_rate
        if latency is not None:
            self.latency = latency
        if token_ttl is not None:
            self.token_ttl = token_ttl
        self.limiter.configure(rate_limit, rate_window)

    def faults(self) -> dict[str, Any]:
        return {
            "fail_rate": self.fail_rate,
            "latency": self.latency,
            "rate_limit": self.limiter.limit,
            "rate_window": self.limiter.window,
            "token_ttl": self.token_ttl,
        }

    # ------------------------------------------------------------------ requests

    def handle(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        """Answer one HTTP request: through the request hooks, if any, then the sandbox."""
        with self._meta_lock:
            entry = self._entry
        return entry(method, target, headers, body)

    def _answer(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        """The sandbox's own answer (the payload is encoded under the state lock)."""
        url = urlsplit(target)
        parts = [p for p in url.path.split("/") if p]
        lower = [p.lower() for p in parts]
        if lower[:1] == ["_sandbox"]:
            return self._control(method, lower[1:], body)
        self._count(_endpoint(method, lower))
        wait = self.limiter.acquire()
        if wait is not None:
            return self._limited(wait)
        if self.latency > 0:
            self._sleep(self.latency)
        hold = self._hold
        if hold is not None and hold.catches(method, lower):
            hold.wait()
        if lower == ["auth", "token"] and method == "POST":
            return self._token(url.query, headers, body)
        if lower == ["api", "authinfo"] and method == "GET":
            return Reply(200, {"auth_url": f"{self.base_url}/auth",
                               "tenant_id": self.options.tenant or ""})  # fmt: skip
        if lower[:1] != ["api"]:
            return empty(404)
        if not self._authorised(headers):
            return empty(401)
        if self.permissions.forbids(method, lower):
            return empty(403)
        if self._inject_failure():
            return empty(500)
        with self._lock:
            if self._list_hook is not None and method == "GET" and lower[1:] == ["tickets"]:
                self._list_hook({k.lower(): v[-1] for k, v in parse_qs(url.query).items()})
            reply = self.permissions.refusal(method, lower, body, self.state) or (
                self.api.handle(method, parts[1:], url.query, body))  # fmt: skip
            reply.payload = reply.encode()
        self._count_writes(reply)
        if reply.events:
            self._ticket_events(reply.events)
        return reply

    def _count(self, endpoint: str) -> None:
        with self._meta_lock:
            self._counters["requests"] += 1
            self._by_endpoint[endpoint] += 1

    def _count_writes(self, reply: Reply) -> None:
        if reply.tickets_written or reply.actions_written:
            with self._meta_lock:
                self._counters["writes_applied"] += 1
                self._counters["tickets_written"] += reply.tickets_written
                self._counters["actions_written"] += reply.actions_written
                self._counters["tickets_linked"] += reply.links
                self._counters["tickets_merged"] += reply.merges

    def _limited(self, wait: float) -> Reply:
        with self._meta_lock:
            self._counters["rate_limited"] += 1
        headers = {"Retry-After": retry_after_seconds(wait)} if self.options.retry_after else {}
        return Reply(429, {"error": self.limiter.message()}, headers)

    def _inject_failure(self) -> bool:
        if self.fail_rate <= 0:
            return False
        with self._meta_lock:
            failed = self._fail_rng.random() < self.fail_rate
            if failed:
                self._counters["failures_injected"] += 1
        return failed

    def _token(self, query: str, headers: Message, body: bytes) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        client_id, secret = _basic(headers.get("Authorization", "")) or (
            form.get("client_id"), form.get("client_secret"))  # fmt: skip
        tenant = (parse_qs(query).get("tenant") or [form.get("tenant", "")])[-1]
        wrong_tenant = bool(self.options.tenant and tenant and tenant != self.options.tenant)
        good = secrets.compare_digest(str(client_id), self.options.client_id) and (
            secrets.compare_digest(str(secret), self.options.client_secret)
            or (self.options.assertion_only and secret is None and self.assertions is not None)
        )
        if good and self.assertions is not None:
            good = self.assertions.verify(form)  # fmt: skip
        if not good or wrong_tenant:
            return Reply(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(32)
        ttl = self.token_ttl
        with self._meta_lock:
            now = self._clock()
            self._tokens = {t: e for t, e in self._tokens.items() if e > now}
            self._tokens[token] = now + ttl
            self._counters["tokens_issued"] += 1
            listeners = list(self._token_listeners)
        for listener in listeners:
            listener(token)
        scope = form.get("scope") or "all"
        return Reply(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": scope}
        )

    def _authorised(self, headers: Message) -> bool:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        with self._meta_lock:
            expiry = self._tokens.get(token.strip())
        return expiry is not None and expiry > self._clock()

    def _control(self, method: str, parts: list[str], body: bytes) -> Reply:
        route = (method, "/".join(parts))
        if route == ("GET", "counters"):
            return Reply(200, self.counters)
        if route == ("GET", "planted"):
            return Reply(200, {k: sorted(v) for k, v in self.state.planted.items()})
        if route == ("GET", "tickets"):
            with self._lock:
                reply = Reply(200, self.state.to_json())
                reply.payload = reply.encode()
            return reply
        if route == ("POST", "faults"):
            return self._post_faults(body)
        if route == ("POST", "reset_counters"):
            self.reset_counters()
            return Reply(200, {})
        return empty(404)

    def _post_faults(self, body: bytes) -> Reply:
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict) or set(data) - set(_FAULT_KEYS):
                raise ValueError(f"expected an object with keys among {', '.join(_FAULT_KEYS)}")
            self.set_faults(**data)
        except (ValueError, TypeError) as e:
            return Reply(400, {"error": str(e)})
        return Reply(200, self.faults())


def _endpoint(method: str, lower: list[str]) -> str:
    """A counter key such as ``GET /api/Tickets`` or ``GET /api/Tickets/{id}``."""
    if lower == ["auth", "token"]:
        return f"{method} /auth/token"
    if len(lower) in (2, 3) and lower[0] == "api" and lower[1] in _RESOURCES:
        return f"{method} /api/{_RESOURCES[lower[1]]}" + ("/{id}" if len(lower) == 3 else "")
    return f"{method} (other)"


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
    except ValueError:
        return None
    return user, password
