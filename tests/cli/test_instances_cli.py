"""--instance over two sandbox Halos (issue 12, instances): every command that talks to Halo
talks to the instance it names and to no other, a playbook's `instances:` holds, and history,
show, the prompt and doctor name the instance. The sandboxes' own counters and tickets are
the evidence of what reached which Halo."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import SandboxFactory
from instance_support import (
    CATEGORIES,
    PROD_SECRET,
    SPAM,
    UAT_SECRET,
    environment,
    untouched,
    variant,
    write_instances_config,
)

from halo_automate.cli import main
from halo_automate.core.plan import plan_from_json, plan_to_json
from halo_automate.sandbox.server import SandboxServer
from halo_automate.store.journal import Journal, RunStart

Invoke = Callable[..., Result]


class Two:
    """The CLI over a config of two instances: ``prod`` (the default) and ``uat``."""

    def __init__(self, config: Path, prod: SandboxServer, uat: SandboxServer) -> None:
        self.config, self.prod, self.uat = config, prod, uat

    def __call__(self, *args: str, **kwargs: Any) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(self.config)], **kwargs)


@pytest.fixture
def two(tmp_path: Path, sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch) -> Two:
    prod = sandbox_factory(client_secret=PROD_SECRET)
    uat = sandbox_factory(client_secret=UAT_SECRET)
    playbooks = {
        "close-spam": SPAM,
        "category-cleanup": CATEGORIES,
        "uat-spam": variant(SPAM, "uat-spam", instances="[uat]"),
    }
    config = write_instances_config(tmp_path, prod, uat, playbooks)
    for key, value in environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return Two(config, prod, uat)


def log_lines(result: Result) -> list[dict[str, Any]]:
    """The JSON log lines of a command (off a terminal, structlog writes JSON)."""
    return [json.loads(x) for x in result.output.splitlines() if x.startswith('{"')]


def tickets(sandbox: SandboxServer) -> dict[int, dict[str, Any]]:
    return {i: copy.deepcopy(t) for i, t in sandbox.state.tickets.items()}


def test_run_on_uat_writes_only_to_uat_and_history_shows_both(two: Two) -> None:
    """`run --instance uat` writes to the uat sandbox only (prod's counters stay 0 and its
    tickets unchanged); a later default run writes to prod; history lists both with their
    instance, filters by --instance, and show / --json name the instance and its identity."""
    prod_before = tickets(two.prod)
    on_uat = two("run", "close-spam", "--instance", "uat", "--yes")
    assert on_uat.exit_code == 0, on_uat.output
    assert untouched(two.prod) and tickets(two.prod) == prod_before
    assert two.uat.counters["writes_applied"] > 0
    [summary] = [e for e in log_lines(on_uat) if e["event"] == "run_summary"]
    assert summary["instance"] == "uat"  # every log line of the run is bound with it
    written_on_uat = two.uat.counters["writes_applied"]

    on_prod = two("run", "category-cleanup", "--yes")  # no --instance: the default, prod
    assert on_prod.exit_code == 0, on_prod.output
    assert two.prod.counters["writes_applied"] > 0
    assert two.uat.counters["writes_applied"] == written_on_uat  # nothing more reached uat

    runs = json.loads(two("history", "--json").output)["runs"]
    by_playbook = {r["playbook"]: r for r in runs}
    assert by_playbook["close-spam"]["instance_name"] == "uat"
    assert by_playbook["close-spam"]["instance_identity"] == two.uat.base_url
    assert by_playbook["category-cleanup"]["instance_name"] == "prod"
    assert by_playbook["category-cleanup"]["instance_identity"] == two.prod.base_url
    table = two("history").output
    assert "instance" in table and "uat" in table and "prod" in table
    only_uat = json.loads(two("history", "--json", "--instance", "uat").output)["runs"]
    assert [r["playbook"] for r in only_uat] == ["close-spam"]
    assert "category-cleanup" not in two("history", "--instance", "uat").output

    run_id = by_playbook["close-spam"]["run_id"]
    shown = two("show", run_id).output
    assert f"on instance uat: {two.uat.base_url}" in shown
    doc = json.loads(two("show", run_id, "--json").output)["run"]
    assert (doc["instance_name"], doc["instance_identity"]) == ("uat", two.uat.base_url)


def test_unknown_instance_is_exit_2_with_did_you_mean_and_no_request(two: Two) -> None:
    """An unknown --instance is a usage error (exit 2) naming the closest instance, before
    any request to either Halo; so is history's filter."""
    for args in (
        ("plan", "close-spam"),
        ("run", "close-spam", "--yes"),
        ("lookups", "statuses"),
        ("doctor",),
        ("history",),
    ):
        result = two(*args, "--instance", "uta")
        assert result.exit_code == 2, (args, result.output)
        assert "no instance 'uta'" in result.output and "did you mean 'uat'?" in result.output
    assert untouched(two.prod) and untouched(two.uat)


