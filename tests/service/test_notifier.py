"""Notifications over real HTTP to a local receiver: each channel's documented shape, retries,
a timeout, never fatal, counted, and no secret in any message."""

from __future__ import annotations

import threading
from email.message import EmailMessage
from typing import Any, ClassVar

import pytest
from notify_support import Receiver, receiver
from pydantic import SecretStr
from structlog.testing import capture_logs

from halo_automate.config.notify import (
    EmailChannel,
    NotifySettings,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)
from halo_automate.core.notice import ChangeLine, Notice
from halo_automate.service.notifier import REDACTED, Notifier

TOKEN = "T0001/B0002/SlackTokenXYZ123"
NOTICE = Notice(
    event="awaiting_approval",
    playbook="close-spam",
    instance="prod",
    run_id="20260105T090000-abc123",
    status="awaiting_approval",
    at="2026-01-05T09:00:00+00:00",
    message="waiting for approval: 2 tickets would change",
    counts={"scanned": 10, "matched": 2, "planned": 2, "changed": 0, "skipped": 0, "failed": 0},
    per_client=(("Contoso", 2),),
    changes=(
        ChangeLine(7, "Contoso", "Out of office: <Bob>", (("status_id", "1", "9"),), ("close",)),
    ),
    more_changes=1,
    link="https://console.example/runs/20260105T090000-abc123",
    command="halo-automate approve 20260105T090000-abc123",
    expires_at="2026-01-06T09:00:00+00:00",
)
FACTS = [
    ("Playbook", "close-spam"),
    ("Instance", "prod"),
    ("Run", "20260105T090000-abc123"),
    ("Status", "awaiting_approval"),
    ("Counts", "matched 2, planned 2, changed 0, skipped 0, failed 0"),
    ("Per client", "Contoso: 2"),
    ("Expires", "2026-01-06T09:00:00+00:00"),
    ("Next", "halo-automate approve 20260105T090000-abc123"),
]
CHANGE = "#7 Contoso: Out of office: <Bob> (status_id: 1 → 9; actions: close)"


def settings(rx: Receiver, **extra: Any) -> NotifySettings:
    return NotifySettings(
        channels={
            "desk-slack": SlackChannel(type="slack", url=SecretStr(f"{rx.base_url}/slack/{TOKEN}")),
            "desk-teams": TeamsChannel(type="teams", url=SecretStr(f"{rx.base_url}/teams?sig=S1G")),
            "audit": WebhookChannel(
                type="webhook",
                url=SecretStr(f"{rx.base_url}/hook"),
                headers={"Authorization": SecretStr("Bearer hook-secret-42")},
            ),
        },
        **extra,
    )


def sleeps() -> tuple[list[float], Any]:
    slept: list[float] = []
    return slept, slept.append


def test_slack_gets_block_kit_with_a_text_fallback() -> None:
    """Slack's incoming webhook gets ``text`` plus header, section fields, changes and a button."""
    with receiver() as rx:
        Notifier(settings(rx), background=False).send(NOTICE, ["desk-slack"])
        [got] = rx.requests
    assert got.path == f"/slack/{TOKEN}" and got.headers["Content-Type"] == "application/json"
    body = got.body
    assert set(body) == {"text", "blocks"} and body["text"].startswith("close-spam waits")
    assert "&lt;Bob&gt;" in body["text"]  # mrkdwn escaping
    assert body["blocks"] == [
        {"type": "header", "text": {"type": "plain_text",
                                    "text": "close-spam waits for approval (prod)"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*{title}*\n{value}"} for title, value in FACTS
        ]},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "waiting for approval: 2 tickets would change"}},
        {"type": "section", "text": {"type": "mrkdwn", "text":
            "• #7 Contoso: Out of office: &lt;Bob&gt; (status_id: 1 → 9; actions: close)\n"
            "• … and 1 more"}},
        {"type": "actions", "elements": [{"type": "button",
            "text": {"type": "plain_text", "text": "Open the run"}, "url": NOTICE.link}]},
    ]  # fmt: skip


