"""OAuth2 client credentials: one cached token for the whole process, added as an httpx auth flow.

The token is renewed shortly before ``expires_in`` runs out (60 s, or half the lifetime for
short-lived tokens) and on demand after a 401. Renewal is single-flight: when many threads
see an expired or rejected token at once, one of them asks Halo and the others reuse it.
The token request is an ordinary request of the client (same budget, same retry policy);
:func:`token_from` reads its answer.

:class:`BearerAuth` is an :class:`httpx.Auth` flow, the way httpx models authentication: it
adds the bearer token and, when Halo answers 401, drops that token and sends the request once
more with a fresh one. :func:`authorized` drives such a flow over the client's own sender
(as ``httpx.Client`` does over its transport), so every request of the flow takes a budget
slot and gets the retry policy.

The client secret lives in a :class:`pydantic.SecretStr` and is read only to build the
form body of the token request; :class:`Scrubber` removes it, the tokens Halo issued us and the
client assertions we signed (``halo.assertion``, RFC 7523, when configured), from any text
Halo echoes back.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

import httpx
import structlog
from pydantic import SecretStr

from halo_automate.errors import HaloAuthError, HaloResponseError, HaloUnavailableError
from halo_automate.halo.assertion import ASSERTION_TYPE
from halo_automate.halo.transport import Sender

log = structlog.get_logger("halo_automate.halo")

RENEW_MARGIN_SECONDS = 60.0
TOKEN_ENDPOINT = "POST /auth/token"  # noqa: S105 (an endpoint label, not a secret)
AUTH_HINT = (
    "check the client id and secret, the API application's scopes, and the permissions of "
    "the agent the API application logs in as"
)


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_at: float  # monotonic clock
    lifetime: float

    def fresh(self, now: float) -> bool:
        margin = min(RENEW_MARGIN_SECONDS, self.lifetime / 2)
        return now < self.expires_at - margin


@dataclass(frozen=True)
class Credentials:
    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str = "all"
    tenant: str | None = None
    assertion: Callable[[], str] | None = field(default=None, repr=False)
    """Builds a fresh RFC 7523 client assertion (``halo.assertion``); None: secret only."""
    send_secret: bool = True

    @property
    def method(self) -> str:
        """How this client authenticates, as ``doctor`` reports it."""
        if self.assertion is None:
            return "client secret"
        alg = getattr(self.assertion, "alg", "JWT")
        return f"client assertion ({alg})" + (" + client secret" if self.send_secret else "")

    def form(self) -> dict[str, str]:
        """The token request's form (a new assertion, with a new ``jti``, each time)."""
        form = {"grant_type": "client_credentials", "client_id": self.client_id}
        if self.send_secret:
            form["client_secret"] = self.client_secret.get_secret_value()
        form["scope"] = self.scope
        if self.assertion is not None:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = self.assertion()
        return form

    def params(self) -> dict[str, str]:
        return {"tenant": self.tenant} if self.tenant else {}


