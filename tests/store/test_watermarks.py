"""The journal's read watermarks (schema v10, issue 15) and the recent runs' request counts."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from halo_automate.core.incremental import Watermark
from halo_automate.core.outcome import RunStatus
from halo_automate.store.journal import Counts, Journal, RunStart
from halo_automate.store.migrations import MIGRATIONS

T = datetime(2026, 3, 2, 12, 0, 0, 123000, tzinfo=UTC)


def mark(playbook: str = "pb", instance: str = "default", **kw: object) -> Watermark:
    fields: dict[str, object] = {
        "read_at": T, "full_at": T - timedelta(hours=1), "playbook_hash": "h",
        "query": "open_only=true", "full_count": 7521,
    }  # fmt: skip
    return Watermark(playbook, instance, **{**fields, **kw})  # type: ignore[arg-type]


def test_a_watermark_is_kept_per_playbook_and_instance(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as j:
        assert j.watermark("pb", "default") is None
        j.save_watermark(mark())
        j.save_watermark(mark(instance="eu", full_count=5))
        j.save_watermark(mark(read_at=T + timedelta(minutes=15)))  # replaces
        assert j.watermark("pb", "default") == mark(read_at=T + timedelta(minutes=15))
        assert j.watermark("pb", "eu") == mark(instance="eu", full_count=5)
        assert j.watermark("other", "default") is None
        j.forget_watermark("pb", "default")
        assert j.watermark("pb", "default") is None
        assert j.watermark("pb", "eu") is not None


def test_an_older_journal_gains_the_watermark_table_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path, migrations=MIGRATIONS[:9]) as v6:  # the last without it (v9)
        assert v6.schema_version == 9
        v6.record_run(_run("r1", "pb", 42), RunStatus.SUCCEEDED, None)
    with closing(sqlite3.connect(path)) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert "read_watermarks" not in tables
    with Journal.open(path) as v7:
        assert v7.schema_version >= 10
        assert v7.get_run("r1").playbook == "pb"
        v7.save_watermark(mark())
        assert v7.watermark("pb", "default") == mark()


def _run(run_id: str, playbook: str, requests: int, *, trigger: str = "schedule",
         instance: str = "default") -> RunStart:  # fmt: skip
    return RunStart(
        run_id=run_id, playbook=playbook, playbook_hash="h", mode="apply", trigger=trigger,
        started_by="tests", counts=Counts(requests=requests), instance_name=instance,
    )  # fmt: skip


def test_recent_requests_are_the_scheduled_runs_of_that_instance_newest_first(
    tmp_path: Path,
) -> None:
    clock = iter(T + timedelta(minutes=i) for i in range(100))
    with Journal.open(tmp_path / "j.db", clock=lambda: next(clock)) as j:
        for i, (requests, trigger, instance) in enumerate(
            [(80, "schedule", "default"), (5, "schedule", "default"), (3, "manual", "default"),
             (6, "schedule", "eu"), (4, "schedule", "default")]
        ):  # fmt: skip
            j.record_run(_run(f"r{i}", "pb", requests, trigger=trigger, instance=instance),
                         RunStatus.SUCCEEDED, None)  # fmt: skip
        assert j.recent_requests("pb", "default") == [4, 5, 80]
        assert j.recent_requests("pb", "default", limit=2) == [4, 5]
        assert j.recent_requests("pb", "eu") == [6]
        assert j.recent_requests("other", "default") == []