def test_read_commands_talk_only_to_the_named_instance(two: Two) -> None:
    """plan, lookups, explain and doctor with --instance uat send every request (token
    included) to the uat sandbox: prod sees none."""
    shown = two("plan", "close-spam", "--instance", "uat")
    assert f"close-spam on instance uat ({two.uat.base_url})" in shown.output, shown.output
    plan = two("plan", "close-spam", "--instance", "uat", "--json")
    assert plan.exit_code == 0, plan.output
    doc = json.loads(plan.output)
    assert (doc["instance"], doc["instance_identity"]) == ("uat", two.uat.base_url)
    assert two("lookups", "statuses", "--instance", "uat").exit_code == 0
    assert two("explain", "close-spam", "7", "--instance", "uat").exit_code == 0
    doctor = two("doctor", "--instance", "uat", "--no-write-probes", "--json")
    assert doctor.exit_code in (0, 3), doctor.output
    report = json.loads(doctor.output)
    assert (report["instance"], report["identity"]) == ("uat", two.uat.base_url)
    assert untouched(two.prod)
    assert two.uat.counters["requests"] > 0 and two.uat.counters["writes_applied"] == 0


def test_doctor_says_which_instance_it_checked(two: Two) -> None:
    """doctor without --instance checks the default instance and says so; a playbook that is
    not for that instance is named as not checked."""
    result = two("doctor", "--no-write-probes")
    assert f"Instance prod: Halo at {two.prod.base_url}" in result.output, result.output
    assert "not checked: uat-spam" in result.output
    assert untouched(two.uat)


def test_a_playbook_for_uat_is_refused_on_prod_before_any_request(two: Two) -> None:
    """`instances: [uat]` makes run and plan on prod exit 2 with one line naming both, before
    any request; on uat the same playbook runs."""
    for args in (("run", "uat-spam", "--yes"), ("plan", "uat-spam"), ("run", "uat-spam",
                 "--dry-run"), ("plan", "uat-spam", "--instance", "prod")):  # fmt: skip
        result = two(*args)
        assert result.exit_code == 2, (args, result.output)
        [line] = [x for x in result.output.splitlines() if x.startswith("error:")]
        assert "'uat-spam' is not allowed on instance 'prod'" in line and "uat" in line
    assert untouched(two.prod) and untouched(two.uat)
    assert json.loads(two("history", "--json").output)["runs"] == []
    ok = two("run", "uat-spam", "--instance", "uat", "--yes")
    assert ok.exit_code == 0, ok.output
    assert untouched(two.prod) and two.uat.counters["writes_applied"] > 0