class TokenManager:
    """Hands out a valid bearer token; ``fetch`` does the actual token request."""

    def __init__(
        self, fetch: Callable[[], tuple[str, float]], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._token: Token | None = None
        self._lock = threading.Lock()
        self.issued = 0

    def get(self) -> str:
        with self._lock:
            if self._token is None or not self._token.fresh(self._clock()):
                self._renew()
            assert self._token is not None
            return self._token.value

    @property
    def has_token(self) -> bool:
        """Whether a token is held (fresh or not); the token itself is never shown."""
        with self._lock:
            return self._token is not None

    def __repr__(self) -> str:
        return f"TokenManager(has_token={self.has_token}, issued={self.issued})"

    def invalidate(self, rejected: str) -> None:
        """Drop the token Halo rejected (unless another thread already replaced it)."""
        with self._lock:
            if self._token is not None and self._token.value == rejected:
                self._token = None

    def _renew(self) -> None:
        value, lifetime = self._fetch()
        self._token = Token(value, self._clock() + lifetime, lifetime)
        self.issued += 1


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer``; on a 401, retries once with a fresh token."""

    def __init__(self, tokens: TokenManager) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.get()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self.tokens.invalidate(token)
            request.headers["Authorization"] = f"Bearer {self.tokens.get()}"
            yield request


def authorized(
    auth: httpx.Auth, request: httpx.Request, send: Callable[[httpx.Request], httpx.Response]
) -> httpx.Response:
    """Run ``auth``'s flow for ``request``, each request it yields sent by ``send``; the last
    response is the answer (as ``httpx.Client`` drives an auth flow)."""
    flow = auth.sync_auth_flow(request)
    try:
        request = next(flow)
        while True:
            response = send(request)
            try:
                request = flow.send(response)
            except StopIteration:
                return response
    finally:
        flow.close()


class Scrubber:
    """Replaces the client secret, in every encoding it can be echoed in, and the tokens Halo
    issued us with ``***`` (a body that echoes the request must not carry them into an error,
    a log line or the journal).

    The encodings: raw; URL-encoded as a form does (``+`` for space) and as a URL does
    (``%20``), with upper- or lower-case hex; JSON-escaped (``ensure_ascii`` on or off, ``/``
    escaped or not); base64 of the secret and of a Basic header's ``client_id:secret`` (raw or
    form-encoded, RFC 6749 §2.3.1).
    """

    def __init__(self, secret: SecretStr, client_id: str = "") -> None:
        self._secret = _secret_pattern(secret.get_secret_value(), client_id)
        self._issued: tuple[str, ...] = ()  # the recent tokens, only to scrub them

    def remember(self, token: str) -> None:
        """Scrub ``token`` (an access token or a client assertion) from now on."""
        self._issued = (*self._issued[-7:], token)

    def __call__(self, text: str) -> str:
        if self._secret is not None:
            text = self._secret.sub("***", text)
        for value in self._issued:
            if value:
                text = text.replace(value, "***")
        return text


def _ask(sender: Sender, credentials: Credentials, scrubber: Scrubber) -> httpx.Response:
    """One token request (a new assertion, if any, remembered for scrubbing), with retries."""
    form = credentials.form()
    if "client_assertion" in form:
        scrubber.remember(form["client_assertion"])
    request = sender.build("POST", credentials.token_url, data=form, params=credentials.params())
    return sender.send(request, TOKEN_ENDPOINT, write=False)


def _secret_pattern(secret: str, client_id: str) -> re.Pattern[str] | None:
    """One regex matching every encoding of ``secret`` (longest first), or None when empty."""
    if not secret:
        return None
    plain = {secret, _b64(secret)}
    plain |= {_b64(f"{client_id}:{secret}"), _b64(f"{quote_plus(client_id)}:{quote_plus(secret)}")}
    for ascii_only in (False, True):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        plain |= {escaped, escaped.replace("/", "\\/")}
    fragments = {re.escape(v): len(v) for v in plain}
    for url in (quote_plus(secret), quote(secret, safe="")):
        fragments[_any_case_hex(url)] = len(url)
    return re.compile("|".join(sorted(fragments, key=lambda f: fragments[f], reverse=True)))


def _any_case_hex(url: str) -> str:
    """A regex for URL-encoded text whose ``%XX`` escapes may use either case of hex digit."""
    parts = re.split(r"(%[0-9A-F]{2})", url)
    return "".join(
        "%" + "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in part[1:])
        if part.startswith("%")
        else re.escape(part)
        for part in parts
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def fetch_token(sender: Sender, credentials: Credentials, scrubber: Scrubber) -> tuple[str, float]:
    """Ask the token endpoint for a token (an ordinary request: budget, retries); return it
    with its lifetime in seconds."""
    sent = sender.stats.snapshot()["by_endpoint"].get(TOKEN_ENDPOINT, 0)
    resp = _ask(sender, credentials, scrubber)
    resent = sender.stats.snapshot()["by_endpoint"].get(TOKEN_ENDPOINT, 0) - sent > 1
    if resp.status_code == 401 and credentials.assertion is not None and resent:
        # A retried try re-sent the same assertion, whose jti the server may have seen on
        # the try that failed: a replay it must refuse. Once more, with a fresh assertion.
        resp = _ask(sender, credentials, scrubber)
    status = resp.status_code
    if status in (400, 401, 403):
        raise HaloAuthError(
            f"token request refused ({sender.message(resp)}); {AUTH_HINT}",
            endpoint=TOKEN_ENDPOINT,
            status=status,
        )
    if status >= 300:
        raise HaloUnavailableError(sender.message(resp), endpoint=TOKEN_ENDPOINT, status=status)
    data = sender.json(resp, TOKEN_ENDPOINT)
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise HaloResponseError("token response has no access_token", endpoint=TOKEN_ENDPOINT)
    expires = data.get("expires_in", 3600)
    lifetime = 3600.0
    number = isinstance(expires, int | float) and not isinstance(expires, bool)
    if number and math.isfinite(expires) and expires > 0:
        lifetime = float(expires)
    scrubber.remember(token)
    log.debug("token_issued", expires_in=lifetime)
    return token, lifetime
