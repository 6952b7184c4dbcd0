"""The service: scheduled playbooks, signals, reload, health. No business logic here.

``halo-automate daemon`` loads every playbook in ``playbooks_dir`` and runs each one that has
a ``schedule`` as an APScheduler job (``max_instances=1``, ``coalesce=True``, a bounded
``misfire_grace_time``). Every run goes through :meth:`Runner.run` with ``confirm=None``: no
prompt, but every limit still holds (a plan over ``max_changes`` is refused and journaled as
refused), and a playbook with ``mode: preview`` is only planned and journaled (shadow mode).

Decisions, and why:

* **One run at a time.** All runs share one Halo client, so one token and one request budget;
  running them side by side would only make them compete for that budget. One worker keeps
  each run's request count exact and Halo's load predictable. A run due while another is
  going waits its turn. The journal lock still refuses a manual ``halo-automate run`` of the
  same playbook at the same time (the loser logs ``run_locked`` and tries on its next turn).
* **Run at start.** An ``every <n>`` playbook runs as soon as it is scheduled (service start,
  or a new file), then every ``n``: a freshly started service does work immediately. A cron
  playbook waits for its next cron time, because a cron line names the times it may run.
* **Reload.** SIGHUP, or a change in the playbooks folder (polled every ``poll_seconds`` when
  ``daemon.watch_playbooks``), reloads every file. A file that no longer validates is logged
  with its ``file:line:column`` problems and its previous good version keeps running. A
  changed schedule is rescheduled from the reload; any other change is used from the next
  run. The config file itself is read once: restart to change it.
* **Stop.** SIGTERM or SIGINT: no new runs; the runner is asked to stop after the in-flight
  batch, which is journaled; exit 0 once nothing is in flight. If a run is still in flight
  after ``daemon.stop_timeout_seconds``, :meth:`Daemon.serve` returns
  :data:`EXIT_STOP_TIMEOUT` (5, "some writes may not have completed") and the CLI exits at
  once without waiting for it. The journal stays consistent either way: a write is journaled
  *pending* before it is sent, so an abandoned batch leaves pending rows, which the next
  start (:meth:`Runner.recover` runs for every playbook before the scheduler starts) or
  ``halo-automate recover`` reconciles.
* **Faults.** A Halo outage, a storm of 5xx, an auth failure, a refusal or a lock fails that
  run only: it is journaled by the runner and logged here, and the next scheduled run tries
  again. Even an unexpected exception in a run is logged with its traceback and the service
  goes on.

Signal handlers only set flags; the main thread polls them (as huey does). Health: an
optional read-only HTTP endpoint (``daemon.health``, loopback unless
``daemon.health_allow_remote``) serves ``/healthz`` (JSON) and ``/metrics`` (Prometheus text).
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from halo_automate.config import Settings, is_loopback
from halo_automate.core.outcome import RunOutcome
from halo_automate.core.playbook import Playbook, load_playbook, playbook_files
from halo_automate.core.schedule import Schedule
from halo_automate.engine.runner import Runner
from halo_automate.errors import (
    ConfigError,
    HaloAutomateError,
    LockedError,
    PlaybookError,
    RefusedError,
)
from halo_automate.logs import bound

log = structlog.get_logger("halo_automate.service.daemon")

EXIT_OK = 0
EXIT_INVALID = 2
EXIT_STOP_TIMEOUT = 5
RUN_RESULTS = ("succeeded", "partial", "interrupted", "previewed", "refused", "locked", "failed")
"""Every ``status`` a run can end with in the daemon (journal statuses plus ``locked``)."""

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunRecord:
    """What the daemon remembers of one scheduled run (health, metrics, ``--once``)."""

    playbook: str
    status: str
    run_id: str | None
    finished_at: datetime
    seconds: float
    mode: str = "apply"
    scanned: int = 0
    matched: int = 0
    changed: int = 0  # tickets changed by an applied run
    previewed: int = 0  # tickets a preview (shadow-mode) run would have changed
    skipped: int = 0
    failed: int = 0
    requests: int = 0
    rate_limited: int = 0
    message: str | None = None
    exit_code: int = EXIT_OK

    @classmethod
    def from_outcome(cls, outcome: RunOutcome, finished_at: datetime) -> RunRecord:
        preview = outcome.status == "previewed"
        return cls(
            playbook=outcome.playbook,
            status="locked" if outcome.locked else outcome.status,
            run_id=outcome.run_id,
            finished_at=finished_at,
            seconds=outcome.seconds,
            mode="preview" if preview else outcome.mode,
            scanned=outcome.scanned,
            matched=outcome.matched,
            changed=0 if preview else outcome.changed,
            previewed=outcome.changed if preview else 0,
            skipped=outcome.skipped,
            failed=outcome.failed,
            requests=outcome.requests,
            rate_limited=outcome.rate_limited,
            message=outcome.message,
            exit_code=outcome.exit_code,
        )

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "previewed")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["finished_at"] = self.finished_at.isoformat()
        data["seconds"] = round(self.seconds, 3)
        return data


def failure_status(error: BaseException) -> str:
    """The run status the daemon reports for a run that raised ``error``."""
    if isinstance(error, LockedError):
        return "locked"
    if isinstance(error, RefusedError):
        return "refused"
    return "failed"


# ---------------------------------------------------------------------------- metrics


@dataclass
class PlaybookStats:
    runs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RUN_RESULTS, 0))
    changed: int = 0
    previewed: int = 0
    skipped: int = 0
    failed: int = 0
    requests: int = 0
    rate_limited: int = 0
    last: RunRecord | None = None


_COUNTERS = (
    ("tickets_changed_total", "changed", "Tickets changed by applied runs."),
    ("tickets_previewed_total", "previewed", "Tickets preview (shadow-mode) runs would change."),
    ("tickets_skipped_total", "skipped", "Tickets skipped because they changed since the plan."),
    ("tickets_failed_total", "failed", "Tickets whose write failed."),
    ("requests_total", "requests", "Halo API requests sent by runs."),
    ("rate_limited_total", "rate_limited", "HTTP 429 responses received by runs."),
)


class Metrics:
    """Counters behind ``/healthz`` and ``/metrics`` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats: dict[str, PlaybookStats] = {}

    def track(self, playbooks: Iterable[str]) -> None:
        """Make sure each playbook has (zero) counters, so every series exists from the start."""
        with self._lock:
            for name in playbooks:
                self._stats.setdefault(name, PlaybookStats())

    def record(self, run: RunRecord) -> None:
        with self._lock:
            stats = self._stats.setdefault(run.playbook, PlaybookStats())
            stats.runs[run.status] = stats.runs.get(run.status, 0) + 1
            for _, attr, _ in _COUNTERS:
                setattr(stats, attr, getattr(stats, attr) + getattr(run, attr))
            stats.last = run

    def last_runs(self) -> dict[str, RunRecord | None]:
        with self._lock:
            return {name: stats.last for name, stats in self._stats.items()}

    def prometheus(self, *, up: bool, problems: int) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        out = _Exposition()
        out.family("up", "gauge", "1 while the scheduler runs, 0 once stopping.")
        out.sample("up", {}, int(up))
        out.family(
            "playbook_problems", "gauge", "Problems found in playbook files at the last load."
        )
        out.sample("playbook_problems", {}, problems)
        with self._lock:
            items = sorted(self._stats.items())
            out.family("runs_total", "counter", "Scheduled runs by final status.")
            for name, st in items:
                for status, n in sorted(st.runs.items()):
                    out.sample("runs_total", {"playbook": name, "status": status}, n)
            for metric, attr, help_text in _COUNTERS:
                out.family(metric, "counter", help_text)
                for name, st in items:
                    out.sample(metric, {"playbook": name}, getattr(st, attr))
            self._last_run_gauges(out, items)
        return out.text()

    @staticmethod
    def _last_run_gauges(out: _Exposition, items: list[tuple[str, PlaybookStats]]) -> None:
        done = [(name, st.last) for name, st in items if st.last is not None]
        gauges: tuple[tuple[str, str, Callable[[RunRecord], float]], ...] = (
            (
                "last_run_timestamp_seconds",
                "When the last run ended (Unix time).",
                lambda r: r.finished_at.timestamp(),
            ),
            (
                "last_run_success",
                "1 if the last run succeeded (or previewed), else 0.",
                lambda r: int(r.ok),
            ),
            ("last_run_duration_seconds", "How long the last run took.", lambda r: r.seconds),
        )
        for metric, help_text, value in gauges:
            out.family(metric, "gauge", help_text)
            for name, last in done:
                out.sample(metric, {"playbook": name}, value(last))


