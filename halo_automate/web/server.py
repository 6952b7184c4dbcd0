"""Serving the console with uvicorn: alone (``halo-automate web``) or beside the daemon.

:func:`serve_console` listens on ``web.listen`` (loopback unless ``web.allow_remote``, checked
when the config loads) and returns a :class:`WebServer` running in a thread of its own; the
daemon starts one when its config has ``web:`` and closes it when it stops. The command
``halo-automate web`` does the same and waits for SIGTERM/SIGINT. Uvicorn's own signal
handlers are off (the process's owner handles signals), and its access log is off: the
console logs what matters itself (logins, refusals) through structlog.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog
import uvicorn

from halo_automate.config import Settings
from halo_automate.engine.runner import Runner
from halo_automate.errors import ConfigError
from halo_automate.store.journal import Journal
from halo_automate.web.app import make_app
from halo_automate.web.console import Console, Service
from halo_automate.web.jobs import Submit

log = structlog.get_logger("halo_automate.web.server")


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the owner of the process handles signals
        return None


class WebServer:
    """A console served from a background thread; :meth:`close` stops it."""

    def __init__(self, console: Console, sock: socket.socket) -> None:
        self.console = console
        self._sock = sock
        config = uvicorn.Config(
            make_app(console),
            log_level="warning",
            access_log=False,
            lifespan="off",
            proxy_headers=False,
        )
        self._server = _Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="web"
        )

    @property
    def address(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self, timeout: float = 10.0) -> WebServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"web: the console did not start on {self.address}")
            time.sleep(0.01)
        log.info("web_listening", url=self.url)
        return self

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        self.console.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ConfigError(f"web.listen: cannot listen on {host}:{port}: {e.strerror}") from None
    sock.set_inheritable(True)
    return sock


class ServedDaemon(Service, Protocol):
    """What :class:`DaemonConsole` uses of the daemon (``service.daemon.Daemon`` has it)."""

    settings: Settings
    scheduler: Any

    @property
    def runner(self) -> Runner: ...

    def approvals_job(self) -> None: ...


class DaemonConsole:
    """The console a daemon serves when its config has ``web:`` (else nothing): on the
    daemon's runner (its client and request budget) and its scheduler's one worker."""

    def __init__(self, daemon: ServedDaemon) -> None:
        self.daemon = daemon
        self.server: WebServer | None = None

    def start(self) -> None:
        daemon = self.daemon
        if daemon.settings.web is not None and self.server is None:
            self.server = serve_console(
                daemon.settings, daemon.runner.journal, daemon.runner,
                service=daemon, submit=scheduler_submit(daemon.scheduler),
                approvals_check=daemon.approvals_job,
            )  # fmt: skip

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


def scheduler_submit(scheduler: Any) -> Submit:
    """How the console hands work to the daemon's APScheduler scheduler: a one-off job on its
    one worker, after the runs ahead of it, however late (``misfire_grace_time=None``: a long
    scheduled run in front must not make the scheduler drop it as missed)."""
    return lambda work: scheduler.add_job(work, misfire_grace_time=None)


def serve_console(
    settings: Settings,
    journal: Journal,
    runner: Runner | None,
    *,
    service: Service | None = None,
    submit: Submit | None = None,
    halo_problem: str | None = None,
    approvals_check: Callable[[], object] | None = None,
) -> WebServer:
    """Start the console of ``settings.web`` in a background thread."""
    if settings.web is None:
        raise ConfigError("web: the config has no web: section")
    console = Console(
        settings, journal, runner, service=service, submit=submit, halo_problem=halo_problem,
        approvals_check=approvals_check,
    )  # fmt: skip
    sock = bind(settings.web.host, settings.web.port)
    return WebServer(console, sock).start()
