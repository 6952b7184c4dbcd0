"""Everything APScheduler: the daemon's time zone, each schedule's trigger, the scheduler.

A playbook's ``schedule`` is validated and translated in :mod:`halo_automate.core.schedule`
(pure, cron day numbers already mapped); this module only turns it into APScheduler objects,
so the rest of the service never builds a trigger or names an APScheduler option itself.

* **One worker.** All runs share one Halo client, one token and one request budget; one worker
  keeps each run's request count exact and Halo's load predictable. A run due while another
  is going waits its turn (``max_instances=1``, ``coalesce=True``: a backlog of missed fire
  times is one run, and a run later than ``misfire_grace_seconds`` is skipped).
* **Run at start.** A new ``every <n>`` job is due now (service start, or a new file), then
  every ``n``; a cron job waits for its next cron time, because a cron line names the times
  it may run.
* **Time zone.** Cron times are read in ``daemon.timezone``; an unknown zone is a
  :class:`ConfigError` naming the key.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from halo_automate.core.schedule import Schedule
from halo_automate.errors import ConfigError


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


def make_scheduler(timezone: tzinfo, misfire_grace_seconds: int) -> BackgroundScheduler:
    """A scheduler with one worker thread: one run at a time, each job at most once at a time."""
    return BackgroundScheduler(
        timezone=timezone,
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": misfire_grace_seconds,
        },
    )
