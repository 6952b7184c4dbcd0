"""Run the scenarios: a fresh sandbox process and a fresh job process per measurement."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.arrival import USER, free_port
from bench.baseline import BaselineReport, Phase, extrapolate
from bench.floor import Job, floor_requests, floor_seconds, ratio
from bench.sandbox import SandboxProcess, sandbox_args
from bench.scenarios import ROOT, BenchSettings, Scenario, plan_cpu_playbooks, scenarios

Say = Callable[[str], None]
JOB_TIMEOUT = 3600.0


class JobFailed(RuntimeError):
    pass


class JobProcess:
    """``python -m bench.job KIND -``: started early (its imports overlap the sandbox's
    start-up), given its spec on stdin by :meth:`run`, killed if never run."""

    def __init__(self, kind: str, workdir: Path, name: str) -> None:
        self.name = name
        self.workdir = workdir
        self.err_path = workdir / f"{name}.stderr"
        with self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.job", kind, "-"],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.PIPE, cwd=ROOT,
            )  # fmt: skip

    def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Send ``spec``; the job's result plus its own peak RSS and CPU."""
        (self.workdir / f"{self.name}.json").write_text(json.dumps(spec), encoding="utf-8")
        proc = self.proc
        timer = threading.Timer(JOB_TIMEOUT, proc.kill)
        timer.start()
        try:
            assert proc.stdin is not None
            assert proc.stdout is not None
            with contextlib.suppress(BrokenPipeError):  # it died early: its stderr says why
                proc.stdin.write(json.dumps(spec).encode())
                proc.stdin.close()
            out = proc.stdout.read()
            proc.stdout.close()
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            tail = self.err_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise JobFailed(f"{self.name} exited with {code}:\n{tail}")
        return _with_usage(json.loads(out), usage)

    def kill(self) -> None:
        """Stop a job that was never run (its sandbox did not start)."""
        if self.proc.returncode is None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_job(spec: dict[str, Any], workdir: Path, name: str) -> dict[str, Any]:
    """Run ``python -m bench.job`` on ``spec``; its result plus its own peak RSS and CPU."""
    job = JobProcess(spec["kind"], workdir, name)
    try:
        return job.run(spec)
    finally:
        job.kill()


