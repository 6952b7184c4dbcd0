"""A saved plan does only what its playbook says, to the Halo it was made for (issue 12).

End to end over the sandbox: ``plan --out``, the file edited as an attacker (or a careless
hand) would, then ``apply --yes``. Each case asserts, from the sandbox's write counters and
its ticket and action state, that NOTHING the playbook would not do now reached Halo: the
edited entry is skipped ("not what the playbook would do now", journaled skipped) or the
whole document refused (exit 2) before any request that writes. ``WRITES`` records, per
case, the writes that reached Halo for the tampered entries (for the closing note).
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import ROOT, write_config
from click.testing import CliRunner, Result
from conftest import SandboxFactory

from halo_automate.cli import main
from halo_automate.sandbox.server import SandboxServer
from halo_automate.store.journal import Journal

Doc = dict[str, Any]
NOT_NOW = "not what the playbook would do now"


class Halo:
    """One sandbox with a config pointing at it, and the CLI against that config."""

    def __init__(self, sb: SandboxServer, folder: Path) -> None:
        folder.mkdir(exist_ok=True)
        self.sb = sb
        self.folder = folder
        self.config = write_config(folder, sb)
        shutil.copy(ROOT / "playbooks" / "bulk-edit-woodgrove.yaml", folder / "playbooks")

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(self.config)])

    def plan(self, playbook: str) -> Doc:
        out = self.folder / f"{playbook}.plan.json"
        result = self(
            "plan", playbook, "--out", str(out), "--json"
        )  # --json: no rich preview to render
        assert result.exit_code == 0, result.output
        doc: Doc = json.loads(out.read_text(encoding="utf-8"))
        return doc

    def save(self, doc: Doc, name: str = "edited.json") -> str:
        path = self.folder / name
        path.write_text(json.dumps(doc), encoding="utf-8")
        return str(path)

    def state(self) -> tuple[dict[int, Any], dict[int, Any]]:
        with self.sb.locked_state() as st:
            tickets = copy.deepcopy(st.tickets)
            actions = {k: copy.deepcopy(v) for k, v in st.actions.items() if v}
        return tickets, actions

    def writes(self) -> int:
        return int(self.sb.counters["writes_applied"])

    def journal(self) -> Journal:
        return Journal.open(self.folder / "journal.db")


@pytest.fixture
def halo(sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Halo:
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)
    return Halo(sandbox, tmp_path / "a")


WRITES: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def _writes_per_case() -> Iterator[None]:
    """After the module: the writes that reached Halo per tamper case (shown with ``-s``;
    the figures of the closing note)."""
    yield
    for case, count in sorted(WRITES.items()):
        print(f"writes that reached Halo, {case}: {count}")


def only(doc: Doc, index: int = 0) -> Doc:
    """The plan reduced to one of its changes: any write at all would be unintended."""
    doc = copy.deepcopy(doc)
    doc["changes"] = [doc["changes"][index]]
    return doc


def with_priority(doc: Doc) -> list[Doc]:
    """The changes that set the priority (tickets not yet High)."""
    return [c for c in doc["changes"] if "priority_id" in c["fields"]]


def assert_skipped_and_untouched(halo: Halo, case: str, path: str, ids: list[int]) -> None:
    """``apply --yes`` of ``path`` writes nothing: counters and state unchanged, each id
    journaled skipped as not what the playbook would do now."""
    before, writes = halo.state(), halo.writes()
    result = halo("apply", path, "--yes")
    WRITES[case] = halo.writes() - writes
    assert "Traceback" not in result.output
    assert result.exit_code == 5, result.output  # partial: every entry skipped
    assert WRITES[case] == 0
    assert halo.state() == before
    run_id = json.loads(Path(path).read_text(encoding="utf-8"))["run_id"]
    with halo.journal() as journal:
        rows = journal.changes(run_id)
    assert {r.ticket_id for r in rows} == set(ids)
    assert all(r.state == "skipped" and NOT_NOW in (r.message or "") for r in rows), rows


def assert_refused(halo: Halo, case: str, path: str, *needles: str) -> None:
    """``apply --yes`` refuses the document: exit 2, one error line, not one request."""
    before, requests, writes = halo.state(), halo.sb.counters["requests"], halo.writes()
    result = halo("apply", path, "--yes")
    WRITES[case] = halo.writes() - writes
    assert halo.sb.counters["requests"] == requests  # not a single request, not even a read
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert halo.state() == before


# ---------------------------------------------------------------- entries re-derived


def test_a_changed_ticket_id_moves_nothing(halo: Halo) -> None:
    """Case 2: 10 -> 52. The entry is pointed at another client's ticket, its before-values
    made to match that ticket: the playbook's select (client Woodgrove Bank) refuses it, so
    nothing is written to it; the untouched entry beside it is applied."""
    doc = halo.plan("bulk-edit-woodgrove")
    real, moved = (copy.deepcopy(c) for c in with_priority(doc)[:2])
    tickets, _ = halo.state()
    woodgrove = tickets[real["ticket_id"]]["client_id"]
    other = next(
        tid
        for tid, t in sorted(tickets.items())
        if t["client_id"] != woodgrove and t.get("status_id") != 9 and not t.get("deleted")
    )
    moved["ticket_id"] = other
    for name, pair in moved["fields"].items():
        pair["before"] = tickets[other].get(name)
    doc["changes"] = [moved]
    assert_skipped_and_untouched(halo, "changed ticket id", halo.save(doc), [other])
    # the same plan's genuine entry, alone, is applied (re-derived, equal to the plan)
    doc["changes"], doc["run_id"] = [real], doc["run_id"] + "b"
    before = halo.writes()
    assert halo("apply", halo.save(doc, "real.json"), "--yes").exit_code == 0
    assert halo.writes() - before == 1
    assert (
        halo.state()[0][real["ticket_id"]]["priority_id"] == real["fields"]["priority_id"]["after"]
    )


def test_an_edited_after_value_is_not_written(halo: Halo) -> None:
    """Case 2: only ``fields.priority_id.after`` edited: the playbook would set High, not
    the edited value, so the ticket is skipped (the journal never says one thing while Halo
    receives another)."""
    doc = halo.plan("bulk-edit-woodgrove")
    doc["changes"] = with_priority(doc)[:1]
    pair = doc["changes"][0]["fields"]["priority_id"]
    pair["after"] = 1 if pair["after"] != 1 else 4
    tid = doc["changes"][0]["ticket_id"]
    assert_skipped_and_untouched(halo, "edited after-value", halo.save(doc), [tid])


@pytest.mark.parametrize(
    ("case", "field", "after"),
    [
        ("injected deleted", "deleted", True),
        ("injected agent_id", "agent_id", 4),
        ("injected summary", "summary", "PWNED"),
    ],
)
def test_injected_fields_are_not_written(halo: Halo, case: str, field: str, after: Any) -> None:
    """Case 7: a field the playbook never writes, added with its current value as before
    (so a check of the written fields alone would pass it), is never sent."""
    doc = only(halo.plan("close-spam"))
    change = doc["changes"][0]
    tickets, _ = halo.state()
    change["fields"][field] = {"before": tickets[change["ticket_id"]].get(field), "after": after}
    assert_skipped_and_untouched(halo, case, halo.save(doc), [change["ticket_id"]])


@pytest.mark.parametrize(
    ("case", "key", "value"),
    [
        ("injected sendemail", "sendemail", True),
        (
            "edited note text",
            "note",
            "Closed as spam. Your account is suspended: https://x.example",
        ),
        ("edited close status", "new_status", 1),
    ],
)
def test_an_edited_action_is_not_posted(halo: Halo, case: str, key: str, value: Any) -> None:
    """Case 7: the close action's flags, note or status edited: the playbook's own action
    (re-rendered from the ticket as read now) differs, so nothing is posted."""
    doc = only(halo.plan("close-spam"))
    change = doc["changes"][0]
    change["actions"][0]["body"][key] = value
    assert_skipped_and_untouched(halo, case, halo.save(doc), [change["ticket_id"]])


def test_a_ticket_assigned_after_planning_is_not_closed(halo: Halo) -> None:
    """Case 8: the spam playbook leaves assigned tickets alone; one assigned after the plan
    was saved is skipped by apply (the whole where re-checked), the others are closed."""
    doc = halo.plan("close-spam")
    assigned = doc["changes"][0]["ticket_id"]
    halo.sb.edit_ticket(assigned, agent_id=4)
    before_ticket = halo.state()[0][assigned]
    before_actions = halo.state()[1].get(assigned)
    writes = halo.writes()
    result = halo("apply", halo.save(doc), "--yes")
    assert result.exit_code == 5, result.output  # partial: one skipped
    tickets, actions = halo.state()
    WRITES["assigned after planning"] = int(
        tickets[assigned] != before_ticket or actions.get(assigned) != before_actions
    )
    assert WRITES["assigned after planning"] == 0
    closed = [c["ticket_id"] for c in doc["changes"][1:]]
    assert all(tickets[t]["status_id"] == 9 for t in closed)
    assert halo.writes() > writes
    with halo.journal() as journal:
        rows = [r for r in journal.changes(doc["run_id"]) if r.ticket_id == assigned]
    assert rows and all(r.state == "skipped" and NOT_NOW in (r.message or "") for r in rows)


# ---------------------------------------------------------------- documents refused


def test_a_ticket_update_in_the_document_is_refused(halo: Halo) -> None:
    """Case 7: a ``ticket_update`` beside ``fields`` (version 1's second copy) is not part
    of a version-2 document: refused before any request."""
    doc = only(halo.plan("close-spam"))
    doc["changes"][0]["ticket_update"] = {"deleted": True, "agent_id": 4, "summary": "PWNED"}
    assert_refused(halo, "ticket_update", halo.save(doc), "unknown key 'ticket_update'")


def test_remove_actions_in_an_apply_plan_is_refused(halo: Halo) -> None:
    """Case 7: an action removal in an ordinary plan deleted a customer's action."""
    doc = only(halo.plan("close-spam"))
    tid = doc["changes"][0]["ticket_id"]
    doc["changes"][0]["remove_actions"] = [{"action_id": 1, "body": {"note": "x"}}]
    assert_refused(halo, "remove_actions", halo.save(doc), f"ticket {tid} removes actions")


def test_an_edited_max_changes_is_refused(halo: Halo) -> None:
    """Case 7: limits come from the playbook; a plan whose max_changes differs is refused."""
    doc = halo.plan("close-spam")
    doc["max_changes"] = 100_000
    assert_refused(halo, "edited max_changes", halo.save(doc), "max_changes is 100000")


def test_duplicate_entries_are_refused(halo: Halo) -> None:
    doc = halo.plan("close-spam")
    doc["changes"].append(doc["changes"][0])
    tid = doc["changes"][0]["ticket_id"]
    assert_refused(halo, "duplicate entries", halo.save(doc), f"ticket {tid} has two entries")


def test_a_playbook_that_does_not_match_its_hash_is_refused(halo: Halo) -> None:
    """Case 7: the playbook edited inside the document (its ``not: assigned`` dropped)."""
    doc = halo.plan("close-spam")
    source = doc["playbook"]["source"]
    doc["playbook"]["source"] = source.replace("  not:\n    - agent_id: {gt: 0}", "")
    assert doc["playbook"]["source"] != source
    assert_refused(halo, "wrong hash", halo.save(doc), "does not match the playbook hash")


def test_a_playbook_rewritten_with_its_hash_is_refused(halo: Halo) -> None:
    """The hash recomputed too: the playbook of that name in playbooks_dir decides."""
    doc = halo.plan("close-spam")
    source = doc["playbook"]["source"].replace("  not:\n    - agent_id: {gt: 0}", "")
    doc["playbook"]["source"] = source
    doc["playbook"]["hash"] = hashlib.sha256(source.encode()).hexdigest()
    assert_refused(
        halo, "rewritten playbook", halo.save(doc), "its playbook differs from close-spam"
    )


def test_a_playbook_that_no_longer_validates_is_refused(halo: Halo) -> None:
    doc = halo.plan("close-spam")
    source = doc["playbook"]["source"].replace("open_only: true", "open_only: true\n  bogus: 1")
    doc["playbook"].update(source=source, hash=hashlib.sha256(source.encode()).hexdigest())
    assert_refused(halo, "invalid playbook", halo.save(doc), "no longer validates")


def test_a_version_1_document_is_refused(halo: Halo) -> None:
    doc = halo.plan("close-spam")
    doc["version"] = 1
    assert_refused(halo, "version 1", halo.save(doc), "re-plan it with this version")


def test_an_undo_document_is_refused(halo: Halo) -> None:
    doc = halo.plan("close-spam")
    doc.update(mode="undo", undo_of="20260101T000000-abcdef")
    assert_refused(
        halo, "undo document", halo.save(doc), "halo-automate undo 20260101T000000-abcdef"
    )


def test_a_50_mb_file_is_refused_without_reading_it(halo: Halo) -> None:
    """A 50 MB file: one error line, no request, and not read into memory."""
    path = halo.folder / "big.json"
    with path.open("wb") as f:
        f.write(b'{"format": "halo-automate/plan", "pad": "')
        f.write(b"x" * (50 * 1024 * 1024))
        f.write(b'"}')
    tracemalloc.start()
    try:
        assert_refused(halo, "50 MB file", str(path), "larger than 32 MB")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak


# ---------------------------------------------------------------- the Halo it was made for


@pytest.fixture
def two(
    sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Halo, Halo]:
    a, b = sandbox_factory(), sandbox_factory()
    assert a.client_secret == b.client_secret  # same seed: one secret for both configs
    monkeypatch.setenv("SANDBOX_SECRET", a.client_secret)
    monkeypatch.chdir(tmp_path)
    return Halo(a, tmp_path / "a"), Halo(b, tmp_path / "b")


def test_a_plan_for_sandbox_a_is_refused_by_sandbox_b(two: tuple[Halo, Halo]) -> None:
    """Case 1: planned against A, applied with the config pointing at B: refused (exit 2)
    naming both Halos, before any request that writes; B is untouched, and the plan, not
    used up, then applies to A."""
    a, b = two
    doc = a.plan("close-spam")
    path = a.save(doc, "spam.plan.json")
    before, writes = b.state(), b.writes()
    result = b("apply", path, "--yes")
    WRITES["plan for A applied to B"] = b.writes() - writes
    assert result.exit_code == 2, result.output
    assert a.sb.base_url in result.output and b.sb.base_url in result.output
    assert WRITES["plan for A applied to B"] == 0 and b.state() == before
    with b.journal() as journal:
        assert journal.get_run(doc["run_id"]).status == "refused"
    applied = a("apply", path, "--yes")
    assert applied.exit_code == 0, applied.output
    assert a.writes() > 0


# ---------------------------------------------------------------- consumed only by a write


def test_a_declined_apply_leaves_the_plan_usable(halo: Halo) -> None:
    """Case 4: no terminal and no --yes declines; history and show say refused; the second
    apply of the same file writes; a third is refused as already applied."""
    doc = halo.plan("close-spam")
    path = halo.save(doc, "spam.plan.json")
    declined = halo("apply", path)
    assert declined.exit_code == 4, declined.output
    assert halo.writes() == 0
    shown = halo("show", doc["run_id"], "--json")
    assert json.loads(shown.output)["run"]["status"] == "refused"
    applied = halo("apply", path, "--yes")
    assert applied.exit_code == 0, applied.output
    assert halo.writes() > 0
    listed = json.loads(halo("history", "--json").output)["runs"]
    statuses = {r["run_id"]: r["status"] for r in listed}
    assert statuses == {doc["run_id"]: "succeeded", f"{doc['run_id']}~1": "refused"}
    again = halo("apply", path, "--yes")
    assert again.exit_code == 2 and "already applied" in again.output


def test_an_apply_that_failed_before_writing_leaves_the_plan_usable(halo: Halo) -> None:
    """Halo down at the stale-check read: failed, nothing written, the plan still applies."""
    doc = halo.plan("close-spam")
    path = halo.save(doc, "spam.plan.json")
    halo.sb.set_faults(fail_rate=1.0)
    failed = halo("apply", path, "--yes")
    assert failed.exit_code == 3, failed.output
    halo.sb.set_faults(fail_rate=0.0)
    assert halo("apply", path, "--yes").exit_code == 0
    listed = json.loads(halo("history", "--json").output)["runs"]
    statuses = {r["run_id"]: r["status"] for r in listed}
    assert statuses == {doc["run_id"]: "succeeded", f"{doc['run_id']}~1": "failed"}


def test_a_run_id_edited_to_another_runs_is_refused(halo: Halo) -> None:
    """A document whose run id is edited to another run's (a declined `run`) neither
    renames that run nor applies: refused, and history still shows the other run as it was."""
    declined = halo("run", "close-spam")  # no terminal, no --yes: refused, journaled
    assert declined.exit_code == 4, declined.output
    (other,) = json.loads(halo("history", "--json").output)["runs"]
    doc = halo.plan("close-spam")
    doc["run_id"] = other["run_id"]
    before, writes = halo.state(), halo.writes()
    result = halo("apply", halo.save(doc), "--yes")
    assert result.exit_code == 2 and "already used by another run" in result.output
    assert halo.writes() == writes and halo.state() == before
    (still,) = json.loads(halo("history", "--json").output)["runs"]
    assert still == other


def test_an_apply_refused_by_its_limits_leaves_the_plan_usable(halo: Halo) -> None:
    """Refused by max_changes (the playbook's): the second apply is refused by the limit
    again, not as "already applied"; both attempts are in history, refused."""
    playbook = halo.folder / "playbooks" / "close-spam.yaml"
    text = playbook.read_text(encoding="utf-8")
    playbook.write_text(text.replace("max_changes: 500", "max_changes: 5"), encoding="utf-8")
    doc = halo.plan("close-spam")
    assert len(doc["changes"]) > 5
    path = halo.save(doc, "spam.plan.json")
    for _ in range(2):
        result = halo("apply", path, "--yes")
        assert result.exit_code == 4 and "limits.max_changes (5)" in result.output, result.output
    assert halo.writes() == 0
    listed = json.loads(halo("history", "--json").output)["runs"]
    statuses = {r["run_id"]: r["status"] for r in listed}
    assert statuses == {doc["run_id"]: "refused", f"{doc['run_id']}~1": "refused"}


def test_a_document_with_sorted_keys_still_applies(halo: Halo) -> None:
    """Key order is not a change: the plan re-serialised with sorted keys (``jq -S``)
    applies every entry."""
    doc = halo.plan("bulk-edit-woodgrove")
    path = halo.folder / "sorted.json"
    path.write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
    result = halo("apply", str(path), "--yes")
    assert result.exit_code == 0, result.output
    tickets, _ = halo.state()
    for change in doc["changes"]:
        for name, pair in change["fields"].items():
            assert tickets[change["ticket_id"]][name] == pair["after"]
