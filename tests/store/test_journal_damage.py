"""A damaged journal file: refused with a clear message, never silently replaced (issue 13.11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from halo_automate.errors import JournalError
from halo_automate.store.journal import SCHEMA_VERSION, Journal, RunStart


def test_a_journal_truncated_to_zero_bytes_is_refused_not_replaced(tmp_path: Path) -> None:
    """A 0-byte journal lost its history and pending rows: refuse it in one line that says
    so and what to do, and leave the file as it is (no new empty journal in its place)."""
    path = tmp_path / "journal.db"
    with Journal.open(path) as journal:
        journal.start_run(RunStart("r1", "pb", "h", "apply", "cli"))
    path.write_bytes(b"")  # truncated (disk trouble, a bad copy, `> journal.db`)
    with pytest.raises(JournalError) as caught:
        Journal.open(path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"journal {path}" in message
    assert "0 bytes" in message
    assert "restore it from a backup" in message
    assert "delete the file to start a new journal" in message
    assert path.stat().st_size == 0


def test_a_missing_journal_is_still_created(tmp_path: Path) -> None:
    """No file at all: a new journal, as before; and it is never left at 0 bytes, so the
    refusal above cannot hit a journal that another process is creating at that moment."""
    path = tmp_path / "new" / "journal.db"
    with Journal.open(path) as journal:
        assert journal.schema_version == SCHEMA_VERSION
        assert journal.runs() == []
    assert path.stat().st_size > 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["journal.db"]


def test_an_in_memory_name_is_no_file_to_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``:memory:`` is still refused for want of WAL, and leaves no file of that name."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(JournalError, match="cannot use WAL mode"):
        Journal.open(":memory:")
    assert list(tmp_path.iterdir()) == []
