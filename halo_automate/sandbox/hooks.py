"""The public hooks tests use to change the sandbox behind the API or watch its traffic.

Real Halo changes while a playbook runs: agents edit tickets, mail creates new ones, other
integrations post. These methods let a test do the same (``edit_ticket``, ``insert_ticket``,
``before_list``), hold or watch requests (``hold_writes``, ``add_request_hook``,
``on_token_issued``) and read a consistent snapshot (``locked_state``) without reaching into
the server's private state. :class:`~halo_automate.sandbox.server.SandboxServer` mixes them in.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any

from halo_automate.sandbox.api import detail
from halo_automate.sandbox.hold import Hold
from halo_automate.sandbox.replies import Reply
from halo_automate.sandbox.state import SandboxState
from halo_automate.sandbox.webhooks import CREATED, UPDATED, WebhookDelivery

Handle = Callable[[str, str, Message, bytes], Reply]
"""Answers one request: ``handle(method, target, headers, body) -> Reply``."""
RequestHook = Callable[[str, str, Message, bytes, Handle], Reply]
"""``hook(method, target, headers, body, proceed)``: see :meth:`SandboxHooks.add_request_hook`."""


class SandboxHooks:
    """Hooks for tests; the server sets the attributes below in its constructor."""

    state: SandboxState
    _lock: threading.RLock
    _meta_lock: threading.Lock
    _list_hook: Callable[[dict[str, str]], None] | None
    _token_listeners: list[Callable[[str], None]]
    _hold: Hold | None
    _entry: Handle
    webhooks: WebhookDelivery | None

    @contextlib.contextmanager
    def locked_state(self) -> Iterator[SandboxState]:
        """``with sb.locked_state() as state:`` -- the state under the lock every request
        takes, for a test that reads several tickets and actions as one consistent snapshot
        while requests are being served."""
        with self._lock:
            yield self.state

    def edit_ticket(self, ticket_id: int, **fields: Any) -> None:
        """Change a stored ticket's fields behind the API's back, as an agent working in
        Halo meanwhile would (no action, no counters); lists see the edit at once."""
        with self._lock:
            self.state.tickets[ticket_id].update(fields)
            self.state.version += 1
        self._ticket_events([(UPDATED, ticket_id)])

    def insert_ticket(self, like: int, **fields: Any) -> int:
        """Create a ticket behind the API's back (a copy of ticket ``like`` with ``fields``),
        as mail or an agent would meanwhile; returns its id (the next, highest id)."""
        with self._lock:
            new_id = self.state.next_ticket_id
            self.state.tickets[new_id] = {**self.state.tickets[like], **fields, "id": new_id}
            self.state.version += 1
        self._ticket_events([(CREATED, new_id)])
        return new_id

    def deliver_webhooks(
        self, url: str | None, username: str | None = None, password: str | None = None
    ) -> WebhookDelivery | None:
        """From now on POST every ticket create/update to ``url`` the way Halo's webhooks do
        (:mod:`halo_automate.sandbox.webhooks`); None stops delivering."""
        previous, self.webhooks = self.webhooks, None
        if previous is not None:
            previous.close()
        if url is not None:
            self.webhooks = WebhookDelivery(url, username, password)
        return self.webhooks

    def _ticket_events(self, events: list[tuple[str, int]]) -> None:
        delivery = self.webhooks
        if delivery is None:
            return
        with self._lock:
            shown = [
                (e, detail(self.state.tickets[t], self.state))
                for e, t in events
                if t in self.state.tickets
            ]
        for event, ticket in shown:
            delivery.event(event, ticket)

    def before_list(self, hook: Callable[[dict[str, str]], None] | None) -> None:
        """Call ``hook(query)`` before answering each ``GET /api/Tickets`` list request (the
        query's last values, names lower-cased), under the state lock, so a test changes
        tickets between pages of a scan; None removes it."""
        self._list_hook = hook

    def on_token_issued(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(token)`` with every access token issued from now on (tests that
        check no token leaks into logs or the journal)."""
        with self._meta_lock:
            self._token_listeners.append(listener)

    def hold_writes(self, *, writes_only: bool = True) -> Hold:
        """From now on every ``/api`` write (every ``/api`` request with ``writes_only``
        False) waits, before it is applied, until the returned :class:`Hold` releases it.
        A new hold replaces the previous one (which is opened); ``stop()`` opens it too."""
        hold = Hold(writes_only=writes_only)
        previous, self._hold = self._hold, hold
        if previous is not None:
            previous.release()
        return hold

    def add_request_hook(self, hook: RequestHook) -> None:
        """Let ``hook(method, target, headers, body, proceed)`` answer every request from now
        on (in the connection's thread): it may record it, hold it, replace its reply, or pass
        it on with ``proceed(method, target, headers, body)``. The hook added last sees a
        request first. For tests: a write held until an event, every POST body recorded."""
        with self._meta_lock:
            inner = self._entry
            self._entry = lambda method, target, headers, body: hook(
                method, target, headers, body, inner
            )
