"""What the daemon remembers of its runs, and the Prometheus text it serves from that.

The runner returns one :class:`RunOutcome` for every ending of a run; the daemon keeps that
outcome with the time it ended and the Halo instance it ran on (:class:`FinishedRun`) and adds
it to per-playbook, per-instance counters (:class:`Metrics`). ``/healthz`` shows each job's
last run and ``/metrics`` the counters, both read from these outcomes only, never from the
journal: the run that just ended is the one in hand, so there is nothing to look up (and
nothing to mistake for another process's run).

The exposition (text format 0.0.4) is written here by hand. Metric names, labels and status
values are an interface (dashboards and alerts use them, tests pin them): every series exists
from the start (zero) for each scheduled playbook, and a run refused because another run held
the playbook's lock counts as ``locked``, not ``refused``.

Every series is labelled ``halo_instance`` (the config's name of the Halo the runs talked to)
as well as ``playbook``. Not ``instance``: Prometheus attaches ``instance`` (the scrape
target's host:port) to every series it scrapes, and would rename ours ``exported_instance``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from halo_automate.config import DEFAULT_INSTANCE
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.errors import ExitCode
from halo_automate.service.instances import job_key

LOCKED = "locked"
log = structlog.get_logger("halo_automate.service.metrics")

RUN_RESULTS = (*(str(s) for s in RunStatus if s is not RunStatus.RUNNING), LOCKED)
"""Every ``status`` label a run can end with in the daemon (final statuses plus ``locked``)."""


@dataclass(frozen=True)
class FinishedRun:
    """One scheduled run as the daemon remembers it: the runner's outcome and when it ended.

    ``crashed`` marks a run that raised (a bug): the runner gave no outcome, so the daemon made
    a ``failed`` one of what it saw itself (requests, seconds, the error's text).
    """

    outcome: RunOutcome
    finished_at: datetime
    crashed: bool = False
    instance: str | None = None
    """The config's name of the Halo it ran on (None: the daemon's default instance)."""

    @property
    def status(self) -> str:
        """The run's status label: the outcome's status, or ``locked`` for a lock refusal."""
        return LOCKED if self.outcome.locked else str(self.outcome.status)

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.BUG if self.crashed else self.outcome.exit_code

    def counts(self) -> dict[str, int]:
        """The tickets and requests of the run; a preview's would-be changes are ``previewed``."""
        o = self.outcome
        preview = o.status == RunStatus.PREVIEWED
        return {
            "changed": 0 if preview else o.changed,
            "previewed": o.changed if preview else 0,
            "skipped": o.skipped,
            "failed": o.failed,
            "requests": o.requests,
            "rate_limited": o.rate_limited,
        }

    def to_json(self) -> dict[str, Any]:
        """The ``last_run`` document of ``/healthz``."""
        o = self.outcome
        return {
            "playbook": o.playbook,
            "status": self.status,
            "run_id": o.run_id or None,
            "finished_at": self.finished_at.isoformat(),
            "seconds": round(o.seconds, 3),
            "mode": "preview" if o.status == RunStatus.PREVIEWED else o.mode,
            "scanned": o.scanned,
            "matched": o.matched,
            **self.counts(),
            "message": o.message,
            "exit_code": int(self.exit_code),
        }


_COUNTERS = (
    ("tickets_changed_total", "changed", "Tickets changed by applied runs."),
    ("tickets_previewed_total", "previewed", "Tickets preview (shadow-mode) runs would change."),
    ("tickets_skipped_total", "skipped", "Tickets skipped because they changed since the plan."),
    ("tickets_failed_total", "failed", "Tickets whose write failed."),
    ("requests_total", "requests", "Halo API requests sent by runs."),
    ("rate_limited_total", "rate_limited", "HTTP 429 responses received by runs."),
)


@dataclass
class _Totals:
    """One playbook's sums since the service started, and its last run."""

    runs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RUN_RESULTS, 0))
    counts: dict[str, int] = field(default_factory=lambda: {k: 0 for _, k, _ in _COUNTERS})
    last: FinishedRun | None = None


class Metrics:
    """Counters behind ``/healthz`` and ``/metrics`` (thread-safe), per (instance, playbook);
    ``default_instance`` is the instance of runs recorded without one, and what job keys
    (:func:`~halo_automate.service.instances.job_key`) are made against."""

    def __init__(self, default_instance: str = DEFAULT_INSTANCE) -> None:
        self._lock = threading.Lock()
        self.default_instance = default_instance
        self._totals: dict[tuple[str, str], _Totals] = {}

    def track(self, playbooks: Iterable[str], instance: str | None = None) -> None:
        """Make sure each playbook has (zero) counters on ``instance`` (None: the default
        one), so every series exists from the start."""
        where = instance or self.default_instance
        with self._lock:
            for name in playbooks:
                self._totals.setdefault((where, name), _Totals())

    def record(self, run: FinishedRun) -> None:
        where = run.instance or self.default_instance
        with self._lock:
            totals = self._totals.setdefault((where, run.outcome.playbook), _Totals())
            totals.runs[run.status] = totals.runs.get(run.status, 0) + 1
            for key, n in run.counts().items():
                totals.counts[key] += n
            totals.last = run

    def last_runs(self) -> dict[str, FinishedRun | None]:
        """Each job's last run, by job key (the playbook's name on the default instance)."""
        with self._lock:
            return {
                job_key(name, where, self.default_instance): totals.last
                for (where, name), totals in self._totals.items()
            }

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
            items = [({"halo_instance": i, "playbook": p}, t) for (i, p), t in
                     sorted(self._totals.items())]  # fmt: skip
            out.family("runs_total", "counter", "Scheduled runs by final status.")
            for labels, totals in items:
                for status, n in sorted(totals.runs.items()):
                    out.sample("runs_total", {**labels, "status": status}, n)
            for metric, key, help_text in _COUNTERS:
                out.family(metric, "counter", help_text)
                for labels, totals in items:
                    out.sample(metric, labels, totals.counts[key])
            _last_run_gauges(out, [(labels, t.last) for labels, t in items if t.last is not None])
        return out.text()


_GAUGES: tuple[tuple[str, str, Callable[[FinishedRun], float]], ...] = (
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
    ("last_run_duration_seconds", "How long the last run took.", lambda r: r.outcome.seconds),
)


def _last_run_gauges(out: _Exposition, done: list[tuple[Mapping[str, str], FinishedRun]]) -> None:
    for metric, help_text, value in _GAUGES:
        out.family(metric, "gauge", help_text)
        for labels, last in done:
            out.sample(metric, labels, value(last))


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


def log_ending(run: FinishedRun) -> None:
    """Log a run that ended with an error: ``run_failed``, ``run_refused`` or ``run_locked``."""
    outcome = run.outcome
    if outcome.status not in (RunStatus.FAILED, RunStatus.REFUSED):
        return
    context = {
        "run_id": outcome.run_id or None,
        "error": str(outcome.error) if outcome.error is not None else outcome.message,
        "error_type": type(outcome.error).__name__ if outcome.error is not None else None,
    }
    if outcome.status == RunStatus.REFUSED:
        log.warning(f"run_{run.status}", **context)
    else:
        log.error("run_failed", **context, note="the next scheduled run tries again")
