"""Runs the console starts: queued until the journal has them, and how they can end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from web_support import client_of, console_settings, login

from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.errors import ApprovalError
from halo_automate.store.journal import Journal
from halo_automate.web.console import Console
from halo_automate.web.jobs import Jobs

RUN_ID = "20260105T090000-abcdef"


def held() -> tuple[list[Callable[[], None]], Jobs]:
    """Jobs whose submitted work waits in a list until the test runs it."""
    queue: list[Callable[[], None]] = []
    return queue, Jobs(queue.append)


def test_a_job_is_queued_then_running_then_finished_with_its_outcome() -> None:
    queue, jobs = held()
    seen = []

    def work() -> RunOutcome:
        seen.append(jobs.get(RUN_ID).state)  # type: ignore[union-attr]
        return RunOutcome(RUN_ID, "pb", "apply", RunStatus.SUCCEEDED)

    job = jobs.start(RUN_ID, "undo", work)
    assert job.state == "queued"
    queue.pop()()
    assert seen == ["running"]
    assert (job.state, job.message) == ("finished", "succeeded")


@pytest.mark.parametrize(
    ("error", "state"),
    [(ApprovalError("run X was applied as run Y"), "refused"), (RuntimeError("boom"), "crashed")],
)
def test_a_job_that_raises_says_why_and_the_console_goes_on(error: Exception, state: str) -> None:
    queue, jobs = held()

    def work() -> RunOutcome:
        raise error

    job = jobs.start(RUN_ID, "apply", work)
    queue.pop()()
    assert job.state == state and str(error) in job.message


def test_submitted_work_that_crashes_is_logged_not_raised() -> None:
    queue, jobs = held()
    jobs.submit("check", lambda: 1 / 0)
    queue.pop()()  # no exception escapes


def test_the_run_page_of_a_queued_run_says_so_and_reloads(tmp_path: Path) -> None:
    settings = console_settings(tmp_path)
    queue: list[Callable[[], None]] = []
    with Journal.open(settings.journal) as journal:
        console = Console(settings, journal, None, submit=queue.append)
        client = client_of(console)
        login(client)
        assert client.get(f"/runs/{RUN_ID}").status_code == 404
        console.jobs.start(RUN_ID, "undo of X by alice", lambda: None)  # type: ignore[arg-type,return-value]
        page = client.get(f"/runs/{RUN_ID}").text
        assert "undo of X by alice: <strong>queued</strong>" in page
        assert '<meta http-equiv="refresh"' in page
