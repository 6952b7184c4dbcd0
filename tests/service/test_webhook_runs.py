"""Webhook runs end to end: the daemon (real Runner, journal, listener) against the sandbox Halo,
which delivers ticket events the way Halo does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from halo_automate.config import DaemonSettings, HaloSettings, RateLimit, Settings
from halo_automate.config.webhooks import WebhookSettings
from halo_automate.engine.runner import Runner
from halo_automate.errors import ConfigError
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.server import SandboxServer
from halo_automate.service.daemon import Daemon
from halo_automate.service.webhooks import parse_listen
from halo_automate.store.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "halo", "a-long-webhook-password"
PATH = "/hooks/halo-3f9c2d7e"
WAIT = 20.0
Factory = Callable[..., SandboxServer]


def spam_playbook(triggers: str = "[webhook]") -> str:
    """close-spam.yaml with webhook triggers and no schedule."""
    text = (ROOT / "playbooks" / "close-spam.yaml").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.startswith(("schedule:", "triggers:"))]
    return "\n".join([f"triggers: {triggers}", *lines]) + "\n"


def until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll ``condition`` (10 ms) until it holds; False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@dataclass
class Service:
    sb: SandboxServer
    daemon: Daemon
    journal: Journal
    thread: threading.Thread

    @property
    def url(self) -> str:
        assert (
            self.daemon.beside.webhooks is not None
            and self.daemon.beside.webhooks.address is not None
        )
        return f"http://{self.daemon.beside.webhooks.address}{PATH}"

    def webhook_runs(self) -> list[Any]:
        return [r for r in self.journal.runs(limit=1000) if r.trigger == "webhook"]

    def new_spam(self, **fields: Any) -> int:
        """A spam ticket arrives (as mail would create it): a copy of an open, unassigned
        ticket from a newsletter sender."""
        with self.sb.locked_state() as state:
            like = next(
                t["id"]
                for t in state.tickets.values()
                if not t["deleted"] and not t["agent_id"] and t["status_id"] != ref.CLOSED_STATUS
            )
        return self.sb.insert_ticket(
            like, summary="Weekly deals inside", user_email="deals@news.example", **fields
        )

    def status(self, ticket_id: int) -> int:
        with self.sb.locked_state() as state:
            return int(state.tickets[ticket_id]["status_id"])


HTTP = httpx.Client(timeout=10)  # one client: a new one per request builds an SSL context


def post(url: str, body: bytes, *, auth: tuple[str, str] | None = (USER, PASSWORD)) -> int:
    """POST ``body`` as Halo would (JSON, Basic credentials); the status code."""
    headers = {"Content-Type": "application/json"}
    return HTTP.post(url, content=body, headers=headers, auth=auth).status_code


def build(sb: SandboxServer, tmp_path: Path, listen: str = "127.0.0.1:0", **options: Any) -> Daemon:
    folder = tmp_path / "playbooks"
    folder.mkdir(parents=True)
    (folder / "close-spam.yaml").write_text(spam_playbook(), encoding="utf-8")
    halo = HaloSettings(
        base_url=sb.base_url, client_id=sb.client_id, client_secret=SecretStr(sb.client_secret),
        rate_limit=RateLimit(requests=100_000, per_seconds=1),
    )  # fmt: skip
    settings = Settings(
        halo=halo, playbooks_dir=folder, journal=tmp_path / "journal.db",
        daemon=DaemonSettings(watch_playbooks=False),
        webhooks=WebhookSettings(listen=listen, path=PATH, username=USER,
                                 password=SecretStr(PASSWORD), max_body_bytes=4096, **options),
    )  # fmt: skip
    runner = Runner(HaloClient(settings.halo), Journal.open(settings.journal))
    return Daemon(settings, runner, install_signals=False, poll_seconds=0.05)


@pytest.fixture
def service(sandbox_factory: Factory, tmp_path: Path) -> Iterator[Service]:
    sb = sandbox_factory(latency=0.02)
    daemon = build(sb, tmp_path)
    runner = daemon.served.runner(daemon.served.default_instance)
    client, journal = runner.client, runner.journal
    thread = threading.Thread(target=daemon.serve, daemon=True)
    thread.start()
    assert until(lambda: daemon.beside.webhooks is not None and daemon.alive)
    svc = Service(sb, daemon, journal, thread)
    sb.deliver_webhooks(svc.url, USER, PASSWORD)
    try:
        yield svc
    finally:
        sb.deliver_webhooks(None)
        daemon.request_stop()
        thread.join(WAIT)
        client.close()
        journal.close()


def test_a_spam_ticket_is_closed_seconds_after_it_arrives(service: Service) -> None:
    """The sandbox delivers "New Ticket Logged" for a new spam ticket; the daemon re-reads it
    and close-spam closes it, journaled as a webhook run; the delivery was accepted (202)."""
    started = time.monotonic()
    ticket = service.new_spam()
    assert until(lambda: service.status(ticket) == ref.CLOSED_STATUS), "never closed"
    assert time.monotonic() - started < 10
    assert until(
        lambda: any(r.counts.done == 1 and r.status == "succeeded" for r in service.webhook_runs())
    )
    assert service.sb.webhooks is not None and 202 in service.sb.webhooks.statuses


def test_a_burst_of_500_deliveries_is_coalesced_into_one_run_of_a_few_requests(
    service: Service,
) -> None:
    """500 deliveries about 20 tickets (each several times, in all three payload shapes),
    while the worker is busy, become one run: one re-read of the 20 tickets, one stale check,
    one batch of closes for the 5 spam among them, each closed once."""
    warm = service.new_spam()  # token and lookups fetched: the burst pays for itself only
    assert until(lambda: service.status(warm) == ref.CLOSED_STATUS)
    delivery = service.sb.webhooks
    assert delivery is not None and delivery.wait_for(2)  # created, then updated by the close
    assert until(lambda: len(service.webhook_runs()) == 2 and service.daemon.in_flight() == {})
    service.sb.deliver_webhooks(None)  # this test delivers by hand
    spam = [service.new_spam() for _ in range(5)]
    with service.sb.locked_state() as state:
        seeded = state.planted["spam"] | state.planted["lookalike"]
        others = [t for t in sorted(state.tickets) if t not in spam and t not in seeded][:15]
    ids = spam + others
    busy = threading.Event()
    service.daemon.scheduler.add_job(busy.wait)  # occupies the one worker
    service.sb.reset_counters()
    runs_before = len(service.webhook_runs())
    shapes: list[Callable[[int], Any]] = [
        lambda i: {"ticket": {"id": i, "summary": "ignored"}},
        lambda i: {"id": i, "status_id": 9},
        lambda i: [{"id": i}, {"ticket": {"id": i}}],
    ]
    codes = [post(service.url, json.dumps(shapes[n % 3](ids[n % 20])).encode()) for n in range(500)]
    assert set(codes) == {202}
    webhooks = service.daemon.beside.webhooks
    assert webhooks is not None
    assert until(lambda: webhooks.coalescer.pending == 0)
    busy.set()
    assert until(lambda: all(service.status(t) == ref.CLOSED_STATUS for t in spam))
    assert until(lambda: len(service.webhook_runs()) > runs_before)
    assert until(lambda: service.daemon.in_flight() == {})
    runs = service.webhook_runs()[: len(service.webhook_runs()) - runs_before]
    assert len(runs) == 1 and runs[0].counts.done == 5 and runs[0].counts.scanned == 20
    requests = service.sb.counters["requests"]
    print(f"burst of 500 deliveries (20 tickets, 5 spam): {requests} requests")
    assert requests <= 6, service.sb.counters["requests_by_endpoint"]
    assert service.sb.counters["actions_written"] == 5


def test_a_repeated_delivery_is_harmless(service: Service) -> None:
    """Halo delivering the same event again (a retry): the ticket is re-read, no longer
    matches, nothing is written and its close note is there once."""
    ticket = service.new_spam()
    assert until(lambda: service.status(ticket) == ref.CLOSED_STATUS)
    assert until(lambda: service.daemon.in_flight() == {})
    service.sb.deliver_webhooks(None)
    written = service.sb.counters["writes_applied"]
    runs = len(service.webhook_runs())
    for _ in range(3):
        assert post(service.url, json.dumps({"ticket": {"id": ticket}}).encode()) == 202
    assert until(lambda: len(service.webhook_runs()) > runs)
    assert until(lambda: service.daemon.in_flight() == {})
    assert service.sb.counters["writes_applied"] == written
    with service.sb.locked_state() as state:
        notes = [a for a in state.actions[ticket] if "halo-automate run" in str(a["note"])]
    assert len(notes) == 1


def test_deliveries_without_credentials_on_another_path_or_too_large_are_refused(
    service: Service,
) -> None:
    """401 without or with wrong credentials, 404 on any other path (credentials or not),
    405 for GET, 413 over the body cap, 400 for a body that is not JSON; none starts a run."""
    service.sb.deliver_webhooks(None)
    runs = len(service.webhook_runs())
    body = json.dumps({"ticket": {"id": 1}}).encode()
    other = service.url.replace(PATH, "/hooks/halo")
    assert post(service.url, body, auth=None) == 401
    assert post(service.url, body, auth=(USER, "wrong-password-here")) == 401
    assert post(service.url, body, auth=("admin", PASSWORD)) == 401
    assert post(other, body) == 404
    assert post(other, body, auth=None) == 404
    assert post(service.url, b"x" * 5000) == 413
    assert post(service.url, b"not json") == 400
    assert HTTP.get(service.url, auth=(USER, PASSWORD)).status_code == 405
    webhooks = service.daemon.beside.webhooks
    assert webhooks is not None and webhooks.coalescer.deliveries == 0
    assert len(service.webhook_runs()) == runs


def test_a_non_loopback_listener_is_refused_unless_allow_remote(
    sandbox_factory: Factory, tmp_path: Path
) -> None:
    """webhooks.listen on 0.0.0.0 fails the daemon's start with a ConfigError naming the key
    (nothing listens); with allow_remote: true it listens there."""
    sb = sandbox_factory()
    refused = build(sb, tmp_path / "a", listen="0.0.0.0:0")
    with pytest.raises(ConfigError, match=r"webhooks\.listen: 0\.0\.0\.0 is not a loopback"):
        refused.serve()
    assert refused.beside.webhooks is None
    allowed = build(sb, tmp_path / "b", listen="0.0.0.0:0", allow_remote=True)
    thread = threading.Thread(target=allowed.serve, daemon=True)
    thread.start()
    try:
        assert until(lambda: allowed.beside.webhooks is not None and allowed.alive)
        assert allowed.beside.webhooks is not None
        assert str(allowed.beside.webhooks.address).startswith("0.0.0.0:")
    finally:
        allowed.request_stop()
        thread.join(WAIT)
    with pytest.raises(ConfigError, match=r"webhooks\.listen: 0\.0\.0\.0 is not a loopback"):
        parse_listen("0.0.0.0:8781", allow_remote=False)
    assert parse_listen("0.0.0.0:8781", allow_remote=True) == ("0.0.0.0", 8781)  # noqa: S104
    assert parse_listen("[::1]:8781", allow_remote=False) == ("::1", 8781)