class _Exposition:
    PREFIX = "halo_automate_"

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self.lines.append(f"# HELP {self.PREFIX}{name} {help_text}")
        self.lines.append(f"# TYPE {self.PREFIX}{name} {kind}")

    def sample(self, name: str, labels: Mapping[str, str], value: float) -> None:
        text = ",".join(f'{k}="{label_value(v)}"' for k, v in labels.items())
        number = repr(value) if isinstance(value, float) else str(value)
        self.lines.append(
            f"{self.PREFIX}{name}{{{text}}} {number}" if text else f"{self.PREFIX}{name} {number}"
        )

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def label_value(value: str) -> str:
    """Escape a Prometheus label value (backslash, double quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# ---------------------------------------------------------------------------- scheduling


def resolve_timezone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"daemon.timezone: unknown time zone {name!r}") from None


def make_trigger(schedule: Schedule, timezone: tzinfo) -> CronTrigger | IntervalTrigger:
    """The APScheduler trigger for a validated schedule, in the daemon's time zone."""
    kwargs = schedule.trigger_kwargs()
    if schedule.kind == "interval":
        return IntervalTrigger(timezone=timezone, **kwargs)
    return CronTrigger(timezone=timezone, **kwargs)


def job_options(schedule: Schedule, timezone: tzinfo, now: datetime) -> dict[str, Any]:
    """``add_job`` options for a newly scheduled playbook: intervals run at once, cron waits."""
    options: dict[str, Any] = {"trigger": make_trigger(schedule, timezone)}
    if schedule.kind == "interval":
        options["next_run_time"] = now.astimezone(timezone)
    return options