def _with_usage(result: dict[str, Any], usage: resource.struct_rusage) -> dict[str, Any]:
    result["ru_maxrss_mb"] = _rss_mb(usage)
    if result.get("peak_rss_mb") is None:
        result["peak_rss_mb"] = result["ru_maxrss_mb"]
    result["process_cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return result


def _rss_mb(usage: resource.struct_rusage) -> float:
    """ru_maxrss is in KiB on Linux (bytes on macOS)."""
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    return usage.ru_maxrss / divisor


def measure(
    scenario: Scenario, kind: str, settings: BenchSettings, workdir: Path
) -> dict[str, Any]:
    """One job against a fresh sandbox; the job's result plus the sandbox's counters."""
    name = f"{scenario.key}-{kind}"
    args = sandbox_args(
        scenario.sandbox_tickets, settings.seed, settings.rate_requests, settings.window,
        settings.latency,
    )  # fmt: skip
    job = JobProcess(kind, workdir, name)
    try:
        with SandboxProcess(args, workdir / f"{name}.sandbox.log") as sandbox:
            spec = {
                "kind": kind,
                "base_url": sandbox.base_url,
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
                "playbook": str(scenario.playbook),
                "limit": settings.rate_requests,
                "window": settings.window,
                "batch_size": settings.batch_size,
                "concurrency": settings.concurrency,
                "write_concurrency": settings.write_concurrency,
                "retry_sleep": settings.retry_sleep,
                "baseline_limit": settings.baseline_limit,
                "workdir": str(workdir),
            }
            result = job.run(spec)
            result["server"] = sandbox.counters()
    finally:
        job.kill()
    return result


def halo_entry(result: dict[str, Any], job: Job) -> dict[str, Any]:
    server = result["server"]
    verified = (
        server["tickets_written"] == job.ticket_updates
        and server["actions_written"] == job.actions
        and result["failed"] == result["skipped"] == 0
    )
    return {
        "status": result["status"],
        "requests": server["requests"],
        "client_requests": result["requests"],
        "rate_limited": server["rate_limited"],
        "client_rate_limited": result["rate_limited"],
        "wall_seconds": result["wall_seconds"],
        "cpu_seconds": result["cpu_seconds"],
        "in_flight_seconds": result["in_flight_seconds"],
        "write_seconds": result.get("write_seconds"),
        "write_requests": result.get("write_requests"),
        "mean_request_seconds": result["request_seconds"] / max(result["requests"], 1),
        "peak_rss_mb": result["peak_rss_mb"],
        "changed": result["changed"],
        "skipped": result["skipped"],
        "failed": result["failed"],
        "tickets_written": server["tickets_written"],
        "actions_written": server["actions_written"],
        "requests_by_endpoint": server["requests_by_endpoint"],
        "writes_verified": verified,
    }


def baseline_entry(result: dict[str, Any]) -> dict[str, Any]:
    raw = dict(result["report"])
    read, write = Phase(**raw.pop("read")), Phase(**raw.pop("write"))
    report = BaselineReport(**raw, read=read, write=write)
    server = result["server"]
    return {
        "status": result["status"],
        "requests": server["requests"],
        "client_requests": result["requests"],
        "rate_limited": server["rate_limited"],
        "wall_seconds": result["wall_seconds"],
        "cpu_seconds": result["cpu_seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
        "tickets_read": report.tickets_read,
        "changes": report.changes,
        "processed": report.processed,
        "written": report.written,
        "skipped": report.skipped,
        "tickets_written": server["tickets_written"],
        "actions_written": server["actions_written"],
        "requests_by_endpoint": server["requests_by_endpoint"],
        "writes_verified": server["tickets_written"] == report.ticket_writes
        and server["actions_written"] == report.action_writes,
        "phases": {"read": read.__dict__, "write": write.__dict__},
        "extrapolated": extrapolate(report),
    }


def scenario_entry(
    scenario: Scenario, settings: BenchSettings, halo: dict[str, Any], base: dict[str, Any] | None
) -> dict[str, Any]:
    job = Job(**halo["job"])
    n = floor_requests(job, settings.batch_size)
    seconds = floor_seconds(
        n, settings.rate_requests, settings.window, settings.latency, settings.concurrency
    )
    ha = halo_entry(halo, job)
    ha["requests_vs_floor"] = ratio(ha["requests"], n)
    ha["time_vs_floor"] = ratio(ha["wall_seconds"], seconds)
    entry: dict[str, Any] = {
        "key": scenario.key,
        "title": scenario.title,
        "sandbox_tickets": scenario.sandbox_tickets,
        "playbook": scenario.playbook.name,
        "note": scenario.note,
        "job": job.to_dict(),
        "floor": {"requests": n, "seconds": seconds},
        "halo_automate": ha,
        "baseline": None,
    }
    if base is not None:
        bl = baseline_entry(base)
        full = bl["extrapolated"] or bl
        bl["requests_vs_floor"] = ratio(full["requests"], n)
        bl["time_vs_floor"] = ratio(full["wall_seconds"], seconds)
        bl["same_job"] = bl["tickets_read"] == job.tickets_read and bl["changes"] == job.changes
        entry["baseline"] = bl
        entry["baseline_requests_per_halo_request"] = full["requests"] / ha["requests"]
    return entry


def plan_cpu(settings: BenchSettings, workdir: Path) -> dict[str, Any]:
    spec = {
        "kind": "plan-cpu",
        "tickets": settings.plan_cpu_tickets,
        "seed": settings.seed,
        "playbooks": [str(p) for p in plan_cpu_playbooks(workdir)],
    }
    result = run_job(spec, workdir, "plan-cpu")
    plans = result["plans"]
    return {
        "tickets": settings.plan_cpu_tickets,
        "plans": plans,
        "cpu_seconds": max(p["cpu_seconds"] for p in plans),
    }


def measure_arrival(settings: BenchSettings, workdir: Path, arrivals: int) -> dict[str, Any]:
    """A sandbox delivering webhooks, and the arrival job against it."""
    port, password = free_port(), secrets.token_urlsafe(18)
    path = f"/hooks/halo-{secrets.token_hex(8)}"
    hook = ["--webhook", f"http://127.0.0.1:{port}{path}", "--webhook-auth", f"{USER}:{password}"]
    args = [
        *sandbox_args(settings.spam_tickets, settings.seed, settings.rate_requests,
                      settings.window, settings.latency),
        *hook,
    ]  # fmt: skip
    job = JobProcess("arrival", workdir, "arrival")
    try:
        with SandboxProcess(args, workdir / "arrival.sandbox.log") as sandbox:
            spec = {
                "kind": "arrival", "base_url": sandbox.base_url, "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret, "limit": settings.rate_requests,
                "window": settings.window, "batch_size": settings.batch_size,
                "concurrency": settings.concurrency, "port": port, "path": path,
                "password": password, "coalesce_seconds": 0.5, "arrivals": arrivals,
                "seed": settings.seed, "workdir": str(workdir), "gap_scale": 10 / settings.scale,
            }  # fmt: skip
            result = job.run(spec)
            result["server"] = sandbox.counters()
    finally:
        job.kill()
    result["latency_seconds"] = settings.latency
    result["coalesce_seconds"] = 0.5
    return result


def measure_polling(settings: BenchSettings, workdir: Path, arrivals: int) -> dict[str, Any]:
    """A sandbox without webhooks, and the arrival job's ``poll`` mode against it: the daemon
    runs close-spam ``every 1m`` (incremental reads; ``settings.poll_speedup`` times faster)."""
    args = sandbox_args(settings.spam_tickets, settings.seed, settings.rate_requests,
                        settings.window, settings.latency)  # fmt: skip
    job = JobProcess("arrival", workdir, "arrival-poll")
    try:
        with SandboxProcess(args, workdir / "arrival-poll.sandbox.log") as sandbox:
            spec = {
                "kind": "arrival", "mode": "poll", "base_url": sandbox.base_url,
                "client_id": sandbox.client_id, "client_secret": sandbox.client_secret,
                "limit": settings.rate_requests, "window": settings.window,
                "batch_size": settings.batch_size, "concurrency": settings.concurrency,
                "every": "1m", "every_seconds": 60, "speedup": settings.poll_speedup,
                "spread_intervals": 4, "arrivals": arrivals, "seed": settings.seed,
                "workdir": str(workdir),
            }  # fmt: skip
            result = job.run(spec)
            result["server"] = sandbox.counters()
    finally:
        job.kill()
    result["latency_seconds"] = settings.latency
    return result


def run_suite(settings: BenchSettings, workdir: Path, say: Say) -> dict[str, Any]:
    """Every selected scenario (halo_automate, then the baseline), then planning CPU."""
    out: list[dict[str, Any]] = []
    for scenario in scenarios(settings, workdir):
        say(f"{scenario.title}: {scenario.sandbox_tickets:,} tickets, halo_automate ...")
        started = time.monotonic()
        halo = measure(scenario, "halo", settings, workdir)
        say(f"  halo_automate done in {time.monotonic() - started:.1f} s")
        base = None
        if settings.baseline:
            say(f"{scenario.title}: baseline (limit {settings.baseline_limit}) ...")
            started = time.monotonic()
            base = measure(scenario, "baseline", settings, workdir)
            say(f"  baseline done in {time.monotonic() - started:.1f} s")
        out.append(scenario_entry(scenario, settings, halo, base))
    arrival = None
    if not settings.only or "arrival" in settings.only:
        say(f"Arrival to action: {settings.arrivals} spam tickets, webhooks ...")
        arrival = measure_arrival(settings, workdir, settings.arrivals)
    polling = None
    if "arrival-poll" in settings.only:  # minutes of real time: only when asked for
        say(f"Arrival to action: {settings.arrivals} spam tickets, polling every minute ...")
        polling = measure_polling(settings, workdir, settings.arrivals)
    cpu = None
    if not settings.only or "plan-cpu" in settings.only:
        say(f"Planning CPU over {settings.plan_cpu_tickets:,} tickets ...")
        cpu = plan_cpu(settings, workdir)
    return {"scenarios": out, "plan_cpu": cpu, "arrival": arrival, "arrival_poll": polling}
