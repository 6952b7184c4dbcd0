"""The service: scheduled playbooks, signals, reload, health. No business logic here.

Signal handlers only set flags (the main thread acts on them):

* SIGHUP, or a change in the playbooks folder: reload playbooks. A file that no longer
  validates is reported with its ``file:line`` error and its previous good version keeps
  running.
* SIGTERM / SIGINT: no new runs; the in-flight batch finishes and is journaled; exit 0
  within ``daemon.stop_timeout_seconds``.

Every playbook with a ``schedule`` runs as one APScheduler job (``max_instances=1``,
``coalesce=True``, bounded ``misfire_grace_time``); the journal lock also keeps a manual CLI
run of the same playbook from overlapping. One Halo client (one token, one request budget)
serves every job.
"""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from halo_automate.config import Settings
from halo_automate.errors import ConfigError, HaloAutomateError, PlaybookError
from halo_automate.playbook import Playbook, load_playbook
from halo_automate.runner import Runner, RunOutcome

log = structlog.get_logger("halo_automate.daemon")


@dataclass
class PlaybookStats:
    runs: dict[str, int] = field(default_factory=dict)  # by status
    changes: int = 0
    failures: int = 0
    skipped: int = 0
    requests: int = 0
    rate_limited: int = 0
    last: dict[str, Any] | None = None


