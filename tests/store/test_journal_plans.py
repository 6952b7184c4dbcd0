"""Plans kept apart and compressed (schema v5): listing runs never reads them (issue 13.11)."""

from __future__ import annotations

import json
import sqlite3
import zlib
from contextlib import closing
from pathlib import Path

import pytest

from halo_automate.errors import JournalError
from halo_automate.store.journal import MIGRATIONS, Journal, RunStart

PLAN = json.dumps({"run_id": "r1", "changes": [{"ticket_id": i, "summary": "spam"} for i in
                                                 range(500)], "odd": "\ud83d"})  # fmt: skip


def test_a_v4_journal_moves_its_plans_compressed_and_keeps_reading_them(tmp_path: Path) -> None:
    """Opening a v4 journal (plans in ``runs.plan_json``) runs v5: each plan moves to
    ``run_plans`` as zlib, ``runs.plan_json`` is emptied, and every plan reads back as it was."""
    path = tmp_path / "journal.db"
    with Journal.open(path, migrations=MIGRATIONS[:4]) as v4:
        assert v4.schema_version == 4
    with closing(sqlite3.connect(path)) as raw, raw:  # as a v4 halo_automate wrote them
        for run_id, plan in (("r1", PLAN), ("r2", None), ("r3", "{}")):
            raw.execute(
                "INSERT INTO runs (run_id, playbook, playbook_hash, mode, started_by, trigger, "
                "started_at, status, plan_json) VALUES (?, 'pb', 'h', 'apply', 'me', 'cli', "
                "'2026-11-24T05:15:00+00:00', 'succeeded', ?)",
                (run_id, plan),
            )
    with Journal.open(path) as journal:
        assert journal.schema_version == len(MIGRATIONS) >= 5
        assert journal.plan_json("r1") == PLAN
        assert journal.plan_json("r2") is None
        assert journal.plan_json("r3") == "{}"
        assert [r.run_id for r in journal.runs()] == ["r3", "r2", "r1"]
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT count(*) FROM runs WHERE plan_json IS NOT NULL").fetchone() == (
            0,
        )
        [(blob,)] = raw.execute("SELECT plan FROM run_plans WHERE run_id = 'r1'").fetchall()
    assert zlib.decompress(blob).decode("utf-8", "surrogatepass") == PLAN
    assert len(blob) < len(PLAN.encode("utf-8", "surrogatepass")) / 5


def test_listing_runs_never_reads_a_plan(tmp_path: Path) -> None:
    """runs() / get_run() read no plan: a plan that cannot be decompressed does not stop
    them; only the one accessor, plan_json, meets it, and says so in one line."""
    path = tmp_path / "journal.db"
    with Journal.open(path) as journal:
        journal.start_run(RunStart("r1", "pb", "h", "apply", "cli", plan_json=PLAN))
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("UPDATE run_plans SET plan = x'00ff' WHERE run_id = 'r1'")
    with Journal.open(path) as journal:
        assert [r.run_id for r in journal.runs()] == ["r1"]
        assert journal.get_run("r1").status == "running"
        with pytest.raises(JournalError, match=r"the plan of run r1 cannot be read") as caught:
            journal.plan_json("r1")
    assert "\n" not in str(caught.value)
