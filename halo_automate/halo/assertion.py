"""RFC 7523 client assertions (``private_key_jwt``): a fresh signed JWT for each token request.

HaloPSA v2.216 lets an API application require "JWT assertion ... as an extra security
measure" for the client credentials flow (FACTS.md §9.7); no public text gives Halo's claims,
so this follows RFC 7523 §3 and §2.2, the form IdentityServer (which Halo's authorisation
server descends from) implements, with every knob in the config (``halo.client_assertion``):

* ``iss`` = ``sub`` = the client id; ``aud`` = the token endpoint's URL (``audience``
  overrides it); a unique ``jti`` (128 random bits) per assertion; ``iat``/``nbf`` now and
  ``exp`` at most 5 minutes later (``lifetime_seconds``);
* signed RS256 (PS256 or ES256 selectable, ``alg``) with the PEM private key of
  ``private_key_file``, an optional ``kid`` header;
* sent as ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``
  and ``client_assertion=<JWT>``, with ``client_secret`` too unless ``send_secret`` is false.

Signing is PyJWT's (with ``cryptography``), never hand-written. The key is read once, when the
client is built; a key that cannot be read, or does not fit ``alg``, is a one-line
:class:`~halo_automate.errors.ConfigError` that never quotes the file's content. The key and the
assertions stay out of every log line and error (the client's scrubber hides the assertions).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from halo_automate.config import ClientAssertion, HaloSettings
from halo_automate.errors import ConfigError, one_line

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_KEY_BYTES = 64 * 1024

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class AssertionSigner:
    """Builds one signed assertion per call (each with its own ``jti``)."""

    key: PrivateKey = field(repr=False)
    alg: str
    client_id: str
    audience: str
    kid: str | None = None
    lifetime: int = 300
    clock: Callable[[], float] = time.time

    def claims(self) -> dict[str, Any]:
        now = int(self.clock())
        return {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.audience,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
        }

    def __call__(self) -> str:
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(self.claims(), self.key, algorithm=self.alg, headers=headers)


def load_private_key(config: ClientAssertion) -> PrivateKey:
    """The PEM private key of ``config``, checked against its ``alg``."""
    where = f"halo.client_assertion.private_key_file ({config.private_key_file})"
    try:
        with open(config.private_key_file, "rb") as f:
            data = f.read(MAX_KEY_BYTES + 1)
    except OSError as e:
        raise ConfigError(one_line(f"{where}: cannot read ({e.strerror or e})")) from None
    if len(data) > MAX_KEY_BYTES:
        raise ConfigError(f"{where}: larger than 64 KB, not a PEM private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        reason = "it is encrypted" if isinstance(e, TypeError) else "not a PEM private key"
        raise ConfigError(f"{where}: cannot load the key: {reason}") from None
    if config.alg in ("RS256", "PS256"):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"{where}: {config.alg} needs an RSA key")
        if key.key_size < 2048:
            raise ConfigError(f"{where}: an RSA key of at least 2048 bits is needed")
        return key
    if not (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"):
        raise ConfigError(f"{where}: ES256 needs an EC key on the P-256 curve")
    return key


def signer_for(config: ClientAssertion, client_id: str, token_url: str) -> AssertionSigner:
    """The signer the token request uses (``aud`` defaults to ``token_url``)."""
    return AssertionSigner(
        key=load_private_key(config),
        alg=config.alg,
        client_id=client_id,
        audience=config.audience or token_url,
        kid=config.kid,
        lifetime=config.lifetime_seconds,
    )


def assertion_options(settings: HaloSettings) -> dict[str, Any]:
    """The :class:`~halo_automate.halo.auth.Credentials` keywords for ``settings``."""
    config = settings.client_assertion
    if config is None:
        return {}
    signer = signer_for(config, settings.client_id, settings.token_url)
    return {"assertion": signer, "send_secret": config.send_secret}
