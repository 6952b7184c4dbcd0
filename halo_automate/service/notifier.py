"""Sending notifications: retries, a timeout, never fatal, never a secret (issue 16).

:class:`Notifier` sends one :class:`~halo_automate.core.notice.Notice` to named channels of
the config's ``notify:`` (:mod:`halo_automate.config.notify`), each in its own shape
(:mod:`.notify_payloads`). Rules:

* **Never fatal.** A channel that times out, refuses or is unknown is logged
  (``notification_failed``: channel, type, event, run, HTTP status or error type) and
  counted (``halo_automate_notifications_total{channel,result}``); the run, the daemon and
  the CLI go on. Sending happens on a background thread in the daemon, so a slow receiver
  never delays a run; the CLI sends in line (``background=False``) before it exits.
* **Retries.** A timeout, a connection error, a 429 or a 5xx is tried again ``retries``
  times after a back-off (``Retry-After`` when the receiver gives one, capped); any other
  answer is final. Every request has ``timeout_seconds``.
* **No secret in any message.** The finished payload text is scrubbed of every secret the
  config holds (webhook URLs, header values, the SMTP password, each Halo client secret),
  whatever text a run message quoted; and no log line names a URL (only the channel's name).
"""

from __future__ import annotations

import json
import queue
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from email.message import EmailMessage

import httpx
import structlog

from halo_automate.config import Settings
from halo_automate.config.notify import (
    EmailChannel,
    NotifySettings,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)
from halo_automate.core.notice import Notice
from halo_automate.service.notify_payloads import (
    email_subject,
    plain_text,
    slack_payload,
    teams_payload,
    webhook_payload,
)

log = structlog.get_logger("halo_automate.service.notifier")

REDACTED = "[redacted]"
MAX_BACKOFF = 10.0
USER_AGENT = "halo-automate-notifier"
Sleep = Callable[[float], None]
SMTPFactory = Callable[..., smtplib.SMTP]


def secret_values(settings: Settings) -> list[str]:
    """Every secret text the config holds (what no message may ever contain)."""
    found: list[str] = []
    for channel in settings.notify.channels.values():
        if isinstance(channel, SlackChannel | TeamsChannel | WebhookChannel):
            found.append(channel.url.get_secret_value())
        if isinstance(channel, WebhookChannel):
            found += [v.get_secret_value() for v in channel.headers.values()]
        if isinstance(channel, EmailChannel) and channel.password is not None:
            found.append(channel.password.get_secret_value())
    for halo in settings.instances.values():
        try:
            found.append(halo.client_secret.get_secret_value())
        except Exception:  # noqa: S112 - an unresolved ${VAR}: no value to leak
            continue
    return [s for s in found if len(s) >= 6]


