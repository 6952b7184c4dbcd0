"""One Halo instance's settings: where it is, how to authenticate, how hard to press it.

A :class:`HaloSettings` is one ``halo:`` block or one entry of ``instances:``. The client
secret is a :class:`pydantic.SecretStr` from the moment it is read; an unset ``${VAR}`` makes
it an :class:`UnresolvedSecret` that loads and only fails when read (see the package doc).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from halo_automate.core.addresses import is_loopback
from halo_automate.errors import ConfigError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Model):
    """Halo's rate limit (``requests`` per rolling ``per_seconds``) and the part of it,
    ``share``, this tool may use: every process on the machine together (the rest is left
    to the tenant's other integrations)."""

    requests: int = Field(300, ge=1)
    per_seconds: float = Field(300, gt=0, allow_inf_nan=False)
    share: float = Field(0.8, gt=0, le=1, allow_inf_nan=False)


class ClientAssertion(_Model):
    """RFC 7523 ``private_key_jwt``: a signed JWT sent with the token request (Halo v2.216
    can require one, FACTS.md §9.7). ``audience`` defaults to the token endpoint's URL;
    ``send_secret`` also sends ``client_secret`` (Halo's "extra security measure" case)."""

    private_key_file: Path
    alg: Literal["RS256", "PS256", "ES256"] = "RS256"
    kid: str | None = None
    audience: str | None = None
    send_secret: bool = True
    lifetime_seconds: int = Field(300, ge=10, le=300)

    @field_validator("private_key_file")
    @classmethod
    def _check_key_path(cls, value: Path) -> Path:
        if "\0" in str(value):
            raise ValueError("a path cannot contain a NUL character")
        return value


class UnresolvedSecret(SecretStr):
    """The client secret whose ``${VAR}`` is unset: loads, but reading it raises ``problem``
    (the one-line error naming the key and the variable)."""

    def __init__(self, problem: str) -> None:
        super().__init__("")
        self.problem = problem

    def get_secret_value(self) -> str:
        raise ConfigError(self.problem)


class HaloSettings(_Model):
    base_url: str
    auth_url: str | None = None
    tenant: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    client_assertion: ClientAssertion | None = None
    scope: str = "all"
    rate_limit: RateLimit = RateLimit()
    page_size: int = Field(100, ge=1, le=100)
    concurrency: int = Field(4, ge=1, le=16)
    batch_size: int = Field(50, ge=1, le=100)
    write_concurrency: int = Field(4, ge=1, le=16)  # write batches of one phase in flight
    timeout_seconds: float = Field(30, gt=0, allow_inf_nan=False)
    request_deadline_seconds: float = Field(300, gt=0, allow_inf_nan=False)
    max_rate_limit_wait_seconds: float = Field(600, ge=0, allow_inf_nan=False)
    run_deadline_seconds: float = Field(14400, gt=0, allow_inf_nan=False)

    @field_validator("base_url", "auth_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        check_url(value)
        return value.rstrip("/")

    def check_secret(self) -> None:
        """Raise the config error of an unset secret variable (whoever talks to Halo calls
        this before anything else, so the error comes first, as when loading failed)."""
        if isinstance(self.client_secret, UnresolvedSecret):
            raise ConfigError(self.client_secret.problem)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def host(self) -> str:
        """The API host, for prompts and reports (``acme.halopsa.com``)."""
        return urlsplit(self.base_url).netloc

    @property
    def identity(self) -> str:
        """What makes this Halo this Halo: its API base URL and tenant. Plans, journal runs
        and locks carry it, so nothing made for one Halo acts on another."""
        return self.base_url + (f" tenant={self.tenant}" if self.tenant else "")

    @property
    def token_url(self) -> str:
        return f"{self.auth_url or self.base_url + '/auth'}/token"


def check_url(value: str) -> None:
    """Accept https URLs, and http only on loopback (the sandbox, a local proxy)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"http:// is only allowed on loopback; use https:// for {value!r}")
