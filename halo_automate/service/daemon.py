"""The service: scheduled playbooks, signals, reload, health. No business logic here.

``halo-automate daemon`` loads every playbook in ``playbooks_dir`` and runs each one that has
a ``schedule`` as an APScheduler job (``max_instances=1``, ``coalesce=True``, a bounded
``misfire_grace_time``). Every run goes through :meth:`Runner.run` with ``confirm=None``: no
prompt, but every limit still holds (a plan over ``max_changes`` is refused and journaled as
refused), and a playbook with ``mode: preview`` is only planned and journaled (shadow mode).

This module is the :class:`Daemon`: the lifecycle (start, reload, stop, ``--once``), signals,
and what it does with each run's outcome. Its parts each have their own module:
:mod:`.triggers` (APScheduler: triggers, time zone, the scheduler), :mod:`.folder` (loading
and watching the playbooks folder), :mod:`.metrics` (what is remembered of runs, and the
Prometheus text), :mod:`.instances` (the Halo instances served, a runner each, and their
jobs), :mod:`.signals` (the handlers) and :mod:`.health` (the optional read-only
HTTP endpoint, ``daemon.health``, loopback unless ``daemon.health_allow_remote``: ``/healthz``
JSON and ``/metrics``).

Decisions, and why:

* **One run at a time.** All runs on an instance share its Halo client (:mod:`.instances`),
  so one token and one request budget; running them side by side would only compete for it.
  One worker keeps each run's request count exact and Halo's load predictable. A run due
  while another is going (on any instance) waits its turn. The journal lock still refuses a
  manual ``halo-automate run`` of the same playbook at the same time (the loser logs
  ``run_locked`` and tries on its next turn).
* **Run at start.** An ``every <n>`` playbook runs as soon as it is scheduled (service start,
  or a new file), then every ``n``: a freshly started service does work immediately. A cron
  playbook waits for its next cron time, because a cron line names the times it may run.
* **Reload.** SIGHUP, or a change in the playbooks folder (polled every ``poll_seconds`` when
  ``daemon.watch_playbooks``), reloads every file. A file that no longer validates is logged
  with its ``file:line:column`` problems and its previous good version keeps running. A
  changed schedule is rescheduled from the reload; any other change is used from the next
  run. The config file itself is read once: restart to change it.
* **Stop.** SIGTERM or SIGINT: no new runs; the runner is asked to stop after the in-flight
  batch, which is journaled; a run still reading or planning stops before its next
  request and is journaled interrupted (``halo.stopping``); exit 0 once nothing is in
  flight. If a run is still in flight after ``daemon.stop_timeout_seconds``, :meth:`serve`
  returns ``ExitCode.PARTIAL`` (5) and the CLI exits at once without waiting for it. The
  journal stays consistent: a write is journaled *pending* before it is sent, so an
  abandoned batch leaves pending rows, which the next start (:meth:`Runner.recover` runs for
  every playbook before the scheduler starts) or ``halo-automate recover`` reconciles.
* **Faults.** A Halo outage, a storm of 5xx, an auth failure, a refusal or a lock fails that
  run only: the runner journals it and returns its outcome, from which the log line
  (``run_failed``, ``run_refused``, ``run_locked``), the metrics, ``/healthz`` and ``--once``'s
  exit code are made (never from the journal); the next scheduled run tries again. Even an
  unexpected exception in a run (a bug) is logged with its traceback (``run_crashed``) and
  the service goes on.

Signal handlers only set flags and wake the main thread (:mod:`.wakeup`), which then acts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from halo_automate.config import Settings
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.playbook import Playbook
from halo_automate.core.schedule import Schedule
from halo_automate.engine.runner import Runner
from halo_automate.errors import ConfigError, ExitCode, PlaybookError
from halo_automate.logs import bound
from halo_automate.service.companions import Companions, WebhookJob
from halo_automate.service.folder import Loaded, folder_snapshot, load_folder
from halo_automate.service.health import HealthServer, serve_health
from halo_automate.service.instances import Job, Served
from halo_automate.service.metrics import FinishedRun, Metrics, job_health, log_ending
from halo_automate.service.oversight import Oversight
from halo_automate.service.shutdown import abandoned_note
from halo_automate.service.signals import install_handlers
from halo_automate.service.triggers import (
    job_options,
    make_scheduler,
    make_trigger,
    resolve_timezone,
)
from halo_automate.service.wakeup import Wakeup
from halo_automate.web.server import DaemonConsole

log = structlog.get_logger("halo_automate.service.daemon")

Clock = Callable[[], datetime]


class Daemon:
    """Runs every scheduled playbook until told to stop (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        runner: Runner | Served,
        *,
        poll_seconds: float = 0.5,
        install_signals: bool = True,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.served = Served.of(runner, settings)
        self.poll_seconds = poll_seconds
        self.install_signals = install_signals
        self.clock = clock
        self.timezone = resolve_timezone(settings.daemon.timezone)
        self.metrics = Metrics(self.served.default_instance)
        self.started_at = clock()
        self.problems: list[str] = []
        self.abandoned: list[str] = []  # runs still in flight when the stop timeout expired
        self._files: dict[Path, Playbook] = {}
        self._by_name: dict[str, Playbook] = {}
        self._scheduled: dict[str, Schedule] = {}
        self._snapshot: dict[str, tuple[int, int]] | None = None
        self._stop_requested = False  # set by signal handlers: plain flags only
        self._reload_requested = False
        self._wakeup = Wakeup()  # serve() sleeps in it; stop and reload requests wake it
        self._cond = threading.Condition()
        self._stopping = False
        self._running: dict[str, datetime] = {}
        self._health: HealthServer | None = None
        self.scheduler = make_scheduler(self.timezone, settings.daemon.misfire_grace_seconds)
        self.oversight = Oversight(settings, self.served, lambda: self.playbooks, clock=clock)
        self.console = DaemonConsole(self)  # the web console, when the config has web:
        self.beside = Companions(settings, self.served, clock, self.scheduler)  # issue 15

    @property
    def runner(self) -> Runner:
        """The runner of the default instance (else the first served): the web console's."""
        return self.served.primary

    # ------------------------------------------------------------------ playbooks

    @property
    def playbooks(self) -> dict[str, Playbook]:
        """Every loaded playbook by name (scheduled or not), in file order."""
        return dict(self._by_name)

    def scheduled(self) -> list[Playbook]:
        return [pb for pb in self._by_name.values() if pb.schedule is not None]

    def jobs(self) -> list[Job]:
        """Each scheduled playbook on each served instance it allows."""
        return self.served.jobs(self.scheduled())

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
        for job in self.jobs():
            self.metrics.track([job.playbook.name], job.instance)
        log.info(
            "playbooks_loaded",
            scheduled=[
                f"{pb.name} ({pb.mode}, {pb.schedule.text})"
                for pb in self.scheduled()
                if pb.schedule
            ],
            manual_only=len(self._by_name) - len(self.scheduled()),
            problems=len(self.problems),
            instances=self.served.names,
            not_served=self.served.unserved(self.scheduled()),
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
        wanted = {job.key: job.playbook.schedule for job in self.jobs() if job.playbook.schedule}
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

    def run_job(self, name: str, webhook: WebhookJob | None = None) -> FinishedRun | None:
        """Run job ``name`` (its key, :mod:`.instances`) or ``webhook``'s; None: stopping,
        gone, or paused."""
        job = webhook.job if webhook else next((j for j in self.jobs() if j.key == name), None)
        if job is None or self.oversight.holds(job.playbook.name, job.instance):  # paused
            return None
        with self._in_flight(name) as admitted:
            if not admitted:
                log.info("run_not_started", playbook=job.playbook.name, reason="stopping")
                return None
            with bound(playbook=job.playbook.name, instance=job.instance):
                return self._run(job.playbook, job.instance, webhook)

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

    def _run(self, playbook: Playbook, instance: str, hook: WebhookJob | None) -> FinishedRun:
        runner, how = self.served.runner(instance), self.beside.begin(playbook, instance, hook)
        started, before = time.monotonic(), runner.client.begin_run()
        try:
            outcome = runner.run(playbook, confirm=None, **how)
        except Exception as e:  # a bug: the runner returns every other ending; the service goes on
            log.exception(
                "run_crashed",
                run_id=None,
                error=str(e),
                error_type=type(e).__name__,
                note="a bug; the service goes on",
            )
            after = runner.client.stats.snapshot()
            crash = RunOutcome(
                "", playbook.name, playbook.mode, RunStatus.FAILED, message=str(e),
                requests=after["requests"] - before["requests"],
                rate_limited=after["rate_limited"] - before["rate_limited"],
                seconds=time.monotonic() - started,
            )  # fmt: skip
            run = FinishedRun(crash, self.clock(), crashed=True, instance=instance)
        else:
            run = FinishedRun(outcome, self.clock(), instance=instance)
            log_ending(run)
            self.oversight.after_run(playbook, instance, outcome)
        self.metrics.record(run)
        self.beside.ended(run)
        return run

    def approvals_job(self) -> None:
        """Expire overdue plans; apply the approved ones, each as a run in flight."""
        for run in self.oversight.check(self._in_flight):
            self.metrics.record(run)

    def recover_all(self) -> None:
        """Reconcile interrupted runs, each instance its own (:meth:`.instances.Served.recover`)."""
        self.served.recover()

    # ------------------------------------------------------------------ lifecycle

    def run_once(self) -> ExitCode:
        """Run every scheduled playbook once now, in file order; return the exit code.

        The code is the highest of the runs' codes (0 ok, 3 Halo or journal failed, 4 refused
        or locked, 5 partial or interrupted), and at least 2 when a playbook file is invalid.
        SIGTERM/SIGINT let the in-flight batch finish and skip the playbooks not yet run.
        """
        restore = self.install_signal_handlers(once=True) if self.install_signals else None
        try:
            self._load_initial()
            self.recover_all()
            codes = [ExitCode.INVALID] if self.problems else []
            self.approvals_job()
            self.beside.shared.hold(self.clock())  # one moment: identical reads are made once
            for job in self.oversight.unpaused(self.jobs()):
                if self._stop_requested:
                    log.info("run_not_started", playbook=job.playbook.name, reason="stopping")
                    continue
                with bound(playbook=job.playbook.name, instance=job.instance):
                    codes.append(self._run(job.playbook, job.instance, None).exit_code)
            return max(codes, default=ExitCode.OK)
        finally:
            self.oversight.close()  # the notifications of this pass are tried before exiting
            if restore is not None:
                restore()

    def serve(self) -> ExitCode:
        """Run until SIGTERM/SIGINT (or :meth:`request_stop`); return the exit code."""
        restore = self.install_signal_handlers() if self.install_signals else None
        try:
            self._load_initial()
            self._start_health()
            self.console.start()
            self.recover_all()
            self._schedule()
            self.oversight.schedule(self.scheduler, self.approvals_job)
            self.beside.start(self, self.scheduled(), self.scheduler)
            self.scheduler.start()
            log.info("daemon_started", playbooks=len(self._scheduled),
                     health=self.health_address, webhooks=self.beside.address)  # fmt: skip
            # polls the folder; a request (a signal on any thread too) wakes it at once
            with self._wakeup, self._wakeup.woken_by_signals(self.install_signals):
                while not self._stop_requested:
                    self.check_reload()  # first: a request made while starting is not lost
                    self._wakeup.wait(self.poll_seconds)
            return self._shutdown()
        finally:
            self.beside.close()
            self._stop_health()
            self.console.stop()
            if restore is not None:
                restore()

    def request_stop(self) -> None:
        self._stop_requested = True
        self._wakeup.wake()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wakeup.wake()

    def check_reload(self) -> None:
        """One pass of the reload check :meth:`serve` makes every ``poll_seconds``: reload
        if asked to (SIGHUP, :meth:`request_reload`) or if the watched folder changed."""
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

    def install_signal_handlers(self, *, once: bool = False) -> Callable[[], None] | None:
        """Install the signal handlers (main thread only); ``once``: a stop stops the runner too."""

        def on_stop() -> None:
            self.request_stop()
            if once:
                self.served.request_stop()

        return install_handlers(on_stop, self.request_reload)

    def _shutdown(self) -> ExitCode:
        timeout = self.settings.daemon.stop_timeout_seconds
        with self._cond:
            self._stopping = True
            log.info("daemon_stopping", timeout_seconds=timeout, in_flight=sorted(self._running))
        self.served.request_stop()
        self.scheduler.shutdown(wait=False)
        with self._cond:
            clean = self._cond.wait_for(lambda: not self._running, timeout)
            self.abandoned = sorted(self._running)
        if not clean:
            log.error(
                "stop_timeout",
                in_flight=self.abandoned,
                note=abandoned_note(self.runner),
            )
            return ExitCode.PARTIAL
        self.oversight.close()
        log.info("daemon_stopped")
        return ExitCode.OK

    # ------------------------------------------------------------------ health

    def _start_health(self) -> None:
        d = self.settings.daemon
        if d.health:
            self._health = serve_health(
                d.health, d.health_allow_remote, self.health, self.prometheus
            )

    def _stop_health(self) -> None:
        if self._health is not None:
            self._health.close()
            self._health = None

    @property
    def health_address(self) -> str | None:
        """``host:port`` the health endpoint listens on; None until it listens (or after)."""
        health = self._health
        return health.address if health is not None else None

    def in_flight(self) -> dict[str, datetime]:
        """A snapshot of the runs in flight: playbook name -> when its run started."""
        with self._cond:
            return dict(self._running)

    @property
    def alive(self) -> bool:
        return bool(self.scheduler.running) and not self._stopping

    def prometheus(self) -> str:
        text = self.metrics.prometheus(up=self.alive, problems=len(self.problems))
        return text + self.oversight.prometheus() + self.beside.prometheus(self.jobs())

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(alive, the /healthz document): scheduler state, each playbook's next and last run."""
        alive, last, running = self.alive, self.metrics.last_runs(), self.in_flight()
        nexts = {job.id: getattr(job, "next_run_time", None) for job in self.scheduler.get_jobs()}
        playbooks = {
            j.key: job_health(j, nexts.get(j.key), running.get(j.key), last.get(j.key))
            for j in self.jobs()
        }
        stuck = self.served.overdue(running, self.clock())
        return alive and not stuck, {
            "status": ("stuck" if stuck else "ok") if alive else "stopping",
            "stuck_runs": stuck,
            "scheduler_alive": alive,
            "started_at": self.started_at.isoformat(),
            "uptime_seconds": round((self.clock() - self.started_at).total_seconds(), 1),
            "problems": self.problems,
            "playbooks": playbooks,
            **self.oversight.status(),
        }