def test_teams_gets_an_adaptive_card_attachment() -> None:
    """A Teams Workflows webhook gets a ``message`` with one Adaptive Card 1.4 attachment."""
    with receiver() as rx:
        Notifier(settings(rx), background=False).send(NOTICE, ["desk-teams"])
        [got] = rx.requests
    assert got.body == {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": "close-spam waits for approval (prod)",
                     "weight": "Bolder", "size": "Medium", "wrap": True},
                    {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in FACTS]},
                    {"type": "TextBlock", "text": NOTICE.message, "wrap": True},
                    {"type": "TextBlock", "text": "Changes", "weight": "Bolder", "wrap": True},
                    {"type": "TextBlock", "text": CHANGE, "wrap": True, "spacing": "None"},
                    {"type": "TextBlock", "text": "… and 1 more", "wrap": True,
                     "spacing": "None"},
                ],
                "actions": [{"type": "Action.OpenUrl", "title": "Open the run",
                             "url": NOTICE.link}],
            },
        }],
    }  # fmt: skip


def test_generic_webhook_gets_the_documented_json_with_its_headers() -> None:
    """The generic webhook's JSON carries event, playbook, instance, run_id, counts, and the
    configured headers are sent."""
    with receiver() as rx:
        Notifier(settings(rx), background=False).send(NOTICE, ["audit"])
        [got] = rx.requests
    assert got.headers["Authorization"] == "Bearer hook-secret-42"
    body = got.body
    assert {k: body[k] for k in ("event", "playbook", "instance", "run_id", "counts")} == {
        "event": "awaiting_approval", "playbook": "close-spam", "instance": "prod",
        "run_id": NOTICE.run_id, "counts": NOTICE.counts,
    }  # fmt: skip
    assert body["format"] == "halo-automate/notification" and body["version"] == 1
    assert body["per_client"] == {"Contoso": 2} and body["more_changes"] == 1
    assert body["changes"] == [{
        "ticket_id": 7, "client": "Contoso", "summary": "Out of office: <Bob>",
        "fields": {"status_id": {"before": "1", "after": "9"}}, "actions": ["close"],
    }]  # fmt: skip
    assert (body["link"], body["command"]) == (NOTICE.link, NOTICE.command)


def test_5xx_and_429_are_retried_with_back_off_then_sent() -> None:
    """A 500 and a 429 (Retry-After: 2) are tried again; the third try lands; counted sent."""
    slept, sleep = sleeps()
    with receiver() as rx:
        rx.script = [(500, None), (429, "2")]
        notifier = Notifier(settings(rx), background=False, sleep=sleep)
        notifier.send(NOTICE, ["audit"])
        assert len(rx.requests) == 3
    assert slept == [0.5, 2.0]
    assert notifier.results == {("audit", "sent"): 1}


def test_a_failed_channel_is_logged_and_counted_never_fatal_and_others_still_get_it() -> None:
    """A 400 is final (no retry), a 503 gives up after the retries; both are logged without
    the URL and counted; the next channel still gets the message; send() never raises."""
    _, sleep = sleeps()
    with receiver() as rx, capture_logs() as logs:
        rx.script = [(400, None), (503, None), (503, None), (503, None)]
        notifier = Notifier(settings(rx, retries=2), background=False, sleep=sleep)
        notifier.send(NOTICE, ["audit", "desk-slack", "desk-teams", "nowhere"])
        paths = [r.path.split("?")[0].split("/")[1] for r in rx.requests]
    assert paths == ["hook", "slack", "slack", "slack", "teams"]
    failed = [e for e in logs if e["event"] == "notification_failed"]
    assert [(e["channel"], e["reason"]) for e in failed] == [
        ("audit", "HTTP 400"), ("desk-slack", "HTTP 503 after 3 tries"),
        ("nowhere", "no such channel in notify.channels"),
    ]  # fmt: skip
    assert TOKEN not in repr(logs) and rx.base_url not in repr(logs)
    assert notifier.results == {
        ("audit", "failed"): 1, ("desk-slack", "failed"): 1, ("desk-teams", "sent"): 1,
        ("nowhere", "failed"): 1,
    }  # fmt: skip
    metrics = notifier.prometheus()
    assert 'halo_automate_notifications_total{channel="desk-slack",result="failed"} 1' in metrics