class Metrics:
    """Counters behind /healthz and /metrics (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_playbook: dict[str, PlaybookStats] = {}
        self.started_at = datetime.now(UTC)

    def record(self, outcome: RunOutcome) -> None:
        with self._lock:
            stats = self.by_playbook.setdefault(outcome.playbook, PlaybookStats())
            stats.runs[outcome.status] = stats.runs.get(outcome.status, 0) + 1
            stats.changes += outcome.changed
            stats.failures += outcome.failed
            stats.skipped += outcome.skipped
            stats.requests += outcome.requests
            stats.rate_limited += outcome.rate_limited
            stats.last = outcome.summary()

    def health(self, scheduler_alive: bool, jobs: dict[str, str | None]) -> dict[str, Any]:
        with self._lock:
            return {
                "status": "ok" if scheduler_alive else "stopped",
                "scheduler_alive": scheduler_alive,
                "started_at": self.started_at.isoformat(),
                "playbooks": {
                    name: {
                        "next_run": next_run,
                        "last_run": (
                            self.by_playbook[name].last if name in self.by_playbook else None
                        ),
                    }
                    for name, next_run in sorted(jobs.items())
                },
            }

    def prometheus(self) -> str:
        lines = [
            "# HELP halo_automate_runs_total Playbook runs by final status.",
            "# TYPE halo_automate_runs_total counter",
        ]
        with self._lock:
            items = sorted(self.by_playbook.items())
            for name, st in items:
                for status, n in sorted(st.runs.items()):
                    lines.append(
                        f'halo_automate_runs_total{{playbook="{_esc(name)}",status="{status}"}} {n}'
                    )
            for metric, attr, help_text in (
                ("changes_total", "changes", "Tickets changed."),
                ("failures_total", "failures", "Tickets whose write failed."),
                ("skipped_total", "skipped", "Tickets skipped as stale."),
                ("requests_total", "requests", "Halo API requests sent."),
                ("rate_limited_total", "rate_limited", "429 responses received."),
            ):
                lines.append(f"# HELP halo_automate_{metric} {help_text}")
                lines.append(f"# TYPE halo_automate_{metric} counter")
                for name, st in items:
                    value = getattr(st, attr)
                    lines.append(f'halo_automate_{metric}{{playbook="{_esc(name)}"}} {value}')
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def make_trigger(playbook: Playbook, timezone: str) -> CronTrigger | IntervalTrigger:
    schedule = playbook.schedule
    assert schedule is not None
    kwargs = schedule.trigger_kwargs()
    if schedule.kind == "interval":
        return IntervalTrigger(timezone=timezone, **kwargs)
    return CronTrigger(timezone=timezone, **kwargs)


class Daemon:
    """Runs every scheduled playbook until told to stop."""

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        *,
        poll_seconds: float = 0.5,
        install_signals: bool = True,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.poll_seconds = poll_seconds
        self.install_signals = install_signals
        self.metrics = Metrics()
        self.playbooks: dict[Path, Playbook] = {}
        self._mtimes: dict[Path, float] = {}
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._health: ThreadingHTTPServer | None = None
        self.scheduler = BackgroundScheduler(
            timezone=settings.daemon.timezone,
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": settings.daemon.misfire_grace_seconds,
            },
        )

    # ------------------------------------------------------------------ playbooks

    def _files(self) -> list[Path]:
        folder = self.settings.playbooks_dir
        if not folder.is_dir():
            raise ConfigError(f"playbooks_dir: {folder} is not a folder")
        return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))

    def load(self) -> list[str]:
        """(Re)load every playbook file; keep the previous good version of a broken one."""
        problems: list[str] = []
        current: dict[Path, Playbook] = {}
        mtimes: dict[Path, float] = {}
        for path in self._files():
            mtimes[path] = path.stat().st_mtime
            try:
                current[path] = load_playbook(path)
            except PlaybookError as e:
                problems.extend(e.problems)
                log.error(
                    "playbook_invalid",
                    file=str(path),
                    problems=e.problems,
                    kept_previous=path in self.playbooks,
                )
                if path in self.playbooks:
                    current[path] = self.playbooks[path]
        self.playbooks = current
        self._mtimes = mtimes
        self._schedule_jobs()
        return problems

    def _schedule_jobs(self) -> None:
        wanted = {pb.name: pb for pb in self.playbooks.values() if pb.schedule is not None}
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                job.remove()
        for name, pb in wanted.items():
            self.scheduler.add_job(
                self._run_job,
                trigger=make_trigger(pb, self.settings.daemon.timezone),
                args=[name],
                id=name,
                name=name,
                replace_existing=True,
            )
        log.info("playbooks_scheduled", playbooks=sorted(wanted))

    def _playbook(self, name: str) -> Playbook | None:
        for pb in self.playbooks.values():
            if pb.name == name:
                return pb
        return None

    def _run_job(self, name: str) -> RunOutcome | None:
        if self._stop.is_set():
            return None
        playbook = self._playbook(name)
        if playbook is None:
            return None
        try:
            outcome = self.runner.run(playbook, trigger="schedule", confirm=None)
        except HaloAutomateError as e:  # journaled and logged by the runner; keep going
            log.error("run_failed", playbook=name, error=str(e))
            return None
        self.metrics.record(outcome)
        return outcome

    def _changed(self) -> bool:
        try:
            files = self._files()
        except ConfigError:
            return False
        now = {p: p.stat().st_mtime for p in files}
        return now != self._mtimes

    # ------------------------------------------------------------------ lifecycle

    def run_once(self) -> list[RunOutcome]:
        """Run every scheduled playbook once now, in file order, and return the outcomes."""
        self.load_initial()
        outcomes = []
        for pb in list(self.playbooks.values()):
            if pb.schedule is not None:
                outcome = self._run_job(pb.name)
                if outcome is not None:
                    outcomes.append(outcome)
        return outcomes

    def load_initial(self) -> None:
        problems = self.load()
        if problems and not self.playbooks:
            raise PlaybookError(problems)

    def serve(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit code (0 on a clean stop)."""
        self.load_initial()
        if self.install_signals:
            self._install_signals()
        self._start_health()
        self.scheduler.start()
        log.info(
            "daemon_started", playbooks=len(self.playbooks), health=self.settings.daemon.health
        )
        try:
            while not self._stop.wait(self.poll_seconds):
                if self._reload.is_set() or (
                    self.settings.daemon.watch_playbooks and self._changed()
                ):
                    self._reload.clear()
                    log.info("reloading_playbooks")
                    self.load()
        finally:
            self._shutdown()
        return 0

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    def _install_signals(self) -> None:
        def on_stop(signum: int, _frame: object) -> None:
            self._stop.set()

        def on_reload(signum: int, _frame: object) -> None:
            self._reload.set()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_reload)

    def _shutdown(self) -> None:
        log.info("daemon_stopping", timeout_seconds=self.settings.daemon.stop_timeout_seconds)
        self.scheduler.pause()
        self.runner.request_stop()
        done = threading.Event()

        def wait_jobs() -> None:
            self.scheduler.shutdown(wait=True)
            done.set()

        threading.Thread(target=wait_jobs, daemon=True, name="scheduler-shutdown").start()
        if not done.wait(self.settings.daemon.stop_timeout_seconds):
            log.error("stop_timeout", note="in-flight run did not finish in time")
        if self._health is not None:
            self._health.shutdown()
            self._health.server_close()
        log.info("daemon_stopped")

    # ------------------------------------------------------------------ health

    def _start_health(self) -> None:
        address = self.settings.daemon.health
        if not address:
            return
        host, _, port = address.rpartition(":")
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    body = json.dumps(daemon.health()).encode()
                    ctype = "application/json"
                elif self.path == "/metrics":
                    body = daemon.metrics.prometheus().encode()
                    ctype = "text/plain; version=0.0.4"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._health = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
        threading.Thread(target=self._health.serve_forever, daemon=True, name="health").start()
        log.info("health_listening", address=f"{host}:{self._health.server_address[1]}")

    def health(self) -> dict[str, Any]:
        jobs = {}
        for job in self.scheduler.get_jobs():
            nxt = getattr(job, "next_run_time", None)
            jobs[job.id] = nxt.isoformat() if nxt else None
        return self.metrics.health(self.scheduler.running and not self._stop.is_set(), jobs)
