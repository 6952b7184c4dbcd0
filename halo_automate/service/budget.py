"""Budget awareness: what the schedules cost an hour, against the instance's request budget.

A tenant's budget (about 300 requests per rolling 5 minutes, 3,600 an hour) is shared with
every other integration the MSP runs. ``validate`` and the daemon's start estimate each
schedule's requests per hour (:func:`estimate`) and warn when the total passes
``reads.budget_warn_share`` of the instance's budget; ``/metrics`` exports what the runs
actually used in the last hour (:class:`RequestRate`).

A schedule's cost per run is, in order of trust:

1. **journal**: the median requests of its last ten scheduled runs on this instance (so a
   playbook that reads incrementally is estimated at what its runs now cost, not at its first
   full read);
2. **tickets**: a full read of the largest ticket count the journal saw a run of this
   instance scan (pages of 100, plus the id listing and the instance facts), before the
   playbook's first run;
3. **assumed**: the same for an assumed 1,000 tickets (a journal that knows nothing).

Runs per hour come from the schedule (:func:`~halo_automate.core.lint.runs_per_day`).
"""

from __future__ import annotations

import math
import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from halo_automate.config import RateLimit, Settings
from halo_automate.core.lint import runs_per_day
from halo_automate.core.playbook import Playbook
from halo_automate.store.journal import Journal

log = structlog.get_logger("halo_automate.service.budget")

ASSUMED_TICKETS = 1000
PAGE = 100
RECENT_RUNS = 10
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class ScheduleCost:
    """One schedule's estimated cost."""

    playbook: str
    schedule: str
    runs_per_hour: float
    requests_per_run: float
    source: str  # journal (n runs) | tickets (n) | assumed (n tickets)

    @property
    def requests_per_hour(self) -> float:
        return self.runs_per_hour * self.requests_per_run


@dataclass(frozen=True)
class BudgetEstimate:
    """Every schedule's cost against the instance's hourly budget."""

    instance: str
    costs: tuple[ScheduleCost, ...]
    budget_per_hour: float
    warn_share: float

    @property
    def total_per_hour(self) -> float:
        return sum(c.requests_per_hour for c in self.costs)

    @property
    def share(self) -> float:
        return self.total_per_hour / self.budget_per_hour if self.budget_per_hour else 0.0

    @property
    def over(self) -> bool:
        return self.share > self.warn_share

    def lines(self) -> list[str]:
        """One line per schedule, then the total (what ``validate`` prints)."""
        out = [
            f"  {c.playbook} ({c.schedule}): ~{c.requests_per_hour:,.0f} requests/hour "
            f"({c.runs_per_hour:g} runs x {c.requests_per_run:,.1f}, from {c.source})"
            for c in self.costs
        ]
        out.append(self.summary())
        return out

    def summary(self) -> str:
        verdict = (
            f"over the warning share of {self.warn_share:.0%}"
            if self.over
            else f"under the warning share of {self.warn_share:.0%}"
        )
        return (
            f"budget: schedules on instance {self.instance!r} estimated at "
            f"~{self.total_per_hour:,.0f} requests/hour, {self.share:.0%} of its "
            f"{self.budget_per_hour:,.0f}/hour, {verdict}"
        )


def budget_per_hour(limit: RateLimit) -> float:
    return limit.requests * 3600 / limit.per_seconds


def full_read_cost(tickets: int) -> int:
    """Requests of a full read of ``tickets``: its pages, the id listing when it has more
    than one, and the instance facts a run reads."""
    pages = max(1, math.ceil(tickets / PAGE))
    return pages + (1 if pages > 1 else 0) + 1


def estimate(
    playbooks: Iterable[Playbook],
    *,
    instance: str,
    limit: RateLimit,
    warn_share: float,
    journal: Journal | None = None,
) -> BudgetEstimate:
    """Estimate every scheduled playbook's requests per hour (see the module docstring)."""
    scheduled = [pb for pb in playbooks if pb.schedule is not None]
    seen = _largest_scan(journal, instance) if journal is not None else None
    costs = []
    for pb in scheduled:
        assert pb.schedule is not None
        recent = journal.recent_requests(pb.name, instance, RECENT_RUNS) if journal else []
        if recent:
            per_run, source = float(statistics.median(recent)), f"journal ({len(recent)} runs)"
        elif seen:
            per_run, source = float(full_read_cost(seen)), f"tickets ({seen:,})"
        else:
            per_run = float(full_read_cost(ASSUMED_TICKETS))
            source = f"assumed ({ASSUMED_TICKETS:,} tickets)"
        costs.append(
            ScheduleCost(pb.name, pb.schedule.text, runs_per_day(pb) / 24, per_run, source)
        )
    return BudgetEstimate(instance, tuple(costs), budget_per_hour(limit), warn_share)


