"""One measured job, run in its own process: ``python -m bench.job SPEC.json``.

The harness starts a fresh process per job so that its peak RSS is the job's own. The spec
names the kind of job (``halo``, ``baseline`` or ``plan-cpu``) and its inputs; the result is
one JSON object on stdout. Logs go to stderr.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.arrival import run_arrival
from halo_automate import logs
from halo_automate.config import HaloSettings, RateLimit
from halo_automate.core.playbook import load_playbook


class TimingTransport(httpx.BaseTransport):
    """Records when each request was in flight (sent until its body was read)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.spans: list[tuple[float, float]] = []
        self.writes: list[tuple[float, float]] = []  # the POSTs (ticket updates, actions)
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        try:
            response = self.inner.handle_request(request)
            response.read()
        finally:
            with self._lock:
                self.spans.append((start, time.perf_counter()))
                if request.method == "POST" and "/api/" in request.url.path:
                    self.writes.append(self.spans[-1])
        return response

    def close(self) -> None:
        self.inner.close()

    def in_flight_seconds(self) -> float:
        """Seconds during which at least one request was in flight (union of the spans)."""
        total, end = 0.0, float("-inf")
        for start, stop in sorted(self.spans):
            if stop > end:
                total += stop - max(start, end)
                end = stop
        return total


def run_halo(spec: dict[str, Any]) -> dict[str, Any]:
    """The playbook run by halo_automate's own runner (plan, stale check, batches, journal)."""
    from halo_automate.core.plan import needed_lookups, plan_from_json
    from halo_automate.engine.runner import Runner
    from halo_automate.halo.client import HaloClient
    from halo_automate.store.journal import Journal

    settings = HaloSettings(
        base_url=spec["base_url"],
        client_id=spec["client_id"],
        client_secret=SecretStr(spec["client_secret"]),
        rate_limit=RateLimit(requests=spec["limit"], per_seconds=spec["window"]),
        batch_size=spec["batch_size"],
        concurrency=spec["concurrency"],
        write_concurrency=spec.get("write_concurrency", 4),
    )
    playbook = load_playbook(spec["playbook"])
    scratch = Path(tempfile.mkdtemp(prefix="halo-bench-journal-", dir=spec.get("workdir")))
    timing = TimingTransport()
    with (
        HaloClient(settings, transport=timing) as client,
        Journal.open(scratch / "journal.db") as journal,
    ):
        cpu, started = time.process_time(), time.perf_counter()
        outcome = Runner(client, journal).run(playbook, trigger="cli", confirm=None)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        plan_json = journal.plan_json(outcome.run_id)
        stats = client.stats.snapshot()
    shutil.rmtree(scratch, ignore_errors=True)
    plan = plan_from_json(plan_json or "")
    return {
        "status": outcome.status,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "in_flight_seconds": timing.in_flight_seconds(),
        "request_seconds": sum(stop - start for start, stop in timing.spans),
        "write_seconds": (
            max(stop for _, stop in timing.writes) - min(start for start, _ in timing.writes)
            if timing.writes
            else 0.0
        ),
        "write_requests": len(timing.writes),
        "requests": stats["requests"],
        "rate_limited": stats["rate_limited"],
        "by_endpoint": stats["by_endpoint"],
        "changed": outcome.changed,
        "skipped": outcome.skipped,
        "failed": outcome.failed,
        "job": {
            "lookups": len(needed_lookups(playbook)),
            "tickets_read": plan.scanned,
            "changes": len(plan.changes),
            "ticket_updates": sum(1 for c in plan.changes if c.ticket_update),
            "actions": sum(len(c.actions) for c in plan.changes),
        },
    }


def run_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    """The same playbook done the way today's scripts do it (see bench.baseline)."""
    from bench.baseline import Baseline

    baseline = Baseline(
        spec["base_url"], spec["client_id"], spec["client_secret"], retry_sleep=spec["retry_sleep"]
    )
    playbook = load_playbook(spec["playbook"])
    try:
        cpu, started = time.process_time(), time.perf_counter()
        report = baseline.run(playbook, limit=spec.get("baseline_limit"))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        baseline.close()
    return {
        "status": "succeeded",
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "requests": report.read.requests + report.write.requests,
        "rate_limited": report.read.rate_limited + report.write.rate_limited,
        "report": report.to_dict(),
    }


