"""The console's state: what one running console reads from and acts through.

A :class:`Console` holds the settings, the journal, the runner (None when this process has no
Halo client, e.g. no secret in its environment: the pages still show everything, and the
actions that talk to Halo say why they cannot), the :class:`Service` when the daemon serves
the console (its schedule and runs in flight), the sessions and the login limiter, and the
jobs it started. The routes (:mod:`.app`, :mod:`.pages`) only read and call it.

The playbooks are read from ``playbooks_dir`` on each overview (a few small files), so the
overview and a playbook's page show the files as they are now, with their problems, whether
or not a daemon has reloaded them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from halo_automate.config import Settings
from halo_automate.core.playbook import Playbook, each_playbook, playbook_files
from halo_automate.engine.runner import Runner
from halo_automate.errors import ConfigError
from halo_automate.store.journal import Journal, RunRow
from halo_automate.web.auth import LoginLimiter, Sessions
from halo_automate.web.jobs import Jobs, Submit


class Service(Protocol):
    """What the console reads of a daemon that serves it (the Daemon has these)."""

    def health(self) -> tuple[bool, dict[str, Any]]: ...


@dataclass(frozen=True)
class PlaybookFile:
    """One file of the playbooks folder as it is now."""

    path: Path
    playbook: Playbook | None
    problems: list[str]

    @property
    def name(self) -> str:
        return self.playbook.name if self.playbook else self.path.stem


@dataclass(frozen=True)
class PlaybookRow:
    """One line of the overview's playbooks table."""

    file: PlaybookFile
    last: RunRow | None
    next_run: str | None
    running_since: str | None


class Console:
    """One console (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        runner: Runner | None,
        *,
        service: Service | None = None,
        submit: Submit | None = None,
        halo_problem: str | None = None,
        approvals_check: Callable[[], object] | None = None,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if settings.web is None:
            raise ValueError("the console needs a web: section in the config")
        self.settings = settings
        self.web = settings.web
        self.journal = journal
        self.runner = runner
        self.service = service
        self.halo_problem = halo_problem
        self.approvals_check = approvals_check
        """The daemon's approvals check (it applies approved plans, tracked as its runs and
        announced); None when the console serves alone and applies them itself."""
        self.now = now
        timing: dict[str, Any] = {} if clock is None else {"clock": clock}
        self.sessions = Sessions(self.web.session_hours * 3600, **timing)
        self.limiter = LoginLimiter(
            self.web.login_attempts, self.web.login_window_seconds, **timing
        )
        self.jobs = Jobs(submit)

    def close(self) -> None:
        self.jobs.close()

    # ------------------------------------------------------------------ playbooks

    def playbook_files(self) -> list[PlaybookFile]:
        """Every playbook file in the folder, valid or not, in name order."""
        folder = self.settings.playbooks_dir
        if not folder.is_dir():
            return []
        files = [p for p in playbook_files(folder) if not p.name.startswith(".")]
        return [PlaybookFile(path, pb, problems) for path, pb, problems in each_playbook(files)]

    def playbook_file(self, file_name: str) -> PlaybookFile | None:
        """The file named ``file_name`` in the playbooks folder (only names the folder lists)."""
        return next((f for f in self.playbook_files() if f.path.name == file_name), None)

    def playbook_rows(self) -> list[PlaybookRow]:
        schedule: dict[str, Any] = {}
        if self.service is not None:
            schedule = self.service.health()[1].get("playbooks", {})
        rows = []
        for file in self.playbook_files():
            last = self.journal.runs(limit=1, playbook=file.name)
            job = schedule.get(file.name, {})
            rows.append(
                PlaybookRow(
                    file, last[0] if last else None, job.get("next_run"), job.get("running_since")
                )
            )
        return rows

    # ------------------------------------------------------------------ Halo

    def budget(self) -> tuple[int, int, float] | None:
        """(requests in the window now, requests allowed, window seconds) of this process's
        client, which the daemon's runs share when the daemon serves the console."""
        if self.runner is None:
            return None
        budget = self.runner.client.budget
        return budget.in_window(), budget.requests, budget.per_seconds

    def need_runner(self) -> Runner:
        """The runner, or a ConfigError saying why this console cannot talk to Halo."""
        if self.runner is None:
            raise ConfigError(
                "this console has no Halo client"
                + (f" ({self.halo_problem})" if self.halo_problem else "")
            )
        return self.runner