def test_a_receiver_that_does_not_answer_times_out() -> None:
    """A receiver holding the request past ``timeout_seconds`` fails the try (reason
    timeout); with no retries left the notice is given up, not waited for."""
    with receiver() as rx, capture_logs() as logs:
        rx.hold = threading.Event()
        notifier = Notifier(
            settings(rx, timeout_seconds=0.2, retries=0), background=False, sleep=lambda s: None
        )
        notifier.send(NOTICE, ["audit"])
        rx.hold.set()
    [failed] = [e for e in logs if e["event"] == "notification_failed"]
    assert failed["reason"] == "timeout after 1 tries"


def test_no_secret_reaches_any_message() -> None:
    """Secrets quoted by a run's message (a Halo client secret, a webhook URL, a header
    value) are redacted from every channel's payload."""
    leaky = "error talking to https://x/?secret=halo-client-secret-9 and " + TOKEN
    notice = Notice(**{**NOTICE.__dict__, "message": leaky + " Bearer hook-secret-42"})
    with receiver() as rx:
        secrets = ["halo-client-secret-9", f"{rx.base_url}/slack/{TOKEN}", TOKEN,
                   "Bearer hook-secret-42"]  # fmt: skip
        notifier = Notifier(settings(rx), secrets=secrets, background=False)
        notifier.send(notice, ["desk-slack", "desk-teams", "audit"])
        raws = [r.raw for r in rx.requests]
    assert len(raws) == 3
    for raw in raws:
        assert REDACTED in raw
        for secret in ("halo-client-secret-9", TOKEN, "hook-secret-42"):
            assert secret not in raw


def test_background_sending_never_blocks_and_flush_waits_for_it() -> None:
    """The daemon's notifier queues: send() returns at once; flush() waits for the tries."""
    with receiver() as rx:
        rx.hold = threading.Event()
        notifier = Notifier(settings(rx), background=True)
        notifier.send(NOTICE, ["audit"])  # returns although the receiver holds the request
        assert not notifier.flush(timeout=0.05)
        rx.hold.set()
        assert notifier.flush(timeout=10)
        notifier.close()
    assert notifier.results == {("audit", "sent"): 1}


class FakeSMTP:
    sent: ClassVar[list[EmailMessage]] = []
    calls: ClassVar[list[str]] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.calls.append(f"connect {host}:{port} timeout={timeout}")

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def starttls(self) -> None:
        self.calls.append("starttls")

    def login(self, user: str, password: str) -> None:
        self.calls.append(f"login {user}")

    def send_message(self, message: EmailMessage) -> None:
        self.sent.append(message)


def test_email_is_sent_with_starttls_and_login_and_a_plain_text_body() -> None:
    """SMTP: STARTTLS, login, a subject naming the playbook, the message as plain text."""
    channel = EmailChannel.model_validate({
        "type": "email", "host": "smtp.example", "from": "halo@example.com",
        "to": ["desk@example.com"], "username": "halo", "password": "smtp-pass-77",
    })  # fmt: skip
    notifier = Notifier(
        NotifySettings(channels={"mail": channel}),
        secrets=["smtp-pass-77"], background=False, smtp=FakeSMTP,  # type: ignore[arg-type]
    )  # fmt: skip
    notifier.send(NOTICE, ["mail"])
    [message] = FakeSMTP.sent
    assert FakeSMTP.calls == ["connect smtp.example:587 timeout=5", "starttls", "login halo"]
    assert message["Subject"] == "[halo-automate] close-spam waits for approval (prod): 2 tickets"
    assert message["To"] == "desk@example.com"
    body = message.get_content()
    assert "Next: halo-automate approve 20260105T090000-abc123" in body and CHANGE in body
    assert f"Open the run: {NOTICE.link}" in body and "smtp-pass-77" not in body


@pytest.mark.parametrize("url", ["ftp://x", "hooks.slack.com/services/x"])
def test_a_channel_url_must_be_http_and_the_error_never_repeats_it(url: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as raised:
        SlackChannel(type="slack", url=SecretStr(url))
    assert url not in str(raised.value)