def test_the_prompt_names_the_instance_and_its_host(
    two: Two, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run's confirmation question starts with the instance and its host; answering no
    writes nothing to either Halo."""
    asked: list[str] = []

    def ask(question: str, *, yes: bool) -> bool:
        asked.append(question)
        return False

    monkeypatch.setattr("halo_automate.cli.context.ask", ask)
    result = two("run", "close-spam", "--instance", "uat")
    assert result.exit_code == 4, result.output
    host = two.uat.base_url.removeprefix("http://")
    [question] = asked
    # issue 19.7: the question spells out the effect (was "apply these changes to N tickets?")
    assert question.startswith(f"On uat ({host}): close ")
    assert question.endswith(" private notes, 0 e-mails, 0 other field changes. Apply?")
    assert two.uat.counters["writes_applied"] == 0 and untouched(two.prod)


def test_validate_warns_about_an_instance_the_config_lacks(two: Two, tmp_path: Path) -> None:
    """validate warns (file:line, did-you-mean) about an instances: name the config does not
    have, --strict makes it exit 2, and an unknown --instance is exit 2."""
    typo = tmp_path / "playbooks" / "typo.yaml"
    typo.write_text(variant(SPAM, "typo", instances="[uta]"), encoding="utf-8")
    result = two("validate")
    assert result.exit_code == 0, result.output
    [warning] = [x for x in result.output.splitlines() if "unknown-instance" in x]
    assert warning.startswith(f"{typo}:") and "did you mean 'uat'?" in warning
    assert two("validate", "--strict").exit_code == 2
    assert two("validate", "--instance", "nope").exit_code == 2
    typo.unlink()
    assert "unknown-instance" not in two("validate").output
    assert untouched(two.prod) and untouched(two.uat)


def test_recover_finishes_its_own_instance_and_names_the_others(two: Two) -> None:
    """An interrupted run of uat is not recovered by a plain `recover` (prod: no request
    reaches prod), which names it and the option to use; `recover --instance uat` closes it
    (it never journaled a decision to write: interrupted, nothing sent)."""
    planned = two("plan", "close-spam", "--instance", "uat", "--out", "uat.plan.json")
    assert planned.exit_code == 0, planned.output
    plan = plan_from_json(Path("uat.plan.json").read_text(encoding="utf-8"))
    journal = Journal.open(two.config.parent / "journal.db")
    journal.start_run(
        RunStart(plan.run_id, plan.playbook, "h", "apply", "cli", plan_json=plan_to_json(plan),
                 instance_name="uat", instance_identity=two.uat.base_url)
    )  # fmt: skip
    journal.close()
    plain = two("recover")
    assert plain.exit_code == 0, plain.output
    assert "nothing to recover" in plain.output
    assert f"run {plan.run_id} of instance uat is interrupted too" in plain.output
    assert "--instance uat" in plain.output and untouched(two.prod)
    on_uat = two("recover", "--instance", "uat")
    assert on_uat.exit_code == 5 and f"run {plan.run_id} [interrupted]" in on_uat.output
    assert two.uat.counters["writes_applied"] == 0 and untouched(two.prod)
    assert two("recover", "--instance", "uat").output.strip() == "nothing to recover"


def test_apply_and_undo_with_instance_write_only_there(two: Two) -> None:
    """A plan saved on uat applies with `apply --instance uat`, and `undo --instance uat`
    puts uat's tickets back: prod sees no request throughout."""
    before = tickets(two.uat)
    saved = two("plan", "close-spam", "--instance", "uat", "--out", "uat.plan.json")
    assert saved.exit_code == 0, saved.output
    applied = two("apply", "uat.plan.json", "--instance", "uat", "--yes")
    assert applied.exit_code == 0, applied.output
    changed = {
        i for i, t in two.uat.state.tickets.items() if t["status_id"] != before[i]["status_id"]
    }
    assert changed and untouched(two.prod)
    run_id = plan_from_json(Path("uat.plan.json").read_text(encoding="utf-8")).run_id
    undone = two("undo", run_id, "--instance", "uat", "--yes")
    assert undone.exit_code == 0, undone.output
    assert all(two.uat.state.tickets[i]["status_id"] == before[i]["status_id"] for i in changed)
    assert untouched(two.prod)
    runs = json.loads(two("history", "--json", "--instance", "uat").output)["runs"]
    assert [r["mode"] for r in runs] == ["undo", "apply"]


def test_undo_without_instance_uses_the_instance_the_run_talked_to(two: Two) -> None:
    """`undo RUN` of a uat run, without --instance, undoes it on uat (the journal says where
    the run wrote), and prod sees no request; with --instance prod it is refused, naming
    both Halos, before any write."""
    before = tickets(two.uat)
    ran = two("run", "close-spam", "--instance", "uat", "--yes")
    assert ran.exit_code == 0, ran.output
    [run] = json.loads(two("history", "--json", "--instance", "uat").output)["runs"]
    wrong = two("undo", run["run_id"], "--instance", "prod", "--yes")
    assert wrong.exit_code == 2 and "--instance uat" in wrong.output
    assert untouched(two.prod)  # refused before any request
    undone = two("undo", run["run_id"], "--yes")
    assert undone.exit_code == 0, undone.output
    assert all(t["status_id"] == before[i]["status_id"] for i, t in two.uat.state.tickets.items())
    assert untouched(two.prod)
