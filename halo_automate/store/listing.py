"""Runs a page at a time, for the web console's history (the journal's ``runs`` has no offset).

Functions over the journal's own transaction (as :mod:`halo_automate.store.decisions` is a
mixin over it), kept out of :mod:`halo_automate.store.journal`, which is at its size limit.
"""

from __future__ import annotations

from halo_automate.store.journal import Journal, RunRow
from halo_automate.store.rows import run_row


def _where(playbook: str | None, status: str | None) -> tuple[str, list[object]]:
    clauses: list[str] = ["1"]
    params: list[object] = []
    if playbook:
        clauses.append("playbook = ?")
        params.append(playbook)
    if status:
        clauses.append("status = ?")
        params.append(status)
    return " AND ".join(clauses), params


def count_runs(journal: Journal, playbook: str | None = None, status: str | None = None) -> int:
    """How many runs there are (of one playbook, with one status, when given)."""
    where, params = _where(playbook, status)
    with journal._tx("counting runs", write=False) as db:
        sql = f"SELECT COUNT(*) FROM runs WHERE {where}"  # noqa: S608 - clauses are ours
        return int(db.execute(sql, params).fetchone()[0])


def runs_page(
    journal: Journal,
    *,
    offset: int,
    limit: int,
    playbook: str | None = None,
    status: str | None = None,
) -> list[RunRow]:
    """Runs newest first, ``limit`` of them from ``offset`` (the order ``history`` uses)."""
    where, params = _where(playbook, status)
    sql = (
        f"SELECT * FROM runs WHERE {where} "  # noqa: S608 - clauses are ours
        "ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?"
    )
    with journal._tx("listing runs", write=False) as db:
        return [run_row(row) for row in db.execute(sql, [*params, limit, offset])]


def playbook_names(journal: Journal) -> list[str]:
    """Every playbook name the journal has runs of, sorted."""
    with journal._tx("listing playbooks", write=False) as db:
        return [str(row[0]) for row in db.execute("SELECT DISTINCT playbook FROM runs ORDER BY 1")]