class Notifier:
    """Sends notices to the configured channels (see the module docstring)."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        secrets: Iterable[str] = (),
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
        smtp: SMTPFactory = smtplib.SMTP,
        smtp_ssl: SMTPFactory = smtplib.SMTP_SSL,
        background: bool = True,
    ) -> None:
        self.settings = settings
        self._secrets = sorted(set(secrets), key=len, reverse=True)
        self._sleep = sleep
        self._smtp = smtp
        self._smtp_ssl = smtp_ssl
        self._http = httpx.Client(
            transport=transport,
            timeout=settings.timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        self.results: Counter[tuple[str, str]] = Counter()
        """(channel, "sent" | "failed") -> count, for the metrics."""
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Notice, tuple[str, ...]] | threading.Event] | None = None
        self._worker: threading.Thread | None = None
        if background:
            self._queue = queue.Queue()
            self._worker = threading.Thread(target=self._drain, name="notifier", daemon=True)
            self._worker.start()

    # ------------------------------------------------------------------ the API

    def send(self, notice: Notice, channels: Sequence[str]) -> None:
        """Send ``notice`` to each named channel (queued on the background thread, or now)."""
        if not channels:
            return
        if self._queue is not None:
            self._queue.put((notice, tuple(channels)))
        else:
            self._send_all(notice, tuple(channels))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued notice was tried; False if ``timeout`` ran out first."""
        if self._queue is None:
            return True
        done = threading.Event()
        self._queue.put(done)  # a marker: reached once everything before it was tried
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Try what is queued (at most ``timeout`` seconds), then stop."""
        self.flush(timeout)
        self._http.close()

    def prometheus(self) -> str:
        """``halo_automate_notifications_total{channel,result}`` in Prometheus text format."""
        lines = [
            "# HELP halo_automate_notifications_total Notifications tried, by channel and result.",
            "# TYPE halo_automate_notifications_total counter",
        ]
        with self._lock:
            items = sorted(self.results.items())
        for (channel, result), count in items:
            lines.append(
                f'halo_automate_notifications_total{{channel="{channel}",result="{result}"}} '
                f"{count}"
            )
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ sending

    def _drain(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
            else:
                self._send_all(*item)

    def _send_all(self, notice: Notice, channels: tuple[str, ...]) -> None:
        for name in channels:
            try:
                self._send_one(notice, name)
            except _Failed as e:
                self._count(name, "failed")
                log.warning(
                    "notification_failed", channel=name, about=notice.event,
                    run_id=notice.run_id, playbook=notice.playbook, reason=e.reason,
                )  # fmt: skip
            except Exception as e:  # never fatal, whatever a channel does
                self._count(name, "failed")
                log.error(
                    "notification_failed", channel=name, about=notice.event,
                    run_id=notice.run_id, reason=type(e).__name__, note="unexpected",
                )  # fmt: skip
            else:
                self._count(name, "sent")
                log.info("notification_sent", channel=name, about=notice.event,
                         run_id=notice.run_id)  # fmt: skip

    def _count(self, channel: str, result: str) -> None:
        with self._lock:
            self.results[(channel, result)] += 1

    def _send_one(self, notice: Notice, name: str) -> None:
        channel = self.settings.channels.get(name)
        if channel is None:
            raise _Failed("no such channel in notify.channels")
        if isinstance(channel, EmailChannel):
            self._email(channel, notice)
            return
        if isinstance(channel, SlackChannel):
            body = slack_payload(notice)
        elif isinstance(channel, TeamsChannel):
            body = teams_payload(notice)
        else:
            body = webhook_payload(notice)
        headers = {"Content-Type": "application/json"}
        if isinstance(channel, WebhookChannel):
            headers.update({k: v.get_secret_value() for k, v in channel.headers.items()})
        self._post(channel.url.get_secret_value(), self.scrub(json.dumps(body)), headers)

    def scrub(self, text: str) -> str:
        """``text`` with every configured secret replaced (JSON-escaped forms too)."""
        for secret in self._secrets:
            for form in {secret, json.dumps(secret)[1:-1]}:
                text = text.replace(form, REDACTED)
        return text

    def _post(self, url: str, body: str, headers: dict[str, str]) -> None:
        tries = self.settings.retries + 1
        reason = ""
        for attempt in range(1, tries + 1):
            wait = min(MAX_BACKOFF, 0.5 * 2 ** (attempt - 1))
            try:
                response = self._http.post(url, content=body.encode("utf-8"), headers=headers)
            except httpx.TimeoutException:
                reason = "timeout"
            except httpx.HTTPError as e:  # never str(e): it may quote the URL
                reason = type(e).__name__
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return
                reason = f"HTTP {status}"
                if status != 429 and status < 500:
                    raise _Failed(reason)
                wait = _retry_after(response.headers.get("Retry-After"), wait)
            if attempt < tries:
                self._sleep(wait)
        raise _Failed(f"{reason} after {tries} tries")

    def _email(self, channel: EmailChannel, notice: Notice) -> None:
        message = EmailMessage()
        message["Subject"] = self.scrub(email_subject(notice))
        message["From"] = channel.sender
        message["To"] = ", ".join(channel.to)
        message.set_content(self.scrub(plain_text(notice)))
        timeout = self.settings.timeout_seconds
        tries = self.settings.retries + 1
        reason = ""
        for attempt in range(1, tries + 1):
            try:
                self._smtp_send(channel, message, timeout)
                return
            except smtplib.SMTPResponseException as e:
                reason = f"SMTP {e.smtp_code}"
                if e.smtp_code >= 500:  # permanent: the server said no
                    raise _Failed(reason) from None
            except (OSError, smtplib.SMTPException) as e:  # connection trouble: try again
                reason = type(e).__name__
            if attempt < tries:
                self._sleep(min(MAX_BACKOFF, 0.5 * 2 ** (attempt - 1)))
        raise _Failed(f"{reason} after {tries} tries")

    def _smtp_send(self, channel: EmailChannel, message: EmailMessage, timeout: float) -> None:
        factory = self._smtp_ssl if channel.tls else self._smtp
        with factory(channel.host, channel.port, timeout=timeout) as smtp:
            if channel.starttls and not channel.tls:
                smtp.starttls()
            if channel.username and channel.password is not None:
                smtp.login(channel.username, channel.password.get_secret_value())
            smtp.send_message(message)


class _Failed(Exception):
    """A channel gave up on this notice (``reason`` is safe to log: no URL)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _retry_after(value: str | None, default: float) -> float:
    try:
        return min(MAX_BACKOFF, max(0.0, float(value))) if value else default
    except ValueError:
        return default
