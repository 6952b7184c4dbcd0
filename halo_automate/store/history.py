"""The journal's runs by the Halo instance they talked to.

``history --instance NAME`` lists only the runs that talked to one Halo instance (the config's
name journaled with each run, schema v6; older runs are ``default``), and recovery finishes
only the runs of its own Halo (:func:`same_halo`, by identity: reading another Halo's tickets
back would be wrong). Functions over the journal's own transaction, kept out of
:mod:`halo_automate.store.journal`, which is full.
"""

from __future__ import annotations

from halo_automate.store.journal import Journal
from halo_automate.store.records import RunRow
from halo_automate.store.rows import run_row


def recent_runs(
    journal: Journal,
    *,
    limit: int | None = 50,
    playbook: str | None = None,
    instance: str | None = None,
) -> list[RunRow]:
    """Newest first; only one playbook's and/or one instance's (by its config name)."""
    if instance is None:
        return journal.runs(limit=limit, playbook=playbook)
    sql = (
        "SELECT * FROM runs WHERE instance_name = ? AND (? IS NULL OR playbook = ?) "
        "ORDER BY started_at DESC, rowid DESC LIMIT ?"
    )
    params = (instance, playbook, playbook, -1 if limit is None else limit)
    with journal._tx("listing runs", write=False) as db:  # the journal's transaction
        return [run_row(row) for row in db.execute(sql, params)]


def same_halo(run: RunRow, identity: str) -> bool:
    """Whether ``run`` talked to the Halo of ``identity`` (a run journaled before instances
    has no identity: it talked to the one Halo there was, so it counts as any)."""
    return run.instance_identity is None or run.instance_identity == identity
