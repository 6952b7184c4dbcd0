"""Arrival to action: a spam ticket created in the sandbox until the daemon has closed it.

The harness (:func:`bench.suite.measure_arrival`) starts a sandbox process that delivers
webhooks the way Halo does (``--webhook URL --webhook-auth USER:PASSWORD``) to a port chosen
beforehand, and a job process (``python -m bench.job arrival -``, :func:`run_arrival`) that
runs the real daemon (Runner, journal, webhook listener, one worker) with close-spam on
``triggers: [webhook]`` and no schedule. The job creates spam tickets through the API (as mail
would), one every 0.2-1.5 s (seeded; ``--quick`` shortens the gaps), and times each from just
before its create request until Halo's answer to the POST that closed it (the daemon's client
watches its own POSTs). The first arrival warms the daemon (token, lookups), not counted.

``mode: poll`` (:func:`bench.suite.measure_polling`, ``--only arrival-poll``) measures the same
arrivals without webhooks: close-spam on ``schedule: every 1m`` with the daemon's default
incremental reads (each scheduled run reads only the tickets updated since its last read).
Its first run (a full read, closing the seeded spam) is the warm-up; then the spam tickets are
created at seeded random moments spread over several intervals, without waiting for each other,
each timed until its close. Intervals are real minutes unless ``speedup`` > 1 makes them that
many times shorter (``HALO_AUTOMATE_SCHEDULE_SPEEDUP``) with the arrivals spread as much
tighter: then every wait is scaled and the report says so.
"""

from __future__ import annotations

import json
import os
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

from bench.scenarios import NO_LIMIT, PLAYBOOKS
from halo_automate.service.triggers import SCHEDULE_SPEEDUP_ENV

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

    poll = spec.get("mode") == "poll"
    if poll:  # read when the daemon schedules the playbook
        os.environ[SCHEDULE_SPEEDUP_ENV] = str(spec.get("speedup", 1))
    work = Path(tempfile.mkdtemp(prefix="halo-bench-arrival-", dir=spec.get("workdir")))
    (work / "playbooks").mkdir()
    text = (PLAYBOOKS / "close-spam.yaml").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.startswith(("schedule:", "triggers:"))]
    how = f"schedule: every {spec['every']}" if poll else "triggers: [webhook]"
    if poll:  # its first run closes the seeded spam (1,079 on 20,000 tickets) in one go
        lines = [ln.replace("max_changes: 500", f"max_changes: {NO_LIMIT}") for ln in lines]
    (work / "playbooks" / "close-spam.yaml").write_text(
        "\n".join([how, *lines]) + "\n", encoding="utf-8"
    )
    halo = HaloSettings(
        base_url=spec["base_url"], client_id=spec["client_id"],
        client_secret=SecretStr(spec["client_secret"]),
        rate_limit=RateLimit(requests=spec["limit"], per_seconds=spec["window"]),
        batch_size=spec["batch_size"], concurrency=spec["concurrency"],
    )  # fmt: skip
    hooks = None if poll else WebhookSettings(
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
    if poll:
        try:
            return poll_arrivals(spec, daemon, journal, client, mail, watch)
        finally:
            daemon.request_stop()
            thread.join(30)
            client.close()
            mail.close()
            journal.close()
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


def create_spam(mail: Any, n: int) -> int:
    """One spam ticket created through the API, as mail would; its id."""
    result = mail.write_tickets(
        [{"summary": f"Weekly deals #{n}", "user_email": "deals@news.example", "client_id": 1}]
    )[0]
    if not result.ok or result.record is None:
        raise RuntimeError(f"creating a ticket failed: {result.error}")
    return int(result.record["id"])


def poll_arrivals(
    spec: dict[str, Any], daemon: Any, journal: Any, client: Any, mail: Any, watch: CloseWatch
) -> dict[str, Any]:
    """``mode: poll`` (see the module docstring): arrivals at seeded moments, each timed to
    its close by the daemon's scheduled, incremental runs."""
    interval = float(spec["every_seconds"]) / float(spec.get("speedup", 1))
    deadline = time.monotonic() + 60 + interval
    while not [r for r in journal.runs(limit=None) if r.status != "running"]:
        if time.monotonic() > deadline:  # the first run: a full read, closing seeded spam
            raise RuntimeError("the daemon's first scheduled run did not finish")
        time.sleep(0.1)
    before, runs_before = client.stats.snapshot(), len(journal.runs(limit=None))
    rng = random.Random(spec["seed"])
    offsets = sorted(rng.uniform(0, spec["spread_intervals"] * interval)
                     for _ in range(spec["arrivals"]))  # fmt: skip
    start, created = time.monotonic(), {}
    for n, offset in enumerate(offsets, start=1):
        time.sleep(max(0.0, start + offset - time.monotonic()))
        at = time.monotonic()
        created[create_spam(mail, n)] = at
    end = time.monotonic() + 2 * interval + 30
    samples, missed = [], 0
    for ticket, at in created.items():
        closed = watch.wait(ticket, max(0.0, end - time.monotonic()))
        if closed is None:
            missed += 1
        else:
            samples.append(closed - at)
    settle = time.monotonic() + 2 * interval  # the run under way, if any, ends first
    while journal.runs(limit=1)[0].status == "running" and time.monotonic() < settle:
        time.sleep(0.05)
    after = client.stats.snapshot()
    every_run = journal.runs(limit=None)  # newest first
    runs = every_run[: len(every_run) - runs_before]
    requests = after["requests"] - before["requests"]
    return {
        "status": "succeeded", "mode": "poll", "every_seconds": spec["every_seconds"],
        "speedup": spec.get("speedup", 1), "interval_seconds": interval,
        "arrivals": spec["arrivals"], "closed": len(samples), "missed": missed,
        "seconds": samples,
        "p50": percentile(samples, 0.5) if samples else None,
        "p95": percentile(samples, 0.95) if samples else None,
        "mean": statistics.fmean(samples) if samples else None,
        "max": max(samples, default=None),
        "runs": len(runs),
        "run_requests": [r.counts.requests for r in reversed(runs)],
        "run_changes": [r.counts.done for r in reversed(runs)],
        "run_seconds": [_seconds(r) for r in reversed(runs)],
        "daemon_requests": requests,
        "daemon_requests_per_run": requests / max(len(runs), 1),
        "daemon_rate_limited": after["rate_limited"] - before["rate_limited"],
        "by_endpoint": {
            k: v - before["by_endpoint"].get(k, 0) for k, v in after["by_endpoint"].items()
        },
    }  # fmt: skip


def _seconds(run: Any) -> float | None:
    """How long a journaled run took (None when its times are not both dates)."""
    if isinstance(run.started_at, str) or not hasattr(run.finished_at, "timestamp"):
        return None
    return float((run.finished_at - run.started_at).total_seconds())
