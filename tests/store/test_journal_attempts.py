"""Attempts that wrote nothing are set aside, so a saved plan stays usable (issue 12, case 4).

The plan's run id belongs to the apply that wrote: an earlier attempt under it that wrote
nothing (refused, failed before writing; skipped rows at most) moves to ``<run id>~N`` with
its skipped rows and its plan, in one transaction; one that wrote, or still runs, stays.
"""

from __future__ import annotations

from pathlib import Path

from halo_automate.store.journal import Journal, NewChange, RunStart

RUN = "20261124T051500-3f9a1c"


def start(run_id: str = RUN) -> RunStart:
    return RunStart(run_id, "close-spam", "h", "apply", "apply-file", "tests", plan_json="{}")


def test_an_attempt_that_wrote_nothing_is_set_aside_with_its_rows(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        journal.record_run(start(), "refused", "not confirmed; nothing was written")
        assert journal.set_aside_unwritten(RUN) == ("set-aside", f"{RUN}~1")
        assert journal.run(RUN) is None
        kept = journal.get_run(f"{RUN}~1")
        assert kept.status == "refused" and kept.playbook == "close-spam"
        assert journal.plan_json(f"{RUN}~1") == "{}"
        journal.start_run(start())  # the id is free again
        journal.add_skipped(RUN, [(NewChange(5, "status_id", 1, 9, 0), "stale")])
        journal.finish_run(RUN, "partial")
        assert journal.set_aside_unwritten(RUN) == ("set-aside", f"{RUN}~2")
        assert [r.ticket_id for r in journal.changes(f"{RUN}~2")] == [5]
        assert journal.set_aside_unwritten(RUN) == ("none", None)


def test_a_run_that_wrote_or_still_runs_stays(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        journal.start_run(start())
        assert journal.set_aside_unwritten(RUN) == ("running", None)
        journal.add_changes(RUN, [NewChange(5, "status_id", 1, 9, 1)])
        journal.finish_run(RUN, "failed")
        assert journal.set_aside_unwritten(RUN) == ("wrote", None)
        assert journal.get_run(RUN).status == "failed"