def announce(playbooks: Iterable[Playbook], settings: Settings, served: Any) -> BudgetEstimate:
    """The daemon's start: estimate the default instance's schedules from its runner's
    journal, log it (``budget_estimate``), warn when over the share (``budget_over_share``)."""
    runner = getattr(served, "runners", {}).get(getattr(served, "default_instance", None))
    journal = getattr(runner, "journal", None)  # the daemon's tests fake a runner without one
    found = estimate(
        playbooks, instance=settings.instance_name, limit=settings.halo.rate_limit,
        warn_share=settings.reads.budget_warn_share, journal=journal,
    )  # fmt: skip
    fields = {
        "instance": found.instance,
        "requests_per_hour": round(found.total_per_hour),
        "budget_per_hour": round(found.budget_per_hour),
        "share": round(found.share, 3),
        "per_playbook": {c.playbook: round(c.requests_per_hour, 1) for c in found.costs},
    }
    if found.over:
        log.warning("budget_over_share", warn_share=found.warn_share, **fields,
                    note="run schedules less often, narrow their selects, or raise "
                    "reads.budget_warn_share")  # fmt: skip
    else:
        log.info("budget_estimate", **fields)
    return found


def _largest_scan(journal: Journal, instance: str) -> int | None:
    runs = [r for r in journal.runs(limit=200) if r.instance_name == instance]
    return max((r.counts.scanned for r in runs), default=0) or None


class RequestRate:
    """Requests of the runs that ended in the last hour, per playbook (``/metrics``)."""

    def __init__(self, clock: Callable[[], datetime], limit: RateLimit) -> None:
        self.clock = clock
        self.limit = limit
        self.estimate: BudgetEstimate | None = None
        self._lock = threading.Lock()
        self._runs: deque[tuple[datetime, str, int]] = deque()

    def announce(self, playbooks: Iterable[Playbook], settings: Settings, served: Any) -> None:
        """The daemon's start: :func:`announce` the estimate and keep it for ``/metrics``."""
        self.estimate = announce(playbooks, settings, served)

    def record(self, playbook: str, requests: int, ended: datetime) -> None:
        with self._lock:
            self._runs.append((ended, playbook, requests))

    def last_hour(self) -> dict[str, int]:
        cutoff = self.clock() - HOUR
        with self._lock:
            while self._runs and self._runs[0][0] < cutoff:
                self._runs.popleft()
            totals: dict[str, int] = {}
            for _, name, n in self._runs:
                totals[name] = totals.get(name, 0) + n
        return totals

    def prometheus(self, playbooks: Sequence[str]) -> str:
        """The budget families of ``/metrics`` (text format 0.0.4)."""
        used = self.last_hour()
        budget = budget_per_hour(self.limit)
        lines = [
            "# HELP halo_automate_playbook_requests_per_hour Requests of the playbook's runs "
            "that ended in the last hour.",
            "# TYPE halo_automate_playbook_requests_per_hour gauge",
            *(
                f'halo_automate_playbook_requests_per_hour{{playbook="{_label(name)}"}} '
                f"{used.get(name, 0)}"
                for name in sorted(set(playbooks) | set(used))
            ),
            "# HELP halo_automate_budget_requests_per_hour The instance's request budget per "
            "hour (halo.rate_limit).",
            "# TYPE halo_automate_budget_requests_per_hour gauge",
            f"halo_automate_budget_requests_per_hour {budget:g}",
            "# HELP halo_automate_budget_used_per_hour Requests of all runs that ended in the "
            "last hour.",
            "# TYPE halo_automate_budget_used_per_hour gauge",
            f"halo_automate_budget_used_per_hour {sum(used.values())}",
            "# HELP halo_automate_budget_used_ratio The budget in use: the last hour's "
            "requests over the hourly budget.",
            "# TYPE halo_automate_budget_used_ratio gauge",
            f"halo_automate_budget_used_ratio {sum(used.values()) / budget:.6g}",
        ]
        if self.estimate is not None:
            lines += [
                "# HELP halo_automate_estimated_requests_per_hour The start estimate of each "
                "schedule's requests per hour.",
                "# TYPE halo_automate_estimated_requests_per_hour gauge",
                *(
                    f'halo_automate_estimated_requests_per_hour{{playbook="{_label(c.playbook)}"}}'
                    f" {c.requests_per_hour:.6g}"
                    for c in self.estimate.costs
                ),
            ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
