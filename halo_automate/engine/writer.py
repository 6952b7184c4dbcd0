"""One writer per Halo instance: a run's stale check and writes happen under its instance's
writer lock (issue 12).

:func:`instance_writer` waits for the instance's writer lock (held by another run of any
playbook, in any process sharing the journal), then yields the run's playbook lock extended so
that every heartbeat, which the run already sends before each batch and each request (the
fence of :mod:`halo_automate.engine.batches`), refreshes the writer lock too, and a run whose
writer lock was taken over stops before its next send (LockLostError). The lock is released
when the run's writes end.

A second playbook that reaches its writes while the first one is writing waits here; its stale
check then runs after the first one's writes and sees their result, so it skips the tickets
the first one changed instead of interleaving with it. A stop request (SIGTERM, the daemon's
stop) ends the wait: the run writes nothing (``None`` is yielded). Waiting is logged once
(``waiting_for_instance``, naming the holder) and reported to :func:`on_wait` listeners.

The instance is the Halo the client talks to: ``HaloSettings.identity`` (base URL and tenant).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog

from halo_automate.core.plan import Plan
from halo_automate.errors import JournalError
from halo_automate.halo.client import HaloClient
from halo_automate.store.journal import Journal, Lock
from halo_automate.store.locks import LockStore
from halo_automate.store.writers import WriterLock, WriterRow

log = structlog.get_logger("halo_automate.engine.writer")

POLL_SECONDS = 0.5
"""How often a waiting run looks at the lock again (a release in this process wakes it at
once; one in another process is seen within this time)."""

_FREED = threading.Condition()
_LISTENERS: list[Callable[[str, WriterRow], None]] = []


def instance_key(client: HaloClient, plan: Plan) -> str:
    """The instance a run writes to: the client's identity (base URL and tenant); else, for
    a client without settings of its own (a test double), the plan's, else its name."""
    identity = getattr(client.settings, "identity", "")
    return str(identity or plan.instance_identity or plan.instance)


@contextlib.contextmanager
def on_wait(listener: Callable[[str, WriterRow], None]) -> Iterator[None]:
    """Call ``listener(run_id, holder)`` whenever a run of this process starts waiting for an
    instance's writer lock (for tests and tools that watch two writers meet)."""
    _LISTENERS.append(listener)
    try:
        yield
    finally:
        _LISTENERS.remove(listener)


@dataclass(frozen=True)
class _Both:
    """A lock store whose heartbeat refreshes the playbook lock and the writer lock."""

    playbook: LockStore
    writer: WriterLock

    def heartbeat(self, playbook: str, run_id: str, token: str | None = None) -> None:
        self.playbook.heartbeat(playbook, run_id, token)
        self.writer.heartbeat()

    def release_lock(self, playbook: str, run_id: str, token: str | None = None) -> bool:
        return self.playbook.release_lock(playbook, run_id, token)


def wait_for_writer(
    journal: Journal,
    instance: str,
    lock: Lock,
    stopping: Callable[[], bool],
    poll: float = POLL_SECONDS,
) -> WriterLock | None:
    """Take the instance's writer lock for ``lock``'s run, waiting while a live run holds it;
    None when a stop was requested meanwhile."""
    waited = False
    while True:
        got = journal.try_writer(instance, lock.run_id, lock.playbook, lock.token)
        if isinstance(got, WriterLock):
            if waited:
                log.info("instance_writer_acquired", instance=instance, run_id=lock.run_id)
            return got
        if not waited:
            waited = True
            log.info("waiting_for_instance", instance=instance, run_id=lock.run_id,
                     holder=got.describe())  # fmt: skip
            for listener in list(_LISTENERS):
                listener(lock.run_id, got)
        if stopping():
            log.info("instance_wait_stopped", instance=instance, run_id=lock.run_id)
            return None
        with _FREED:
            _FREED.wait(timeout=poll)


@contextlib.contextmanager
def instance_writer(
    journal: Journal,
    instance: str,
    lock: Lock,
    *,
    stopping: Callable[[], bool],
    poll: float = POLL_SECONDS,
) -> Iterator[Lock | None]:
    """Hold ``instance``'s writer lock (:func:`instance_key`) for the body (see the module
    docstring): yields ``lock`` extended to heartbeat both locks, or None when stopped while
    waiting."""
    writer = wait_for_writer(journal, instance, lock, stopping, poll)
    if writer is None:
        yield None
        return
    failing = True
    try:
        yield dataclasses.replace(lock, store=_Both(lock.store, writer))
        failing = False
    finally:
        try:
            writer.release()
        except JournalError:
            if not failing:
                raise
        finally:
            with _FREED:
                _FREED.notify_all()
