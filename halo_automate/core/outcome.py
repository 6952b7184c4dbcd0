"""The one outcome of a run: what the runner returns for every ending, and what is journaled.

A run ends ``succeeded``, ``partial`` (some tickets failed or were skipped), ``refused`` (a
limit, a lock or the user said no; nothing written), ``failed`` (Halo, the journal or the
plan failed), ``interrupted`` (stopped between batches) or ``previewed`` (a shadow run that
only planned). A run whose plan needs a person's approval (issue 16) ends ``awaiting_approval``
(nothing written; its plan waits in the journal), and that run's row later becomes
``approved`` (applied as another run), ``rejected`` or ``expired``. The runner builds one
:class:`RunOutcome` for each run, journals it once, and returns it; the CLI, the daemon, its
metrics and the summary log line all read this value, never the journal. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from halo_automate.errors import ExitCode, HaloAutomateError


class RunStatus(StrEnum):
    """A run's status in the journal; every status but ``running`` and ``awaiting_approval``
    is final (a waiting plan is decided by :mod:`halo_automate.engine.approvals`)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    REFUSED = "refused"
    PREVIEWED = "previewed"
    INTERRUPTED = "interrupted"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class RunOutcome:
    """What one run did (counts are tickets; ``requests`` every HTTP request of the run)."""

    run_id: str
    playbook: str
    mode: str
    status: RunStatus
    trigger: str = ""
    scanned: int = 0
    matched: int = 0
    planned: int = 0
    changed: int = 0
    """Tickets written (applied runs); for a preview, the tickets it would change."""
    skipped: int = 0
    failed: int = 0
    requests: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    message: str | None = None
    error: HaloAutomateError | None = None
    """The error that ended a ``failed`` or ``refused`` run (the CLI prints it)."""
    locked: bool = False
    """Refused because another run held the playbook's lock."""
    failures: tuple[tuple[int, str], ...] = ()
    skips: tuple[tuple[int, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.PREVIEWED)

    @property
    def exit_code(self) -> ExitCode:
        """0 ok; the error's own code for a refused or failed run; 5 partial or interrupted."""
        if self.error is not None:
            return self.error.exit_code
        if self.status in (RunStatus.PARTIAL, RunStatus.INTERRUPTED):
            return ExitCode.PARTIAL
        if self.status in (RunStatus.REFUSED, RunStatus.REJECTED, RunStatus.EXPIRED):
            return ExitCode.REFUSED
        if self.status is RunStatus.FAILED:
            return ExitCode.UNREACHABLE
        return ExitCode.OK

    def summary(self) -> dict[str, Any]:
        """The fields of the one ``run_summary`` log line."""
        return {
            "run_id": self.run_id,
            "playbook": self.playbook,
            "mode": self.mode,
            "status": str(self.status),
            "scanned": self.scanned,
            "matched": self.matched,
            "changed": self.changed,
            "skipped": self.skipped,
            "failed": self.failed,
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "seconds": round(self.seconds, 3),
            "message": self.message,
        }


def worst_exit_code(outcomes: list[RunOutcome]) -> ExitCode:
    """The highest exit code of several runs (0 when there are none)."""
    return max((o.exit_code for o in outcomes), default=ExitCode.OK)
