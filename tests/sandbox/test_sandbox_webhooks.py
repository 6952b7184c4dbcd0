"""The sandbox delivers webhooks the way Halo does: one JSON POST per ticket created or
updated, carrying the ticket object, with Basic credentials."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from halo_automate.config import HaloSettings
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox.server import SandboxServer

Factory = Callable[..., SandboxServer]


class Receiver(ThreadingHTTPServer):
    """Records each POST (its Authorization header and JSON body); answers 202."""

    def __init__(self) -> None:
        self.got: list[tuple[str | None, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append((self.headers.get("Authorization"), json.loads(body)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/x"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_creates_and_updates_are_delivered_with_the_ticket_and_basic_credentials(
    sandbox_factory: Factory, receiver: Receiver
) -> None:
    """A ticket created through the API is "New Ticket Logged", an action on it and a ticket
    POST are "Ticket Updated", an edit behind the API too; each carries the ticket as it is
    now and the configured Basic credentials, in order, and gets Halo's answer recorded."""
    sb = sandbox_factory()
    delivery = sb.deliver_webhooks(receiver.url, "halo", "pw-for-the-hook")
    assert delivery is not None
    client = HaloClient(
        HaloSettings(base_url=sb.base_url, client_id=sb.client_id,
                     client_secret=SecretStr(sb.client_secret))
    )  # fmt: skip
    with client:
        made = client.write_tickets([{"summary": "Hello", "user_email": "a@b.example"}])[0]
        assert made.record is not None
        tid = int(made.record["id"])
        noted = client.write_actions([{"ticket_id": tid, "outcome": "Internal Note", "note": "hi"}])
        assert noted[0].ok, noted[0].error
        assert client.write_tickets([{"id": tid, "summary": "Hello again"}])[0].ok
    sb.edit_ticket(tid, summary="Edited in Halo")
    assert delivery.wait_for(4)
    assert delivery.statuses == [202, 202, 202, 202]
    expected = "Basic " + base64.b64encode(b"halo:pw-for-the-hook").decode()
    assert {auth for auth, _ in receiver.got} == {expected}
    events = [
        (body["event"], body["ticket"]["id"], body["ticket"]["summary"]) for _, body in receiver.got
    ]
    assert events == [
        ("New Ticket Logged", tid, "Hello"),
        ("Ticket Updated", tid, "Hello"),
        ("Ticket Updated", tid, "Hello again"),
        ("Ticket Updated", tid, "Edited in Halo"),
    ]


def test_no_url_no_deliveries(sandbox_factory: Factory, receiver: Receiver) -> None:
    """Without a URL (the default), or after delivering is switched off, nothing is sent."""
    sb = sandbox_factory()
    assert sb.webhooks is None
    sb.deliver_webhooks(receiver.url)
    sb.deliver_webhooks(None)
    sb.insert_ticket(1, summary="quiet")
    assert sb.webhooks is None and receiver.got == []
