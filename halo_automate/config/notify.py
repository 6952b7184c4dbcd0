"""``notify:``: where notifications go (issue 16). Which events a playbook sends, and to
which of these channels, is the playbook's ``notify:`` (:mod:`halo_automate.core.approval`).

::

    notify:
      channels:
        desk-teams: {type: teams, url: ${TEAMS_WEBHOOK_URL}}     # Workflows webhook
        desk-slack: {type: slack, url: ${SLACK_WEBHOOK_URL}}     # incoming webhook
        audit-hook: {type: webhook, url: https://hooks.example/halo, headers: {...}}
        desk-mail:  {type: email, host: smtp.example, to: [desk@example.com], ...}
      timeout_seconds: 5
      retries: 2
      console_url: https://halo-automate.example     # optional: the console's public URL

A webhook URL is a credential (whoever has it may post to the channel), so every URL, header
value and the SMTP password is a :class:`~pydantic.SecretStr`: never shown in a repr, a log
line or a message. Sending is :mod:`halo_automate.service.notifier`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from halo_automate.config.halo import _Model


def _http_url(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if not text.startswith(("https://", "http://")):
        raise ValueError("url: expected an http(s):// URL")  # the URL itself is not repeated
    return value


class SlackChannel(_Model):
    """A Slack incoming webhook (``https://hooks.slack.com/services/...``)."""

    type: Literal["slack"]
    url: SecretStr
    _url = field_validator("url")(_http_url)


class TeamsChannel(_Model):
    """A Microsoft Teams Workflows webhook ("Post to a channel when a webhook request is
    received"): it receives an Adaptive Card as a message attachment."""

    type: Literal["teams"]
    url: SecretStr
    _url = field_validator("url")(_http_url)


class WebhookChannel(_Model):
    """A generic JSON POST (the payload is documented in docs/notifications.md)."""

    type: Literal["webhook"]
    url: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    _url = field_validator("url")(_http_url)


class EmailChannel(_Model):
    """E-mail over SMTP (STARTTLS by default; ``tls: true`` for SMTPS on 465)."""

    type: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    tls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)


Channel = Annotated[
    SlackChannel | TeamsChannel | WebhookChannel | EmailChannel, Field(discriminator="type")
]


class NotifySettings(_Model):
    """``notify:``: the channels by name, and how hard to try each message."""

    channels: dict[str, Channel] = Field(default_factory=dict)
    timeout_seconds: float = Field(5, gt=0, le=60, allow_inf_nan=False)
    retries: int = Field(2, ge=0, le=10)
    """Tries after the first, for a timeout, a connection error, a 429 or a 5xx."""
    console_url: str | None = None
    """The web console's base URL for links (else the ``web:`` section's)."""
    first_changes: int = Field(5, ge=0, le=50)
    """How many changes a message lists (the counts are always complete)."""
