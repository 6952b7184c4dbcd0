"""The ``webhooks:`` section: where the daemon listens for Halo's outbound webhooks.

Halo signs nothing it sends (FACTS §9.9): a webhook is authenticated by the Basic credentials
configured on both sides and by a path nobody can guess, and its payload is never trusted
(the daemon takes ticket ids from it and re-reads those tickets). So ``username`` and
``password`` are required, the password is a :class:`pydantic.SecretStr` (write it as
``${HALO_WEBHOOK_PASSWORD}``), the listener stays on loopback unless ``allow_remote: true``
(put a TLS-terminating reverse proxy in front of it), and bodies are capped. See
docs/webhooks.md for the Halo side.

A webhook comes from ONE Halo: ``instance`` names it (default: the config's
``default_instance``, the one a single ``halo:`` block is); the daemon runs the webhook
playbooks allowed on that instance through that instance's runner, and does not listen when
it does not serve that instance. An unset ``${HALO_WEBHOOK_PASSWORD}`` loads (an
:class:`~halo_automate.config.halo.UnresolvedSecret`, like the client secret), so commands
that serve no webhooks run without it; starting the listener raises its one-line error.
"""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from halo_automate.config.halo import UnresolvedSecret, _Model

_PATH = re.compile(r"^/[A-Za-z0-9._~/-]{0,200}$")


class WebhookSettings(_Model):
    """``webhooks:``: the listener (``listen``, ``path``, ``allow_remote``), the Basic
    credentials Halo sends, the body cap and how long events are coalesced."""

    listen: str = "127.0.0.1:8781"
    path: str = "/hooks/halo"
    username: str = Field(min_length=1)
    password: SecretStr
    allow_remote: bool = False
    instance: str | None = None
    """The Halo instance whose webhooks these are (None: the config's default instance)."""
    max_body_bytes: int = Field(256 * 1024, ge=1024, le=16 * 1024 * 1024)
    coalesce_seconds: float = Field(0.5, ge=0, le=60, allow_inf_nan=False)
    max_tickets: int = Field(500, ge=1, le=10_000)
    """Ticket ids of one coalesced batch at most (a flood runs as several batches)."""

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not _PATH.match(value):
            raise ValueError(
                "expected an absolute URL path of letters, digits and . _ ~ / - "
                f"(e.g. /hooks/halo-<random>), not {value!r}"
            )
        return value

    @field_validator("password")
    @classmethod
    def _check_password(cls, value: SecretStr) -> SecretStr:
        if isinstance(value, UnresolvedSecret):  # unset variable: fails when it listens
            return value
        if len(value.get_secret_value()) < 12:
            raise ValueError("use at least 12 characters (Halo signs nothing; this is the lock)")
        return value

    def check_secret(self) -> None:
        """Raise the config error of an unset password variable (before listening)."""
        self.password.get_secret_value()
