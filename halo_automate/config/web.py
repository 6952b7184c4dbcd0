"""The web console's settings: the ``web:`` section (where it listens, who may log in).

``web.listen`` is ``host:port`` on loopback unless ``web.allow_remote`` (then the console is
meant to sit behind a TLS reverse proxy; docs/web-console.md shows one). ``web.users`` maps a
user name to an argon2 hash made by ``halo-automate hash-password``; a plain password is
refused here, so one never sits in the file. ``web.public_url`` is the address people reach
the console at (the links notifications carry, and whether cookies are ``Secure``). Sessions
live in the serving process (a random id in the cookie, nothing signed), so there is no
session secret to keep; restarting the console logs everyone out.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from halo_automate.config.halo import _Model
from halo_automate.core.addresses import is_loopback, split_host_port

ARGON2_PREFIX = "$argon2"
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def split_listen(text: str) -> tuple[str, int]:
    """The console's ``host:port`` (:func:`~halo_automate.core.addresses.split_host_port`)."""
    return split_host_port(text, "127.0.0.1:8780")


class WebSettings(_Model):
    """``web:``: the console (``halo-automate web``, or the daemon when this is set)."""

    listen: str = "127.0.0.1:8780"
    users: dict[str, str] = Field(default_factory=dict)
    allow_remote: bool = False
    public_url: str | None = None
    session_hours: float = Field(12, gt=0, le=24 * 30, allow_inf_nan=False)
    login_attempts: int = Field(5, ge=1)
    """Failed logins allowed per user name and per client address in ``login_window_seconds``."""
    login_window_seconds: float = Field(300, gt=0, allow_inf_nan=False)
    page_size: int = Field(50, ge=5, le=1000)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("users")
    @classmethod
    def _check_users(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError(
                "at least one user is needed: users: {alice: HASH}, the hash from "
                "`echo -n PASSWORD | halo-automate hash-password`"
            )
        for name, hashed in value.items():
            if not _USER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid user name (letters, digits, _ . @ -)")
            if not isinstance(hashed, str) or not hashed.startswith(ARGON2_PREFIX):
                raise ValueError(
                    f"user {name!r}: expected an argon2 hash ($argon2id$...), made by "
                    "`halo-automate hash-password`, never a password"
                )
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"expected an http(s) URL, e.g. https://halo-automate.example, not {value!r}"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> WebSettings:
        host, _ = split_listen(self.listen)
        if not self.allow_remote and not is_loopback(host):
            raise ValueError(
                f"listen: {host} is not a loopback address; the console belongs behind a TLS "
                "reverse proxy: use 127.0.0.1, or set allow_remote: true (see docs/web-console.md)"
            )
        return self

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def secure_cookies(self) -> bool:
        """Mark cookies ``Secure``: the console is reached over TLS (its public URL says so)."""
        return bool(self.public_url and self.public_url.startswith("https://"))
