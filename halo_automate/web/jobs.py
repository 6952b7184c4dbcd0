"""Work the console starts (an undo, applying an approved plan), run off the request thread.

A POST that starts a run answers at once with a redirect to the run's page; the run itself is
handed to a ``submit`` function: the daemon's scheduler when the daemon serves the console
(one run at a time, in the daemon's one worker, with its client and request budget), else a
one-thread executor of the console's own. :class:`Jobs` remembers each job's state by the run
id it will journal, so the run page can say "queued" or "running" before the journal has the
run, and the error of a job that ended without an outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from halo_automate.core.outcome import RunOutcome
from halo_automate.errors import HaloAutomateError

log = structlog.get_logger("halo_automate.web.jobs")

Submit = Callable[[Callable[[], None]], object]


@dataclass
class Job:
    run_id: str
    what: str
    state: str = "queued"  # queued, running, finished, refused, crashed
    message: str = ""


class Jobs:
    """The console's jobs by run id (thread-safe)."""

    def __init__(self, submit: Submit | None = None) -> None:
        self._executor: ThreadPoolExecutor | None = None
        if submit is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="web-job")
            submit = self._executor.submit
        self._submit = submit
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, run_id: str, what: str, work: Callable[[], RunOutcome]) -> Job:
        """Queue ``work`` (which journals run ``run_id``) and return its job."""
        job = Job(run_id, what)
        with self._lock:
            self._jobs[run_id] = job

        def run() -> None:
            job.state = "running"
            try:
                outcome = work()
            except HaloAutomateError as e:  # refused before any write (e.g. already applied)
                log.warning("web_job_refused", run_id=run_id, what=what, error=str(e))
                job.state, job.message = "refused", str(e)
                return
            except Exception as e:  # a bug: logged, shown on the run page, the console goes on
                log.exception("web_job_crashed", run_id=run_id, what=what, error=str(e))
                job.state, job.message = "crashed", f"{type(e).__name__}: {e}"
                return
            job.state, job.message = "finished", outcome.message or outcome.status.value

        self._submit(run)
        return job

    def submit(self, what: str, work: Callable[[], object]) -> None:
        """Queue ``work`` that journals its own runs (the daemon's approvals check)."""

        def run() -> None:
            try:
                work()
            except Exception as e:  # a bug: logged; the console goes on
                log.exception("web_job_crashed", what=what, error=str(e))

        self._submit(run)

    def get(self, run_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(run_id)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
