"""The health endpoint: a read-only HTTP server for ``/healthz`` (JSON) and ``/metrics``.

Optional (``daemon.health``, ``host:port``). It has no authentication, so it listens on
loopback unless ``daemon.health_allow_remote`` says otherwise, and it only answers GET and
HEAD (any other method is 405). It knows nothing of the daemon: it is handed two functions,
one returning (alive, the /healthz document) and one the Prometheus text, and calls them per
request from its own threads (the daemon's state behind them is locked). ``/healthz`` answers
503 once the service is stopping, so a supervisor or load balancer sees it go, and while a run
is stuck past ``halo.run_deadline_seconds`` (:func:`overdue`; status ``stuck``).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

from halo_automate.core.addresses import is_loopback, split_host_port
from halo_automate.errors import ConfigError

log = structlog.get_logger("halo_automate.service.health")


def parse_health_address(text: str, *, allow_remote: bool = False) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6; empty host = 127.0.0.1) -> (host, port).

    The endpoint has no authentication, so a host that is not loopback is refused unless
    ``allow_remote``.
    """
    try:
        host, port = split_host_port(text, "127.0.0.1:9187")
    except ValueError as e:
        raise ConfigError(f"daemon.health: {e}") from None
    if not allow_remote and not is_loopback(host):
        raise ConfigError(
            f"daemon.health: {host} is not a loopback address and the endpoint has no "
            "authentication; use 127.0.0.1, or set daemon.health_allow_remote: true"
        )
    return host, port


def overdue(running: Mapping[str, datetime], now: datetime, deadline_seconds: float) -> list[str]:
    """The playbooks whose run started more than ``deadline_seconds`` (the run deadline) ago:
    a run the deadline should have ended is stuck, and ``/healthz`` says so with a 503."""
    return sorted(
        name for name, since in running.items() if (now - since).total_seconds() > deadline_seconds
    )


def serve_health(
    address: str,
    allow_remote: bool,
    health: Callable[[], tuple[bool, dict[str, Any]]],
    metrics: Callable[[], str],
) -> HealthServer:
    """Listen on ``address`` and answer from a background thread; stop with ``close()``."""
    host, port = parse_health_address(address, allow_remote=allow_remote)
    try:
        server = HealthServer(host, port, health, metrics)
    except OSError as e:
        raise ConfigError(f"daemon.health: cannot listen on {address}: {e.strerror}") from None
    threading.Thread(target=server.serve_forever, daemon=True, name="health").start()
    log.info("health_listening", address=server.address)
    return server


class HealthServer(ThreadingHTTPServer):
    """A read-only HTTP endpoint: GET/HEAD ``/healthz`` and ``/metrics``; other methods 405."""

    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        metrics: Callable[[], str],
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.health = health
        self.metrics = metrics
        super().__init__((host, port), _HealthHandler)

    @property
    def address(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failed request is a log event, never socketserver's raw traceback on stderr: a
        client that hung up (a probe's timeout) at debug, anything else as an error."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("health_client_gone", client=str(client_address[0]), error=str(error))
            return
        log.error("health_request_failed", client=str(client_address[0]), error=repr(error))

    def close(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()


class _HealthHandler(BaseHTTPRequestHandler):
    server: HealthServer
    server_version = "halo-automate"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        route = self.path.split("?", 1)[0]
        if route == "/healthz":
            alive, body = self.server.health()
            self._send(
                200 if alive else 503,
                "application/json",
                json.dumps(body, indent=1).encode(),
                send_body,
            )
        elif route == "/metrics":
            text = self.server.metrics().encode()
            self._send(200, "text/plain; version=0.0.4; charset=utf-8", text, send_body)
        else:
            self._send(
                404,
                "text/plain; charset=utf-8",
                b"not found: try /healthz or /metrics\n",
                send_body,
            )

    def _refuse(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def _send(self, code: int, ctype: str, body: bytes, send_body: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health_request", request=format % args)
