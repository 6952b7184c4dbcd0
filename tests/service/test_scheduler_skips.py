"""Issue 19.6: a job due while its last run is still going gives one structlog event,
``run_skipped_still_running playbook=... instance=...``, not APScheduler's raw "skipped:
maximum number of running instances reached (1)" line."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from structlog.testing import capture_logs

from halo_automate.service.triggers import make_scheduler


def test_a_skip_is_one_clear_event_and_no_raw_line(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = make_scheduler(UTC, 60)
    release, running, skipped = threading.Event(), threading.Event(), threading.Event()

    def job() -> None:
        running.set()
        release.wait(30)

    scheduler.add_listener(lambda _: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    caplog.set_level(logging.DEBUG, logger="apscheduler")
    with capture_logs() as events:
        scheduler.start()
        try:
            now = datetime.now(UTC)
            scheduler.add_job(job, "interval", hours=1, id="close-spam@uat", next_run_time=now)
            assert running.wait(30)
            scheduler.modify_job("close-spam@uat", next_run_time=datetime.now(UTC))
            assert skipped.wait(30)
        finally:
            release.set()
            scheduler.shutdown(wait=True)
    mine = [e for e in events if e["event"] == "run_skipped_still_running"]
    assert len(mine) == 1
    assert (mine[0]["playbook"], mine[0]["instance"]) == ("close-spam", "uat")
    assert not [r for r in caplog.records if "maximum number of running" in r.getMessage()]
