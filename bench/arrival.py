"""Arrival to action: a spam ticket created in the sandbox until the daemon has closed it.

The harness (:func:`bench.suite.measure_arrival`) starts a sandbox process that delivers
webhooks the way Halo does (``--webhook URL --webhook-auth USER:PASSWORD``) to a port chosen
beforehand, and a job process (``python -m bench.job arrival -``, :func:`run_arrival`) that
runs the real daemon (Runner, journal, webhook listener, one worker) with close-spam on
``triggers: [webhook]`` and no schedule. The job creates spam tickets through the API (as mail
would), one every 0.2-1.5 s (seeded; ``--quick`` shortens the gaps), and times each from just
before its create request until Halo's answer to the POST that closed it (the daemon's client
watches its own POSTs). The first arrival warms the daemon (token, lookups), not counted.
"""

from __future__ import annotations

import json
import random
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.scenarios import PLAYBOOKS

USER = "halo"


class CloseWatch(httpx.BaseTransport):
    """The daemon's transport: when Halo answered each ``POST /api/Actions`` (the closes)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.closed: dict[int, float] = {}
        self.changed = threading.Condition()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/api/Actions"):
            response.read()
            if response.status_code < 300:
                now = time.monotonic()
                items = json.loads(request.content)
                with self.changed:
                    for item in items:
                        self.closed.setdefault(int(item["ticket_id"]), now)
                    self.changed.notify_all()
        return response

    def close(self) -> None:
        self.inner.close()

    def wait(self, ticket: int, timeout: float) -> float | None:
        with self.changed:
            self.changed.wait_for(lambda: ticket in self.closed, timeout)
            return self.closed.get(ticket)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def run_arrival(spec: dict[str, Any]) -> dict[str, Any]:
    """The job: the daemon with webhooks, and spam arriving (see the module docstring)."""
    from halo_automate.config import DaemonSettings, HaloSettings, RateLimit, Settings
    from halo_automate.config.webhooks import WebhookSettings
    from halo_automate.engine.runner import Runner
    from halo_automate.halo.client import HaloClient
    from halo_automate.service.daemon import Daemon
    from halo_automate.store.journal import Journal

    work = Path(tempfile.mkdtemp(prefix="halo-bench-arrival-", dir=spec.get("workdir")))
    (work / "playbooks").mkdir()
    text = (PLAYBOOKS / "close-spam.yaml").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.startswith(("schedule:", "triggers:"))]
    (work / "playbooks" / "close-spam.yaml").write_text(
        "\n".join(["triggers: [webhook]", *lines]) + "\n", encoding="utf-8"
    )
    halo = HaloSettings(
        base_url=spec["base_url"], client_id=spec["client_id"],
        client_secret=SecretStr(spec["client_secret"]),
        rate_limit=RateLimit(requests=spec["limit"], per_seconds=spec["window"]),
        batch_size=spec["batch_size"], concurrency=spec["concurrency"],
    )  # fmt: skip
    hooks = WebhookSettings(
        listen=f"127.0.0.1:{spec['port']}", path=spec["path"], username=USER,
        password=SecretStr(spec["password"]), coalesce_seconds=spec["coalesce_seconds"],
    )  # fmt: skip
    settings = Settings(
        halo=halo, playbooks_dir=work / "playbooks", journal=work / "journal.db",
        daemon=DaemonSettings(watch_playbooks=False), webhooks=hooks,
    )  # fmt: skip
    watch = CloseWatch()
    client = HaloClient(halo, transport=watch)
    journal = Journal.open(settings.journal)
    daemon = Daemon(settings, Runner(client, journal), install_signals=False, poll_seconds=0.1)
    thread = threading.Thread(target=daemon.serve, daemon=True)
    thread.start()
    mail = HaloClient(halo)  # "mail": creates the tickets, on its own budget and token
    rng = random.Random(spec["seed"])
    samples: list[float] = []
    missed = 0
    try:
        deadline = time.monotonic() + 30
        while daemon.beside.webhooks is None or not daemon.alive:
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon did not start listening")
            time.sleep(0.02)
        before = None
        for n in range(spec["arrivals"] + 1):
            created = time.monotonic()
            result = mail.write_tickets(
                [{"summary": f"Weekly deals #{n}", "user_email": "deals@news.example",
                  "client_id": 1}]
            )[0]  # fmt: skip
            if not result.ok or result.record is None:
                raise RuntimeError(f"creating a ticket failed: {result.error}")
            closed = watch.wait(int(result.record["id"]), 30.0)
            if n == 0:
                before = client.stats.snapshot()  # warmed up: token and lookups fetched
            elif closed is None:
                missed += 1
            else:
                samples.append(closed - created)
            time.sleep(rng.uniform(0.2, 1.5) * spec.get("gap_scale", 1.0))
        after = client.stats.snapshot()
    finally:
        daemon.request_stop()
        thread.join(30)
        client.close()
        mail.close()
        journal.close()
    assert before is not None
    requests = after["requests"] - before["requests"]
    return {
        "status": "succeeded",
        "arrivals": spec["arrivals"],
        "closed": len(samples),
        "missed": missed,
        "seconds": samples,
        "p50": percentile(samples, 0.5) if samples else None,
        "p95": percentile(samples, 0.95) if samples else None,
        "mean": statistics.fmean(samples) if samples else None,
        "max": max(samples, default=None),
        "daemon_requests": requests,
        "daemon_requests_per_arrival": requests / max(spec["arrivals"], 1),
        "daemon_rate_limited": after["rate_limited"] - before["rate_limited"],
        "by_endpoint": {
            k: v - before["by_endpoint"].get(k, 0) for k, v in after["by_endpoint"].items()
        },
    }
