"""Issue 13, point 4: ticket text is sanitised wherever it leaves the program, and a ticket
with a lone surrogate neither crashes a run nor stops the sandbox from listing.

A summary's ANSI escapes must not reach the terminal raw (they could repaint the preview the
user approves), nor a log line; a lone surrogate (``\\ud83d``) must not make printing, logging
or journaling raise. The tickets a plan could not evaluate are listed with their count.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest
import structlog
from fault_tools import SandboxFactory, runner_for
from rich.console import Console

from halo_automate import logs
from halo_automate.cli.preview import render_plan
from halo_automate.cli.report import show_run
from halo_automate.core.changes import ActionSpec, NotEvaluated, Plan, TicketChange
from halo_automate.core.plan import plan_to_json
from halo_automate.core.playbook import load_playbook, load_playbook_text
from halo_automate.sandbox.replies import Reply

HOSTILE = "Automatic reply \x1b[2J\x1b[H\x1b]0;owned\x07 \u202eevil \ud83d end"
RAW = ("\x1b[2J", "\x1b[H", "\x1b]0;", "\x07", "\u202e", "\ud83d")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    for name in logs.STDLIB_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def hostile_plan() -> Plan:
    """A plan as a file could hold it: ticket text nobody sanitised."""
    change = TicketChange(
        ticket_id=7,
        client_name="Contoso \x1b[31mLtd",
        summary=HOSTILE,
        reason="summary contains 'automatic reply'",
        fields=MappingProxyType({}),
        ticket_update=MappingProxyType({}),
        actions=(ActionSpec("note", MappingProxyType({"note": HOSTILE, "outcome_id": 7})),),
    )
    return Plan(
        version=1, run_id="run-1", playbook="spam", playbook_hash="h", created_at="now",
        mode="apply", halo_rules=False, max_changes=100, expect_min=None, expect_max=None,
        query=MappingProxyType({}), scanned=2, matched=1, changes=(change,),
        not_evaluated=(NotEvaluated(8, HOSTILE, "field agent_id is '2', not a whole number"),),
    )  # fmt: skip


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, color_system="truecolor", width=200), out


def assert_clean(text: str) -> None:
    for raw in RAW:
        assert raw not in text, (raw, text)
    text.encode("utf-8")


def test_preview_never_prints_ticket_escapes_raw() -> None:
    """The rich preview neutralises a summary's escapes; the not-evaluated ticket is listed."""
    console, out = terminal()
    render_plan(hostile_plan(), console)
    printed = out.getvalue()
    assert_clean(printed)
    assert "\\x1b[2J" in printed  # shown, not executed
    assert (
        "#8 " in printed and "not evaluated: field agent_id is '2', not a whole number" in printed
    )
    assert "Not evaluated (odd data; never written): 1 ticket(s)" in printed