# ---------------------------------------------------------------------------- playbooks


@dataclass(frozen=True)
class Loaded:
    """One load of the playbooks folder."""

    playbooks: dict[Path, Playbook]
    errors: dict[Path, list[str]]
    kept: frozenset[Path]  # files whose previous good version is kept

    @property
    def problems(self) -> list[str]:
        return [problem for problems in self.errors.values() for problem in problems]


def load_folder(folder: Path, previous: Mapping[Path, Playbook]) -> Loaded:
    """Load every playbook file; a broken file keeps its previous good version.

    Files are read in name order; hidden files (editor droppings) are ignored. A name already
    used by an earlier file is a problem of the later one.
    """
    if not folder.is_dir():
        raise ConfigError(f"playbooks_dir: {folder} is not a folder")
    current: dict[Path, Playbook] = {}
    errors: dict[Path, list[str]] = {}
    kept: set[Path] = set()
    owner: dict[str, Path] = {}
    for path in playbook_files(folder):
        if path.name.startswith("."):
            continue
        try:
            playbook = load_playbook(path)
        except PlaybookError as e:
            errors[path] = e.problems
            if path not in previous:
                continue
            playbook = previous[path]
            kept.add(path)
        first = owner.get(playbook.name)
        if first is not None:
            errors.setdefault(path, []).append(
                f"{playbook.name_location}: playbook name '{playbook.name}' is already used "
                f"by {first}"
            )
            kept.discard(path)
            continue
        owner[playbook.name] = path
        current[path] = playbook
    return Loaded(current, errors, frozenset(kept))


def folder_snapshot(folder: Path) -> dict[str, tuple[int, int]] | None:
    """(mtime_ns, size) of each playbook file: a cheap way to notice edits, adds, deletes."""
    try:
        return {
            p.name: (st.st_mtime_ns, st.st_size)
            for p in folder.iterdir()
            if p.suffix in (".yaml", ".yml")
            for st in (p.stat(),)
        }
    except OSError:
        return None


# ---------------------------------------------------------------------------- health address


