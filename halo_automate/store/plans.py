"""Where the journal keeps each run's plan document: compressed, apart from the run row.

A plan is the largest thing a run journals (a run of ~3,800 changes has a plan of about
1.5 MB of JSON), and only a few readers need it: ``show``, undo, crash recovery and apply.
So it lives in its own table, ``run_plans`` (schema v5), as the zlib of its UTF-8 JSON, keyed
by run id: listing runs (``history``) never reads or decompresses a plan, and the journal
holds about a tenth of the bytes. :meth:`Plans.plan_json` is the one way to read a plan back.

A mixin of :class:`~halo_automate.store.journal.Journal` (it uses the journal's
transaction), as :mod:`halo_automate.store.decisions` is.
"""

from __future__ import annotations

import sqlite3
import zlib
from contextlib import AbstractContextManager
from pathlib import Path

from halo_automate.errors import JournalError

LEVEL = 6
"""zlib's default level: about as small as 9 on plan JSON, and several times faster."""


def pack(text: str) -> bytes:
    """The stored form of a plan document (lossless, even for a lone surrogate)."""
    return zlib.compress(text.encode("utf-8", "surrogatepass"), LEVEL)


def unpack(blob: bytes) -> str:
    return zlib.decompress(blob).decode("utf-8", "surrogatepass")


def store_plan(db: sqlite3.Connection, run_id: str, text: str | None) -> None:
    """Record a run's plan document (none: nothing recorded), inside the caller's transaction."""
    if text is not None:
        db.execute("INSERT INTO run_plans (run_id, plan) VALUES (?, ?)", (run_id, pack(text)))


class Plans:
    """The journal's one reader of plan documents (see the module docstring)."""

    path: Path

    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def plan_json(self, run_id: str) -> str | None:
        """The plan document (JSON text) run ``run_id`` recorded; None if it recorded none."""
        with self._tx(f"reading the plan of run {run_id}", write=False) as db:
            row = db.execute("SELECT plan FROM run_plans WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        try:
            return unpack(bytes(row[0]))
        except (zlib.error, TypeError, UnicodeDecodeError) as e:
            raise JournalError(
                f"journal {self.path}: the plan of run {run_id} cannot be read ({e})"
            ) from e
