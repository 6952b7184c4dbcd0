"""OAuth2 client credentials: one cached token for the whole process.

The token is renewed shortly before ``expires_in`` runs out (60 s, or half the lifetime for
short-lived tokens) and on demand after a 401. Renewal is single-flight: when many threads
see an expired or rejected token at once, one of them asks Halo and the others reuse it.
The client secret lives in a :class:`pydantic.SecretStr` and is read only to build the
form body of the token request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import SecretStr

RENEW_MARGIN_SECONDS = 60.0


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

    def form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
            "scope": self.scope,
        }

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

    def invalidate(self, rejected: str) -> None:
        """Drop the token Halo rejected (unless another thread already replaced it)."""
        with self._lock:
            if self._token is not None and self._token.value == rejected:
                self._token = None

    def _renew(self) -> None:
        value, lifetime = self._fetch()
        self._token = Token(value, self._clock() + lifetime, lifetime)
        self.issued += 1