def parse_health_address(text: str, *, allow_remote: bool = False) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6; empty host = 127.0.0.1) -> (host, port).

    The endpoint has no authentication, so a host that is not loopback is refused unless
    ``allow_remote``.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"daemon.health: expected host:port, e.g. 127.0.0.1:9187, not {text!r}")
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    if not allow_remote and not is_loopback(host):
        raise ConfigError(
            f"daemon.health: {host} is not a loopback address and the endpoint has no "
            "authentication; use 127.0.0.1, or set daemon.health_allow_remote: true"
        )
    return host, int(port_text)


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


# ---------------------------------------------------------------------------- the daemon


class Daemon:
    """Runs every scheduled playbook until told to stop (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        *,
        poll_seconds: float = 0.5,
        install_signals: bool = True,
        clock: Clock = _utcnow,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.poll_seconds = poll_seconds
        self.install_signals = install_signals
        self.clock = clock
        self.timezone = resolve_timezone(settings.daemon.timezone)
        self.metrics = Metrics()
        self.started_at = clock()
        self.problems: list[str] = []
        self.abandoned: list[str] = []  # runs still in flight when the stop timeout expired
        self._files: dict[Path, Playbook] = {}
        self._by_name: dict[str, Playbook] = {}
        self._scheduled: dict[str, Schedule] = {}
        self._snapshot: dict[str, tuple[int, int]] | None = None
        self._stop_requested = False  # set by signal handlers: plain flags only
        self._reload_requested = False
        self._cond = threading.Condition()
        self._stopping = False
        self._running: dict[str, datetime] = {}
        self._health: HealthServer | None = None
        self.scheduler = BackgroundScheduler(
            timezone=self.timezone,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": settings.daemon.misfire_grace_seconds,
            },
        )

    # ------------------------------------------------------------------ playbooks

    @property
    def playbooks(self) -> dict[str, Playbook]:
        """Every loaded playbook by name (scheduled or not), in file order."""
        return dict(self._by_name)

    def scheduled(self) -> list[Playbook]:
        return [pb for pb in self._by_name.values() if pb.schedule is not None]

    def load(self) -> Loaded:
        """(Re)load the folder, keep previous good versions, log each broken file."""
        # Snapshot before reading (an edit made meanwhile reloads again), and even when the
        # folder is unreadable (a watcher then reports it once, not on every poll).
        self._snapshot = folder_snapshot(self.settings.playbooks_dir)
        loaded = load_folder(self.settings.playbooks_dir, self._files)
        for path, problems in loaded.errors.items():
            log.error(
                "playbook_invalid",
                file=str(path),
                problems=problems,
                kept_previous=path in loaded.kept,
            )
        self._files = loaded.playbooks
        self._by_name = {pb.name: pb for pb in loaded.playbooks.values()}
        self.problems = loaded.problems
        self.metrics.track(pb.name for pb in self.scheduled())
        log.info(
            "playbooks_loaded",
            scheduled=[
                f"{pb.name} ({pb.mode}, {pb.schedule.text})"
                for pb in self.scheduled()
                if pb.schedule
            ],
            manual_only=len(self._by_name) - len(self.scheduled()),
            problems=len(self.problems),
        )
        return loaded

    def _load_initial(self) -> None:
        loaded = self.load()
        if loaded.problems and not loaded.playbooks:
            raise PlaybookError(loaded.problems)
        if not self.scheduled():
            log.warning("no_scheduled_playbooks", folder=str(self.settings.playbooks_dir))

    def reload(self) -> None:
        """Reload playbooks and reschedule; never raises (the service keeps its old state)."""
        try:
            self.load()
        except ConfigError as e:
            log.error("reload_failed", error=str(e), note="keeping the loaded playbooks")
            return
        self._schedule()

    def _schedule(self) -> None:
        wanted = {pb.name: pb.schedule for pb in self.scheduled() if pb.schedule}
        for name in set(self._scheduled) - set(wanted):
            self.scheduler.remove_job(name)
            log.info("job_removed", playbook=name)
        now = self.clock()
        for name, schedule in wanted.items():
            old = self._scheduled.get(name)
            if old is None:
                self.scheduler.add_job(
                    self.run_job,
                    args=[name],
                    id=name,
                    name=name,
                    **job_options(schedule, self.timezone, now),
                )
                log.info("job_added", playbook=name, schedule=schedule.text)
            elif old != schedule:
                self.scheduler.reschedule_job(name, trigger=make_trigger(schedule, self.timezone))
                log.info("job_rescheduled", playbook=name, schedule=schedule.text)
        self._scheduled = wanted

    # ------------------------------------------------------------------ runs

    def run_job(self, name: str) -> RunRecord | None:
        """The scheduled job: run one playbook; None when stopping or the playbook is gone."""
        playbook = self._by_name.get(name)
        if playbook is None:
            return None
        with self._in_flight(name) as admitted:
            if not admitted:
                log.info("run_not_started", playbook=name, reason="stopping")
                return None
            with bound(playbook=name):
                return self._run(playbook)

    @contextmanager
    def _in_flight(self, name: str) -> Iterator[bool]:
        with self._cond:
            if self._stopping:
                admitted = False
            else:
                admitted = True
                self._running[name] = self.clock()
        try:
            yield admitted
        finally:
            if admitted:
                with self._cond:
                    self._running.pop(name, None)
                    self._cond.notify_all()

    def _run(self, playbook: Playbook) -> RunRecord:
        started = time.monotonic()
        before = self.runner.client.stats.snapshot()
        try:
            outcome = self.runner.run(playbook, trigger="schedule", confirm=None)
        except Exception as e:  # a bug: it must never stop the service
            record = self._crash(playbook.name, e, started, before)
        else:
            record = RunRecord.from_outcome(outcome, self.clock())
            if outcome.error is not None:
                self._log_failure(record, outcome.error)
        self.metrics.record(record)
        return record

    def _crash(
        self, name: str, error: Exception, started: float, before: Mapping[str, Any]
    ) -> RunRecord:
        after = self.runner.client.stats.snapshot()
        record = RunRecord(
            playbook=name,
            status="failed",
            run_id=None,
            finished_at=self.clock(),
            seconds=time.monotonic() - started,
            requests=after["requests"] - before["requests"],
            rate_limited=after["rate_limited"] - before["rate_limited"],
            message=str(error),
            exit_code=1,
        )
        self._log_failure(record, error)
        return record

    def _log_failure(self, record: RunRecord, error: BaseException) -> None:
        context = {"run_id": record.run_id, "error": str(error), "error_type": type(error).__name__}
        if not isinstance(error, HaloAutomateError):
            log.exception("run_crashed", **context, note="a bug; the service goes on")
        elif record.status == "failed":
            log.error("run_failed", **context, note="the next scheduled run tries again")
        else:
            log.warning(f"run_{record.status}", **context)

    def recover_all(self) -> None:
        """Reconcile runs interrupted by an earlier crash or stop (every playbook)."""
        try:
            outcomes = self.runner.recover()
        except Exception as e:  # each run recovers its own playbook first anyway
            log.error(
                "recovery_failed",
                error=str(e),
                error_type=type(e).__name__,
                note="retried before the next run of each playbook",
            )
            return
        for outcome in outcomes:
            log.info("run_recovered", **outcome.summary())

    # ------------------------------------------------------------------ lifecycle

    def run_once(self) -> int:
        """Run every scheduled playbook once now, in file order; return the exit code.

        The code is the highest of the runs' codes (0 ok, 3 Halo or journal failed, 4 refused
        or locked, 5 partial or interrupted), and at least 2 when a playbook file is invalid.
        SIGTERM/SIGINT let the in-flight batch finish and skip the playbooks not yet run.
        """
        restore = self._install_signals(once=True) if self.install_signals else None
        try:
            self._load_initial()
            self.recover_all()
            codes = [EXIT_INVALID] if self.problems else []
            for playbook in self.scheduled():
                if self._stop_requested:
                    log.info("run_not_started", playbook=playbook.name, reason="stopping")
                    continue
                with bound(playbook=playbook.name):
                    codes.append(self._run(playbook).exit_code)
            return max(codes, default=EXIT_OK)
        finally:
            if restore is not None:
                restore()

    def serve(self) -> int:
        """Run until SIGTERM/SIGINT (or :meth:`request_stop`); return the exit code."""
        restore = self._install_signals() if self.install_signals else None
        try:
            self._load_initial()
            self._start_health()
            self.recover_all()
            self._schedule()
            self.scheduler.start()
            log.info(
                "daemon_started",
                playbooks=len(self._scheduled),
                health=self._health.address if self._health else None,
            )
            while not self._stop_requested:
                time.sleep(self.poll_seconds)
                self._maybe_reload()
            return self._shutdown()
        finally:
            self._stop_health()
            if restore is not None:
                restore()

    def request_stop(self) -> None:
        self._stop_requested = True

    def request_reload(self) -> None:
        self._reload_requested = True

    def _maybe_reload(self) -> None:
        reason = None
        if self._reload_requested:
            self._reload_requested = False
            reason = "signal"
        elif self.settings.daemon.watch_playbooks and (
            folder_snapshot(self.settings.playbooks_dir) != self._snapshot
        ):
            reason = "files_changed"
        if reason is not None and not self._stop_requested:
            log.info("reloading_playbooks", reason=reason)
            self.reload()

    def _install_signals(self, *, once: bool = False) -> Callable[[], None] | None:
        """Install flag-setting handlers (main thread only); return a function restoring them.

        In ``--once`` mode the main thread is busy running, so the stop handler also sets the
        runner's stop flag itself (:meth:`Runner.request_stop` only sets flags too).
        """
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_stop(signum: int, _frame: object) -> None:
            self._stop_requested = True
            if once:
                self.runner.request_stop()

        def on_reload(signum: int, _frame: object) -> None:
            self._reload_requested = True

        handlers = {signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGHUP: on_reload}
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _shutdown(self) -> int:
        timeout = self.settings.daemon.stop_timeout_seconds
        with self._cond:
            self._stopping = True
            log.info("daemon_stopping", timeout_seconds=timeout, in_flight=sorted(self._running))
        self.runner.request_stop()
        self.scheduler.shutdown(wait=False)
        with self._cond:
            clean = self._cond.wait_for(lambda: not self._running, timeout)
            self.abandoned = sorted(self._running)
        if not clean:
            log.error(
                "stop_timeout",
                in_flight=self.abandoned,
                note="exiting anyway; pending journal rows are reconciled on the next start "
                "or by `halo-automate recover`",
            )
            return EXIT_STOP_TIMEOUT
        log.info("daemon_stopped")
        return EXIT_OK

    # ------------------------------------------------------------------ health

    def _start_health(self) -> None:
        address = self.settings.daemon.health
        if not address:
            return
        host, port = parse_health_address(
            address, allow_remote=self.settings.daemon.health_allow_remote
        )
        try:
            self._health = HealthServer(host, port, self.health, self.prometheus)
        except OSError as e:
            raise ConfigError(f"daemon.health: cannot listen on {address}: {e.strerror}") from None
        threading.Thread(target=self._health.serve_forever, daemon=True, name="health").start()
        log.info("health_listening", address=self._health.address)

    def _stop_health(self) -> None:
        if self._health is not None:
            self._health.shutdown()
            self._health.server_close()
            self._health = None

    @property
    def alive(self) -> bool:
        return bool(self.scheduler.running) and not self._stopping

    def prometheus(self) -> str:
        return self.metrics.prometheus(up=self.alive, problems=len(self.problems))

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(alive, the /healthz document): scheduler state, each playbook's next and last run."""
        alive = self.alive
        last = self.metrics.last_runs()
        next_runs = {
            job.id: getattr(job, "next_run_time", None) for job in self.scheduler.get_jobs()
        }
        with self._cond:
            running = dict(self._running)
        playbooks = {}
        for pb in self.scheduled():
            nxt, since, run = next_runs.get(pb.name), running.get(pb.name), last.get(pb.name)
            playbooks[pb.name] = {
                "schedule": pb.schedule.text if pb.schedule else None,
                "mode": pb.mode,
                "file": pb.path,
                "next_run": nxt.isoformat() if nxt else None,
                "running_since": since.isoformat() if since else None,
                "last_run": run.to_json() if run else None,
            }
        return alive, {
            "status": "ok" if alive else "stopping",
            "scheduler_alive": alive,
            "started_at": self.started_at.isoformat(),
            "uptime_seconds": round((self.clock() - self.started_at).total_seconds(), 1),
            "problems": self.problems,
            "playbooks": playbooks,
        }