def run_plan_cpu(spec: dict[str, Any]) -> dict[str, Any]:
    """CPU seconds of make_plan over sandbox-generated tickets (list rows, in memory)."""
    from datetime import UTC, datetime

    from halo_automate.core.lookups import Lookups
    from halo_automate.core.plan import make_plan
    from halo_automate.core.selection import build_query
    from halo_automate.sandbox import reference as ref
    from halo_automate.sandbox.data import generate
    from halo_automate.sandbox.query import list_row

    now = datetime.now(UTC)
    state = generate(spec["tickets"], spec["seed"], now)
    rows = [list_row(t) for t in state.tickets.values() if not t["deleted"]]
    del state
    lookups = Lookups.from_rows(
        statuses=ref.STATUSES,
        categories={1: [c for c in ref.CATEGORIES if c["type_id"] == 1]},
        ticket_types=ref.TICKET_TYPES,
        teams=ref.TEAMS,
        agents=ref.AGENTS,
        priorities=ref.PRIORITIES,
        outcomes=ref.OUTCOMES,
    )
    results = []
    for path in spec["playbooks"]:
        playbook = load_playbook(path)
        query = build_query(playbook.select, lookups)
        cpu = time.process_time()
        plan = make_plan(playbook, rows, lookups, now=now, run_id="bench", query=query)
        cpu = time.process_time() - cpu
        results.append(
            {
                "playbook": playbook.name,
                "tickets": plan.scanned,
                "matched": plan.matched,
                "changes": len(plan.changes),
                "cpu_seconds": cpu,
            }
        )
    return {"status": "succeeded", "plans": results}


def peak_rss_mb() -> float | None:
    """This process's peak resident set (VmHWM), in MiB; None where /proc is missing.

    Read here rather than from the parent's ``wait4`` rusage: on Linux a child's
    ``ru_maxrss`` also counts the parent's RSS at fork time, so a large harness would
    inflate a small job.
    """
    try:
        status = Path("/proc/self/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


KINDS = {
    "halo": run_halo,
    "baseline": run_baseline,
    "plan-cpu": run_plan_cpu,
    "arrival": run_arrival,
}
PRELOAD = {
    "halo": ["halo_automate.core.plan", "halo_automate.engine.runner",
             "halo_automate.halo.client", "halo_automate.store.journal"],
    "baseline": ["bench.baseline"],
    "plan-cpu": ["halo_automate.core.plan", "halo_automate.core.selection",
                 "halo_automate.sandbox.data", "halo_automate.sandbox.query"],
    "arrival": ["halo_automate.service.daemon", "halo_automate.halo.client"],
}  # fmt: skip
"""What each kind imports inside its function (only its own modules count in its RSS)."""


def main(argv: list[str]) -> int:
    """``python -m bench.job SPEC.json``, or ``python -m bench.job KIND -``: import what
    KIND needs, then read the spec from stdin (the harness starts the job while its sandbox
    is still starting, and sends the spec once the sandbox's address is known)."""
    if len(argv) == 2 and argv[0] in PRELOAD and argv[1] == "-":
        for module in PRELOAD[argv[0]]:
            importlib.import_module(module)
        spec = json.loads(sys.stdin.read())
        if spec["kind"] != argv[0]:
            print(f"spec kind {spec['kind']!r} is not {argv[0]!r}", file=sys.stderr)
            return 2
    elif len(argv) == 1:
        spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    else:
        print("usage: python -m bench.job SPEC.json | python -m bench.job KIND -", file=sys.stderr)
        return 2
    logs.configure(json=True, level=spec.get("log_level", "WARNING"), stream=sys.stderr)
    result = KINDS[spec["kind"]](spec)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
