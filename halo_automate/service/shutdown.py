"""What the daemon says when a run outlasts the stop timeout: pending rows, or none.

The stop timeout expires when a run is still in flight (a write batch, or a single request
Halo is slow to answer). The daemon exits anyway; whether the next start has anything to
reconcile depends on the journal: only rows journaled ``pending`` (a write that may have been
sent) are. Saying "pending rows will be reconciled" when a run was only reading (issue 12,
case 6) sent people looking for damage that was never done.
"""

from __future__ import annotations

from typing import Any

from halo_automate.errors import JournalError

PENDING_NOTE = (
    "exiting anyway; pending journal rows are reconciled on the next start or by "
    "`halo-automate recover`"
)
NOTHING_PENDING_NOTE = (
    "exiting anyway; the journal has no pending rows: nothing was being written, nothing "
    "is left to reconcile"
)


def abandoned_note(runner: Any) -> str:
    """The ``stop_timeout`` log line's note: pending rows (or a journal that cannot tell)
    are reconciled later; with none, nothing was being written."""
    journal = getattr(runner, "journal", None)
    if journal is None:
        return PENDING_NOTE
    try:
        pending = journal.pending()
    except JournalError:
        return PENDING_NOTE
    return PENDING_NOTE if pending else NOTHING_PENDING_NOTE
