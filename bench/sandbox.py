"""The sandbox Halo in its own process, over real HTTP on loopback.

Started as ``python -m halo_automate.sandbox --port 0 ...`` (the ``sandbox`` command without the
rest of the CLI; it binds a free port and prints the base URL it got); stopped with SIGTERM.
Each measured job gets a fresh sandbox, so every job sees the same seeded data, an empty
rate-limit window and zeroed counters.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

_URL = re.compile(r"^Sandbox Halo on (\S+) \((\d+) tickets\)")
_CLIENT_ID = re.compile(r"^\s*client_id:\s+(\S+)")
_CLIENT_SECRET = re.compile(r"^\s*client_secret:\s+(\S+)")


class SandboxStartError(RuntimeError):
    pass


def sandbox_args(tickets: int, seed: int, limit: int, window: float, latency: float) -> list[str]:
    """The command line of one sandbox (rate ``limit`` per ``window`` s; 0 = off)."""
    return [
        sys.executable, "-m", "halo_automate.sandbox",
        "--port", "0",
        "--tickets", str(tickets),
        "--seed", str(seed),
        "--rate-limit", f"{limit}/{window:g}s" if limit > 0 else "0",
        "--latency", f"{latency * 1000:g}ms",
    ]  # fmt: skip


class SandboxProcess:
    """``with SandboxProcess(args, log) as sb:`` -- started, ready, stopped afterwards."""

    def __init__(self, args: list[str], log_path: Path, *, start_timeout: float = 120.0) -> None:
        self.args = args
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.client_id = ""
        self.client_secret = ""
        self.tickets = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        deadline = time.monotonic() + self.start_timeout
        while not self._ready():
            if self.proc.poll() is not None:
                raise SandboxStartError(
                    f"the sandbox exited ({self.proc.returncode}); see {self.log_path}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise SandboxStartError(f"the sandbox did not start; see {self.log_path}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            for pattern, attr in ((_CLIENT_ID, "client_id"), (_CLIENT_SECRET, "client_secret")):
                found = pattern.match(line)
                if found:
                    setattr(self, attr, found.group(1))
            url = _URL.match(line)
            if url:
                self.base_url, self.tickets = url.group(1), int(url.group(2))
        return bool(self.base_url and self.client_id and self.client_secret)

    def counters(self) -> dict[str, Any]:
        """The sandbox's own request counters (``/_sandbox`` routes are not counted)."""
        resp = httpx.get(f"{self.base_url}/_sandbox/counters", timeout=30)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
