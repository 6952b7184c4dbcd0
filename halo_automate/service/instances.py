"""The Halo instances a daemon serves, each with its own runner, and the jobs they make.

``halo-automate daemon`` serves every instance of the config (or those named by repeated
``--instance``). Each instance gets its own :class:`~halo_automate.halo.client.HaloClient`
(so its own token and its own request budget: Halo's limit is per tenant) and its own
:class:`~halo_automate.engine.runner.Runner` over the one journal. A scheduled playbook is a
job on every served instance its ``instances:`` allows (:mod:`halo_automate.core.instance_scope`),
so one file can run on prod and on uat, each run journaled, logged and counted with its
instance.

A job's key (its APScheduler id, and its key in ``/healthz`` and the daemon's in-flight list)
is the playbook's name on the config's default instance, and ``playbook@instance`` on any
other: a daemon of one ``halo:`` block keeps the keys it always had, and adding an instance to
the config does not rename the default instance's jobs.

The daemon still runs one job at a time (its scheduler has one worker): runs on different
instances do not compete for a budget, but they share the journal and the playbook locks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from halo_automate.config import Settings
from halo_automate.core.instance_scope import allowed_on
from halo_automate.core.playbook import Playbook
from halo_automate.engine.runner import Runner
from halo_automate.service.health import overdue
from halo_automate.store.journal import Journal

log = structlog.get_logger("halo_automate.service.instances")


def job_key(playbook: str, instance: str, default_instance: str) -> str:
    """The key of ``playbook``'s job on ``instance`` (see the module docstring)."""
    return playbook if instance == default_instance else f"{playbook}@{instance}"


@dataclass(frozen=True)
class Job:
    """One scheduled playbook on one served instance."""

    key: str
    playbook: Playbook
    instance: str


class Served:
    """The instances a daemon serves, in order (the default instance first), each with its
    runner; ``default_instance`` is the config's (job keys are made against it)."""

    def __init__(
        self,
        runners: Mapping[str, Runner],
        default_instance: str,
        deadlines: Mapping[str, float] | None = None,
    ) -> None:
        if not runners:
            raise ValueError("a daemon serves at least one instance")
        self.runners = dict(runners)
        self.default_instance = default_instance
        self.deadlines = dict(deadlines or {})
        """Each instance's ``run_deadline_seconds`` (a run past it is stuck)."""
        self.closing: list[Callable[[], None]] = []
        """What :meth:`close` closes besides the clients (the shared budget's window)."""

    @classmethod
    def single(cls, name: str, runner: Runner, deadline_seconds: float) -> Served:
        """One instance served by one runner (a daemon built the way it was before instances)."""
        return cls({name: runner}, name, {name: deadline_seconds})

    @classmethod
    def of(cls, runner: Runner | Served, settings: Settings) -> Served:
        """``runner`` itself when it is a :class:`Served`; a single runner serves the selected
        instance of ``settings`` alone."""
        if isinstance(runner, Served):
            return runner
        halo = settings.halo
        return cls.single(settings.instance_name, runner, halo.run_deadline_seconds)

    @classmethod
    def open(cls, settings: Settings, names: Sequence[str], journal: Journal) -> Served:
        """A client and runner for each instance ``names`` (none: every instance of the
        config). An unknown name is a ConfigError with a did-you-mean; a repeated one counts
        once."""
        from halo_automate.halo.client import HaloClient
        from halo_automate.halo.ratelimit import RequestBudget
        from halo_automate.store.budget import JournalWindow

        chosen = list(dict.fromkeys(names)) or sorted(
            settings.instances, key=lambda n: (n != settings.default_instance, n)
        )
        selected = [settings.select_instance(name) for name in chosen]  # validates every name
        runners: dict[str, Runner] = {}
        # One budget per instance across every process (the CLI's too): its window lives in
        # the journal (store/budget.py); a service logs its waits, no countdown.
        window = JournalWindow.open(journal.path)
        try:
            for one in selected:
                budget = RequestBudget.for_instance(one.halo, window=window)
                client = HaloClient(one.halo, budget=budget, instance_name=one.instance_name)
                runners[one.instance_name] = Runner(client, journal, reads=settings.reads)
        except BaseException:
            for runner in runners.values():
                runner.client.close()
            window.close()
            raise
        log.info("instances_served", instances=list(runners))
        deadlines = {one.instance_name: one.halo.run_deadline_seconds for one in selected}
        served = cls(runners, settings.default_instance, deadlines)
        served.closing.append(window.close)
        return served

    @property
    def names(self) -> list[str]:
        return list(self.runners)

    def runner(self, instance: str) -> Runner:
        return self.runners[instance]

    @property
    def primary(self) -> Runner:
        """The default instance's runner, else the first served (the web console's)."""
        return self.runners.get(self.default_instance) or next(iter(self.runners.values()))

    def key(self, playbook: str, instance: str) -> str:
        return job_key(playbook, instance, self.default_instance)

    def jobs(self, playbooks: Iterable[Playbook]) -> list[Job]:
        """Each playbook on each served instance it allows, playbook by playbook."""
        return [
            Job(self.key(pb.name, name), pb, name)
            for pb in playbooks
            for name in self.runners
            if allowed_on(pb, name)
        ]

    def overdue(self, running: Mapping[str, datetime], now: datetime) -> list[str]:
        """The jobs (by key) whose run started longer ago than their instance's run deadline:
        stuck (``/healthz`` says so with a 503)."""
        stuck: list[str] = []
        for key, since in running.items():
            _, at, instance = key.rpartition("@")  # a playbook name has no '@'
            deadline = self.deadlines.get(instance if at else self.default_instance)
            if deadline is not None:
                stuck += overdue({key: since}, now, deadline)
        return sorted(stuck)

    def unserved(self, playbooks: Iterable[Playbook]) -> list[str]:
        """The playbooks that no served instance allows (they never run in this daemon)."""
        return [pb.name for pb in playbooks if not any(allowed_on(pb, n) for n in self.runners)]

    def recover(self) -> None:
        """Each runner reconciles its instance's interrupted runs (the default instance
        first, so it is the one that finishes runs journaled before instances); a failure is
        logged and the others go on (each run recovers its own playbook first anyway)."""
        for instance, runner in self.runners.items():
            try:
                outcomes = runner.recover()
            except Exception as e:
                log.error(
                    "recovery_failed",
                    error=str(e),
                    error_type=type(e).__name__,
                    instance=instance,
                    note="retried before the next run of each playbook",
                )
                continue
            for outcome in outcomes:
                log.info("run_recovered", instance=instance, **outcome.summary())

    def request_stop(self) -> None:
        for runner in self.runners.values():
            runner.request_stop()

    def close(self) -> None:
        for runner in self.runners.values():
            runner.client.close()
        for close in self.closing:
            close()
