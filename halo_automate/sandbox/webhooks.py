"""The sandbox's outbound webhooks, delivered the way Halo does (FACTS §9.9).

When a URL is configured (``SandboxOptions.webhook_url``, ``--webhook URL``, or
:meth:`~halo_automate.sandbox.hooks.SandboxHooks.deliver_webhooks` at run time), every ticket
created (Halo's "New Ticket Logged") or updated ("Ticket Updated": a ticket POST, an action
that changed it, a test's ``edit_ticket``) is POSTed there as JSON carrying the ticket object,
``{"event": "...", "ticket": {...}}``, with Basic credentials when given, one request per
event, from one background thread in event order (as a Halo webhook queue). Nothing is
retried; :attr:`WebhookDelivery.statuses` keeps each answer's status for tests, and
:attr:`WebhookDelivery.sent_at` when each event was sent (the arrival-to-action benchmark).
"""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
from typing import Any

import httpx

CREATED = "New Ticket Logged"
UPDATED = "Ticket Updated"


class WebhookDelivery:
    """One target URL and its delivery thread (stop with :meth:`close`)."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s)://..., not {url!r}")
        self.url = url
        self._http = httpx.Client(timeout=10.0)
        self._auth = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._auth = f"Basic {token}"
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self.statuses: list[int] = []
        self.sent_at: dict[int, float] = {}  # ticket id -> when its last event was sent
        self.delivered = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sandbox-webhooks")
        self._thread.start()

    def event(self, event: str, ticket: dict[str, Any]) -> None:
        """Queue one event with a copy of the ticket as it is now."""
        self._queue.put((event, json.loads(json.dumps(ticket))))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._http.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event, ticket = item
            status = self._post({"event": event, "ticket": ticket})
            with self.delivered:
                self.statuses.append(status)
                if isinstance(ticket.get("id"), int):
                    self.sent_at[ticket["id"]] = time.monotonic()
                self.delivered.notify_all()

    def _post(self, payload: dict[str, Any]) -> int:
        headers = {"Content-Type": "application/json", "User-Agent": "HaloPSA-Webhook"}
        if self._auth is not None:
            headers["Authorization"] = self._auth
        try:
            return self._http.post(
                self.url, content=json.dumps(payload), headers=headers
            ).status_code
        except httpx.HTTPError:
            return 0  # unreachable: Halo logs the failure and moves on

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Until ``count`` events were delivered (answered or failed); False on timeout."""
        with self.delivered:
            return self.delivered.wait_for(lambda: len(self.statuses) >= count, timeout)
