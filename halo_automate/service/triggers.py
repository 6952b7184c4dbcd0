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
* **A run still going.** When a job comes due while its previous run is still going,
  APScheduler skips it and logs a raw "skipped: maximum number of running instances reached
  (1)" line; that line is dropped here and one structlog event says it instead:
  ``run_skipped_still_running playbook=... instance=...`` (once per skipped fire time).
* **Time zone.** Cron times are read in ``daemon.timezone``; an unknown zone is a
  :class:`ConfigError` naming the key.

The test switch (like ``HALO_AUTOMATE_INSTANT_BACKOFF`` for back-off):
``HALO_AUTOMATE_SCHEDULE_SPEEDUP=<f>`` in the environment makes every ``every <n>`` interval
``f`` times shorter, so an end-to-end test of the service (a subprocess) does not wait out the
5-second minimum between scheduled runs. Cron times are unchanged; unset, it changes nothing.
"""

from __future__ import annotations

import logging
import math
import os
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from halo_automate.core.schedule import Schedule
from halo_automate.errors import ConfigError

log = structlog.get_logger(__name__)

SCHEDULE_SPEEDUP_ENV = "HALO_AUTOMATE_SCHEDULE_SPEEDUP"
"""A number > 1 makes ``every <n>`` intervals that many times shorter (tests only)."""


def schedule_speedup() -> float:
    """The :data:`SCHEDULE_SPEEDUP_ENV` factor: 1 unless set to a number above 1."""
    try:
        factor = float(os.environ.get(SCHEDULE_SPEEDUP_ENV, "") or 1)
    except ValueError:
        return 1.0
    return factor if 1 < factor < math.inf else 1.0


def resolve_timezone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"daemon.timezone: unknown time zone {name!r}") from None


def make_trigger(schedule: Schedule, timezone: tzinfo) -> CronTrigger | IntervalTrigger:
    """The APScheduler trigger for a validated schedule, in the daemon's time zone."""
    kwargs = schedule.trigger_kwargs()
    if schedule.kind == "interval":
        return IntervalTrigger(
            timezone=timezone, seconds=int(kwargs["seconds"]) / schedule_speedup()
        )
    return CronTrigger(timezone=timezone, **kwargs)


def job_options(schedule: Schedule, timezone: tzinfo, now: datetime) -> dict[str, Any]:
    """``add_job`` options for a newly scheduled playbook: intervals run at once, cron waits."""
    options: dict[str, Any] = {"trigger": make_trigger(schedule, timezone)}
    if schedule.kind == "interval":
        options["next_run_time"] = now.astimezone(timezone)
    return options


def make_scheduler(timezone: tzinfo, misfire_grace_seconds: int) -> BackgroundScheduler:
    """A scheduler with one worker thread: one run at a time, each job at most once at a time."""
    scheduler = BackgroundScheduler(
        timezone=timezone,
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": misfire_grace_seconds,
        },
    )
    scheduler.add_listener(_skipped, EVENT_JOB_MAX_INSTANCES)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _DropStillRunning) for f in scheduler_log.filters):
        scheduler_log.addFilter(_DropStillRunning())
    return scheduler


def _skipped(event: JobSubmissionEvent) -> None:
    """One clear event for a fire time skipped because the job's last run is still going
    (job ids are ``playbook`` on the default instance, ``playbook@instance`` otherwise)."""
    playbook, _, instance = str(event.job_id).partition("@")
    log.warning(
        "run_skipped_still_running",
        playbook=playbook,
        instance=instance or "(default)",
        due=[t.isoformat() for t in event.scheduled_run_times],
    )


class _DropStillRunning(logging.Filter):
    """Drop APScheduler's raw "maximum number of running instances reached" warning
    (:func:`_skipped` logs it as ``run_skipped_still_running``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in str(record.msg)