def test_show_never_prints_ticket_escapes_raw(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """`show` of a run whose plan and message hold hostile text prints them neutralised."""
    sb = sandbox_factory(tickets=5)
    pb = load_playbook_text("name: t\nmode: preview\nactions: [{close: {}}]\n", "t.yaml")
    with runner_for(sb, tmp_path / "journal.db") as runner:
        runner.run(pb, trigger="cli", confirm=None)
        [run] = runner.journal.runs()
    run = dataclasses.replace(run, message=HOSTILE)
    console, out = terminal()
    show_run(console, run, [], plan_to_json(hostile_plan()))
    assert_clean(out.getvalue())
    assert "#7 Automatic reply" in out.getvalue()


@pytest.mark.parametrize("as_json", [True, False])
def test_log_lines_are_sanitised(as_json: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every value of a log line is neutralised, whichever renderer (and stdlib routing)."""
    out = io.StringIO()
    logs.configure(json=as_json, stream=out)
    # The stdlib record would also propagate to pytest's own capture handler on the root
    # logger, raw (lone surrogate included), and a pytest-xdist worker cannot serialise that
    # report (INTERNALERROR). Our handler sits on the logger itself, so routing is still tested.
    scheduler_log = logging.getLogger("apscheduler")
    monkeypatch.setattr(scheduler_log, "propagate", False)
    ours = [h for h in scheduler_log.handlers if type(h).__module__ == logs.__name__]
    monkeypatch.setattr(scheduler_log, "handlers", ours)  # no capture handler of pytest's
    structlog.get_logger().warning("ticket_skipped", summary=HOSTILE, tags=[HOSTILE])
    logging.getLogger("apscheduler").warning("job %s", HOSTILE)
    assert_clean(out.getvalue())
    if as_json:
        line = json.loads(out.getvalue().splitlines()[0])
        assert line["summary"].startswith("Automatic reply \\x1b[2J")


def test_lone_surrogate_in_halo_neither_crashes_a_run_nor_the_sandbox(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A summary holding a lone surrogate (as Halo sends it: the JSON escape \\ud83d) and one
    holding ANSI escapes: the sandbox keeps listing, the run plans, journals and closes the
    good ticket, reports the undecidable one, and nothing it stores or prints is raw."""
    sb = sandbox_factory(tickets=6)
    with sb.locked_state() as state:
        odd_id, good_id = list(state.tickets)[:2]
    sb.edit_ticket(odd_id, summary="Automatic reply: away \ud83d", status_id=1)
    sb.edit_ticket(good_id, summary="Automatic reply: \x1b[2J back", status_id=1)
    pb = load_playbook_text(
        "name: t\nwhere: {summary: {matches: '(?i)^automatic reply'}}\n"
        "actions: [{close: {note: 'Closed {ticket.summary}'}}]\n",
        "t.yaml",
    )
    # Logs are captured here (structlog's defaults would print the raw ticket text to the
    # test's captured output, which a parallel test worker then has to serialise).
    with runner_for(sb, tmp_path / "journal.db") as runner, structlog.testing.capture_logs():
        plan = runner.plan(pb)
        assert [n.ticket_id for n in plan.not_evaluated] == [odd_id]
        assert [c.ticket_id for c in plan.changes] == [good_id]
        outcome = runner.run(pb, trigger="cli", confirm=None)
        assert outcome.error is None, outcome.message
        [run] = runner.journal.runs()
        plan_json = runner.journal.plan_json(run.run_id)
    assert plan_json is not None and "not_evaluated" in plan_json
    assert_clean(plan_json)
    with sb.locked_state() as state:
        assert state.tickets[odd_id]["status_id"] == 1  # never written
        notes = [a["note"] for a in state.actions[good_id]]
        assert notes and all("\x1b" not in n for n in notes)
        assert state.tickets[good_id]["status_id"] == 9  # the good ticket was closed


def test_sandbox_serves_a_lone_surrogate_as_halo_does() -> None:
    """The sandbox answers a body holding a lone surrogate with its JSON escape (as Halo's
    serializer does) instead of failing to encode it (which answered 500 to every list)."""
    body = Reply(200, {"summary": "away \ud83d", "name": "é"}).encode()
    assert body == b'{"summary":"away \\ud83d","name":"\\u00e9"}'
    assert json.loads(body)["summary"] == "away \ud83d"
    assert Reply(200, {"name": "é"}).encode() == '{"name":"é"}'.encode()


def test_odd_agent_ids_and_dates_in_halo_never_grow_a_plan(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Against the sandbox: spam that close-spam plans is no longer planned once its agent_id
    reads "2" (10 of 10 were closed before), and `not: lastactiondate newer_than 90d` does not
    grow when dates are not ISO (102 -> 905 before): those tickets are listed, never written."""
    sb = sandbox_factory()
    spam = load_playbook(Path(__file__).resolve().parents[2] / "playbooks" / "close-spam.yaml")
    stale = load_playbook_text(
        "name: stale\nselect: {open_only: true}\n"
        "where: {not: {lastactiondate: {newer_than: 90d}}}\nactions: [{close: {}}]\n",
        "stale.yaml",
    )
    with runner_for(sb, tmp_path / "journal.db") as runner:
        planned = [c.ticket_id for c in runner.plan(spam).changes]
        before = len(runner.plan(stale).changes)
        assert planned and before, (planned, before)
        with sb.locked_state() as state:
            every = list(state.tickets)
        for ticket_id in every:
            sb.edit_ticket(ticket_id, lastactiondate="20/11/2026 10:00")
        for ticket_id in planned:
            sb.edit_ticket(ticket_id, agent_id="2")
        again = runner.plan(spam)
        after = runner.plan(stale)
    assert again.changes == ()
    assert sorted(n.ticket_id for n in again.not_evaluated) == sorted(planned)
    assert after.changes == () and len(after.not_evaluated) >= before
