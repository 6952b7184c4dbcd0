"""The webhook listener: accepts Halo's outbound webhooks and hands on the ticket ids in them.

Halo signs nothing it sends (FACTS §9.9), so a delivery is accepted only when it passes, in
order (each refusal a bare status, nothing about the reason beyond it):

1. **the path**: exactly ``webhooks.path`` (make it unguessable); anything else is 404, so a
   scanner learns nothing, not even that credentials are wanted;
2. **the method**: POST (405 otherwise);
3. **Basic credentials**: ``webhooks.username`` and ``webhooks.password``, each compared in
   constant time (:func:`hmac.compare_digest` on the bytes); missing or wrong is 401;
4. **the size**: a ``Content-Length`` is required (411) and at most ``webhooks.max_body_bytes``
   (413, the body is not read);
5. **JSON**: a body that is not JSON is 400.

The payload is never trusted: only the ticket ids are taken from it (:func:`ticket_ids`) and
the tickets are re-read from Halo before anything is planned. The listener stays on loopback
unless ``webhooks.allow_remote`` (then put a TLS-terminating reverse proxy in front of it:
Basic credentials over plain HTTP are readable by anyone on the path). An accepted delivery is
answered 202 at once; the runs happen later, on the daemon's one worker
(:mod:`halo_automate.service.webhook_runs`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

from halo_automate.config.webhooks import WebhookSettings
from halo_automate.core.addresses import is_loopback, split_host_port
from halo_automate.errors import ConfigError

log = structlog.get_logger("halo_automate.service.webhooks")

Accept = Callable[[list[int]], None]
"""What the listener does with the ticket ids of an accepted delivery."""


def ticket_ids(payload: Any) -> list[int]:
    """The ticket ids in a webhook payload: ``{"ticket": {...}}``, a bare ticket object
    (its ``id``), or a list of either. Nothing else in the payload is read or trusted."""
    items = payload if isinstance(payload, list) else [payload]
    found: list[int] = []
    for item in items[:10_000]:
        if not isinstance(item, dict):
            continue
        ticket = item.get("ticket", item)
        ident = ticket.get("id") if isinstance(ticket, dict) else None
        if isinstance(ident, int) and not isinstance(ident, bool) and 0 < ident < 2**31:
            found.append(ident)
    return list(dict.fromkeys(found))


def parse_listen(text: str, *, allow_remote: bool) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) -> (host, port); a host that is not loopback
    is refused unless ``allow_remote``."""
    try:
        host, port = split_host_port(text, "127.0.0.1:8781")
    except ValueError as e:
        raise ConfigError(f"webhooks.listen: {e}") from None
    if not allow_remote and not is_loopback(host):
        raise ConfigError(
            f"webhooks.listen: {host} is not a loopback address; put a TLS reverse proxy in "
            "front of the listener and keep it on 127.0.0.1, or set webhooks.allow_remote: true"
        )
    return host, port


def serve_webhooks(settings: WebhookSettings, accept: Accept) -> WebhookServer:
    """Listen on ``settings.listen`` from a background thread; stop with ``close()``."""
    host, port = parse_listen(settings.listen, allow_remote=settings.allow_remote)
    try:
        server = WebhookServer(host, port, settings, accept)
    except OSError as e:
        raise ConfigError(
            f"webhooks.listen: cannot listen on {settings.listen}: {e.strerror}"
        ) from None
    threading.Thread(target=server.serve_forever, daemon=True, name="webhooks").start()
    log.info("webhooks_listening", address=server.address)
    return server


class WebhookServer(ThreadingHTTPServer):
    """Accepts POSTs to one path with Basic credentials (see the module docstring)."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, host: str, port: int, settings: WebhookSettings, accept: Accept) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.settings = settings
        self.accept = accept
        self._user = settings.username.encode()
        self._password = settings.password.get_secret_value().encode()
        super().__init__((host, port), _WebhookHandler)

    @property
    def address(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}{self.settings.path}"

    def authorised(self, header: str | None) -> bool:
        """Basic ``header`` names the configured user and password (constant time)."""
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        same_user = hmac.compare_digest(user, self._user)
        same_password = hmac.compare_digest(password, self._password)
        return bool(sep) and same_user & same_password

    def close(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()


class _WebhookHandler(BaseHTTPRequestHandler):
    server: WebhookServer
    server_version = "halo-automate"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle's algorithm holds the
        # body for the client's delayed ACK (~40 ms a delivery on a kept-alive connection)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        if not self._on_path():
            return
        if not self.server.authorised(self.headers.get("Authorization")):
            self._send(401, b"", ("WWW-Authenticate", 'Basic realm="halo-automate"'))
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            self._send(411, b"")
            return
        if int(length) > self.server.settings.max_body_bytes:
            log.warning("webhook_refused", reason="body too large", bytes=int(length))
            self._send(413, b"")
            return
        body = self.rfile.read(int(length))
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            log.warning("webhook_refused", reason="body is not JSON", bytes=len(body))
            self._send(400, b"")
            return
        ids = ticket_ids(payload)
        log.info("webhook_received", tickets=len(ids))
        if ids:
            self.server.accept(ids)
        self._send(202, json.dumps({"tickets": len(ids)}).encode(), json_body=True)

    def _on_path(self) -> bool:
        if self.path.split("?", 1)[0] != self.server.settings.path:
            self._send(404, b"")
            return False
        return True

    def _refuse(self) -> None:
        if self._on_path():
            self._send(405, b"", ("Allow", "POST"))

    do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse

    def _send(
        self, code: int, body: bytes, *headers: tuple[str, str], json_body: bool = False
    ) -> None:
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        if json_body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if code >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # never the request line: it holds the path, which is half the secret
        log.debug("webhook_request", method=self.command, status=code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("webhook_listener", message="request could not be parsed")
