"""The sandbox token endpoint's check of an RFC 7523 client assertion (``private_key_jwt``).

HaloPSA v2.216 (#1085535) can require "JWT assertion ... as an extra security measure for Halo
API applications using client credentials flow" (FACTS.md §9.7). No public text gives Halo's
claims or key registration, so the sandbox checks what RFC 7523 (§3) and IdentityServer, which
Halo's authorisation server descends from, check:

* ``client_assertion_type`` is ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``;
* the signature verifies with the configured public key (PEM; RSA for RS256/PS256, EC P-256
  for ES256), with an algorithm that fits that key (never ``none`` or HMAC);
* ``iss`` = ``sub`` = the client id, ``aud`` the token endpoint URL (or the configured
  audience), ``exp`` present, not passed and at most 5 minutes (+30 s skew) ahead;
* the ``jti`` was not seen before (kept until its ``exp``).

Any failure is Halo's bad-client answer, 401 ``{"error": "invalid_client"}`` (FACTS.md §1.3);
the reason goes only to :attr:`AssertionCheck.last_reason` for tests, never to the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = 300
SKEW = 30


def algorithms_for(key: Any) -> list[str]:
    """The algorithms a public key may verify."""
    if isinstance(key, rsa.RSAPublicKey):
        return ["RS256", "PS256"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ["ES256"]
    raise ValueError("the assertion key must be an RSA or EC public key")


@dataclass
class AssertionCheck:
    """Verifies the assertions of one client against one public key."""

    public_key: Any
    client_id: str
    audience: Callable[[], str]
    clock: Callable[[], float] = time.time
    last_reason: str = ""
    _seen: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_file(
        cls, path: Path, client_id: str, audience: Callable[[], str], **kw: Any
    ) -> AssertionCheck:
        key = serialization.load_pem_public_key(path.read_bytes())
        algorithms_for(key)
        return cls(key, client_id, audience, **kw)

    def verify(self, form: Mapping[str, str]) -> bool:
        """Whether the form carries a valid, unused assertion (``last_reason`` says why not)."""
        reason = self._problem(form)
        self.last_reason = reason or ""
        return reason is None

    def _problem(self, form: Mapping[str, str]) -> str | None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return "no client_assertion_type jwt-bearer"
        token = form.get("client_assertion", "")
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=algorithms_for(self.public_key),
                audience=self.audience(),
                issuer=self.client_id,
                options={"require": ["exp", "jti", "iss", "sub", "aud"], "verify_iat": False},
                leeway=0,
            )
        except jwt.PyJWTError as e:
            return f"{type(e).__name__}: {e}"
        now = self.clock()
        if claims["sub"] != self.client_id:
            return "sub is not the client id"
        exp = claims["exp"]
        if not isinstance(exp, int | float) or exp > now + MAX_LIFETIME + SKEW:
            return "exp is more than 5 minutes ahead"
        jti = str(claims["jti"])
        with self._lock:
            self._seen = {j: e for j, e in self._seen.items() if e >= now}
            if jti in self._seen:
                return "jti replayed"
            self._seen[jti] = float(exp)
        return None
