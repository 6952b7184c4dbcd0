"""One "updated since" ticket read, checked row by row before it is trusted (issue 15).

:func:`read_updated` scans ``GET /api/Tickets`` with a playbook's filters plus one form of
the last-update date filter (:data:`~halo_automate.core.incremental.LAST_UPDATE_FORMS`), in
the same consistent :class:`~halo_automate.halo.scan.TicketScan` as a full read. Halo ignores
filters it does not know (FACTS §2.1), so the answer is verified as it arrives
(:func:`~halo_automate.core.incremental.window_problem`): the first row updated before the
window stops the scan at once (proof that Halo ignored the form: a form Halo ignores costs one
page, not a second full read), and so does a first page whose ``record_count`` is the whole
set once its rows show no such proof (suspect, not proof: everything may have changed); the
caller then reads in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from halo_automate.core.incremental import form_params, window_problem
from halo_automate.errors import HaloRejectedError
from halo_automate.halo.paging import MAX_PAGE_SIZE, Reader
from halo_automate.halo.scan import TicketScan


@dataclass
class UpdatedRead:
    """What one updated-since read gave: the rows (when trusted) or why not."""

    rows: list[dict[str, Any]] | None
    problem: str | None = None
    proof: bool = False  # the problem proves Halo does not honour this form
    record_count: int = 0
    pages: int = 0
    report: dict[str, Any] = field(default_factory=dict)


def read_updated(
    client: Reader,
    query: Mapping[str, str],
    since: datetime,
    form: Mapping[str, str],
    whole: int | None,
) -> UpdatedRead:
    """Scan ``query`` restricted to tickets updated at or after ``since`` with ``form``."""
    scan = TicketScan(client, {**query, **form_params(form, since)})
    rows: list[dict[str, Any]] = []
    it = scan.run()  # a generator: closed when the answer is not trusted
    suspect: tuple[str, bool] | None = None
    first_page = 0
    try:
        for row in it:
            if not rows:  # the first page is in: is its count the whole set?
                count = scan.report.record_count_first
                suspect = window_problem((), since, count, whole)
                first_page = min(count, client.settings.page_size, MAX_PAGE_SIZE)
            found = window_problem((row,), since, 0, None)
            if found is not None:  # proof wins over a suspicious count
                return _stopped(scan, found)
            rows.append(row)
            if suspect is not None and len(rows) >= first_page:  # page 1 showed no proof
                return _stopped(scan, suspect)
    except HaloRejectedError as e:  # a 400: Halo refuses this form outright
        return UpdatedRead(None, f"Halo refused it: {e.message}", proof=True)
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
    return UpdatedRead(
        rows, record_count=scan.report.record_count_first, pages=scan.report.pages,
        report=vars(scan.report),
    )  # fmt: skip


def _stopped(scan: TicketScan, found: tuple[str, bool]) -> UpdatedRead:
    reason, proof = found
    return UpdatedRead(
        None, reason, proof, scan.report.record_count_first, scan.report.pages, vars(scan.report)
    )
