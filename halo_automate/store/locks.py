"""Playbook locks: one run per playbook at a time, across threads, processes and hosts.

A holder is *stale* when it is on this host and its pid is gone (or the pid is this process,
which does not hold it: a restarted container reuses pids), or when it is on another host and
its heartbeat is older than ``stale_after``. A stale lock is taken over (the journal logs
``lock_taken_over`` naming the old holder and why it was stale). A holder must call
:meth:`Lock.heartbeat` more often than ``stale_after`` when other hosts share the journal;
heartbeat raises :class:`LockedError` if the lock was taken over meanwhile.

This module holds the values and the staleness rule; the SQL lives with the journal.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from halo_automate.errors import JournalError
from halo_automate.store.records import this_host


def iso(moment: datetime) -> str:
    """The journal's text form of a moment (UTC, milliseconds, ``Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LockRow:
    playbook: str
    run_id: str
    owner_pid: int
    owner_host: str
    acquired_at: datetime
    heartbeat_at: datetime

    def describe(self) -> str:
        return (
            f"run {self.run_id} (pid {self.owner_pid} on {self.owner_host}, "
            f"since {iso(self.acquired_at)}, last heartbeat {iso(self.heartbeat_at)})"
        )


class LockStore(Protocol):
    """What a :class:`Lock` needs from the journal that granted it."""

    def heartbeat(self, playbook: str, run_id: str, token: str | None = None) -> None: ...

    def release_lock(self, playbook: str, run_id: str, token: str | None = None) -> bool: ...


class Releasing:
    """``with lock:`` releases it on the way out. When the block is already failing (often
    for the same reason, e.g. a read-only or full disk) the first error says what went wrong,
    so a failed release must not replace it: the row left behind names this process and is
    taken over once the process is gone (or by this process, which no longer holds it)."""

    def release(self) -> bool:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.release()
            return
        with contextlib.suppress(JournalError):
            self.release()


@dataclass(frozen=True)
class Lock(Releasing):
    """A held playbook lock; a context manager that releases it on exit.

    ``took_over_from`` is the stale holder this lock replaced (logged as ``lock_taken_over``).
    ``token`` is this acquisition's own (a recovery of the same run id gets a new one), so
    :meth:`heartbeat` fails for a holder whose lock was taken over: a fence before a send."""

    store: LockStore = field(repr=False)
    playbook: str
    run_id: str
    took_over_from: LockRow | None = None
    takeover_reason: str | None = None
    token: str | None = None

    def heartbeat(self) -> None:
        self.store.heartbeat(self.playbook, self.run_id, self.token)

    def release(self) -> bool:
        return self.store.release_lock(self.playbook, self.run_id, self.token)


class HeldLocks:
    """Locks held by this process: (real db path, playbook, run id). A lock row naming this
    pid and host but absent here was left by an earlier process that had the same pid."""

    def __init__(self) -> None:
        self._held: set[tuple[str, str, str]] = set()
        self._guard = threading.Lock()

    def add(self, key: str, playbook: str, run_id: str) -> None:
        with self._guard:
            self._held.add((key, playbook, run_id))

    def discard(self, key: str, playbook: str, run_id: str) -> None:
        with self._guard:
            self._held.discard((key, playbook, run_id))

    def __contains__(self, item: tuple[str, str, str]) -> bool:
        with self._guard:
            return item in self._held


HELD = HeldLocks()


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def stale_reason(held: LockRow, now: datetime, key: str, stale_after: timedelta) -> str | None:
    """Why a lock holder is gone, or None while it is alive (``key``: the journal's path)."""
    where = f"pid {held.owner_pid} on {held.owner_host}"
    if held.owner_host == this_host():
        if held.owner_pid == os.getpid():
            mine = (key, held.playbook, held.run_id) in HELD
            return None if mine else f"{where} is this process, which did not take it"
        return None if pid_alive(held.owner_pid) else f"{where} is no longer running"
    if now - held.heartbeat_at <= stale_after:
        return None
    return f"{where} sent no heartbeat since {iso(held.heartbeat_at)}"


class Beats:
    """When this journal last *wrote* each held lock's heartbeat, so that a heartbeat soon
    after is a read (see :mod:`halo_automate.store.playbook_locks`). Thread-safe."""

    SHARE = 10
    """A heartbeat is written again once ``stale_after / SHARE`` passed since the last one."""

    def __init__(self) -> None:
        self._at: dict[tuple[str, ...], datetime] = {}
        self._guard = threading.Lock()

    def fresh(self, key: tuple[str, ...], now: datetime, stale_after: timedelta) -> bool:
        """Whether this journal wrote ``key``'s heartbeat less than ``stale_after / SHARE``
        ago (then a check that the lock is still held is enough)."""
        with self._guard:
            last = self._at.get(key)
        return last is not None and timedelta(0) <= now - last < stale_after / self.SHARE

    def wrote(self, key: tuple[str, ...], now: datetime) -> None:
        with self._guard:
            self._at[key] = now

    def beat(
        self,
        key: tuple[str, ...],
        now: datetime,
        stale_after: timedelta,
        *,
        check: Callable[[], None],
        write: Callable[[datetime], None],
    ) -> None:
        """One heartbeat of a held lock: ``check`` (a read that raises when the lock is lost)
        while the last write is fresh, else ``write`` it at ``now`` (raising likewise) and
        remember that write. The one sequence both lock kinds follow."""
        if self.fresh(key, now, stale_after):
            check()
            return
        write(now)
        self.wrote(key, now)

    def forget(self, key: tuple[str, ...]) -> None:
        with self._guard:
            self._at.pop(key, None)
