"""Which Halo a run talked to (schema v6, issue 12): name and identity on every run row."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from halo_automate.store.journal import MIGRATIONS, Journal, RunStart


def test_a_v5_journal_gains_instance_columns_and_old_runs_read_as_default(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal.open(path, migrations=MIGRATIONS[:5]) as v5:
        assert v5.schema_version == 5
    with closing(sqlite3.connect(path)) as raw, raw:  # as a v5 halo_automate wrote it
        raw.execute(
            "INSERT INTO runs (run_id, playbook, playbook_hash, mode, started_by, trigger, "
            "started_at, status) VALUES ('old', 'pb', 'h', 'apply', 'me', 'cli', "
            "'2026-11-24T05:15:00+00:00', 'succeeded')"
        )
    with Journal.open(path) as journal:
        assert journal.schema_version == len(MIGRATIONS) >= 6
        old = journal.get_run("old")
        assert (old.instance_name, old.instance_identity) == ("default", None)
        journal.start_run(
            RunStart(
                "new", "pb", "h", "apply", "cli", instance_name="uat",
                instance_identity="https://uat.example tenant=acme",
            )
        )  # fmt: skip
        new = journal.get_run("new")
        assert (new.instance_name, new.instance_identity) == (
            "uat",
            "https://uat.example tenant=acme",
        )
