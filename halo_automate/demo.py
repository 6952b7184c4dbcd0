"""``halo-automate demo``: the product end to end on an embedded sandbox Halo.

Starts the sandbox in-process on loopback, writes a working folder with a config, the
example playbooks and a journal, then walks through: validate → preview → apply → run again
(nothing to do) → history → undo → the category cleanup preview → a bulk change above its
approval threshold that waits, is approved and then applied (issue 16) → a spam ticket
arriving and closed by a webhook run of the daemon (listening on loopback, the sandbox
delivering; issue 15). Nothing prompts, so it runs unattended (CI) as well as on a
terminal. Each step prints the command that does it by hand.

Like the sandbox it sits beside the runtime: the CLI names it by dotted path and imports it
only when ``demo`` runs, and it takes from the CLI only the drawing modules (console,
preview, report), never a command, so the two never import each other.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from pydantic import SecretStr
from rich.console import Console
from rich.rule import Rule

from halo_automate import logs
from halo_automate.cli.console import make_console
from halo_automate.cli.files import write_file_atomically
from halo_automate.cli.preview import render_plan
from halo_automate.cli.report import history_table
from halo_automate.config import DaemonSettings, HaloSettings, RateLimit, Settings
from halo_automate.config.notify import NotifySettings
from halo_automate.config.webhooks import WebhookSettings
from halo_automate.core.outcome import RunOutcome
from halo_automate.core.playbook import Playbook, load_playbooks
from halo_automate.engine import approvals
from halo_automate.engine.runner import Runner
from halo_automate.engine.undo import build_undo_plan
from halo_automate.errors import ConfigError, ExitCode
from halo_automate.halo.client import HaloClient
from halo_automate.halo.ratelimit import RequestBudget
from halo_automate.sandbox.reference import CLOSED_STATUS
from halo_automate.sandbox.server import SandboxOptions, SandboxServer
from halo_automate.service.daemon import Daemon
from halo_automate.service.links import console_base, run_link
from halo_automate.store.budget import JournalWindow
from halo_automate.store.journal import Journal
from halo_automate.store.records import os_user

DEMO_PLAYBOOKS = (
    "close-spam.yaml",
    "category-cleanup.yaml",
    "bulk-edit-woodgrove.yaml",
    "collapse-alert-duplicates.yaml",
)
DEMO_APPROVAL = "approval: {above: 3, expires: 24h, approver_must_differ: true}\n"
"""Added to bulk-edit-woodgrove in the demo: a bulk change of more than 3 tickets waits."""
CONSOLE = "http://127.0.0.1:8780"
"""The web console's default address (``halo-automate web``), for the links the demo prints."""
SCHEDULER = "scheduler (demo daemon)"
"""Who plans the held change in the demo: not the person who approves it."""


def example_playbooks_dir() -> Path:
    """The example playbooks: the checkout's playbooks/ folder, else ./playbooks."""
    for folder in (Path(__file__).resolve().parent.parent / "playbooks", Path("playbooks")):
        if all((folder / name).is_file() for name in DEMO_PLAYBOOKS):
            return folder
    raise ConfigError("the example playbooks were not found: run the demo from the checkout")


def write_workdir(folder: Path, sandbox: SandboxServer) -> Settings:
    """A config, the example playbooks and an empty journal in ``folder``."""
    playbooks = folder / "playbooks"
    playbooks.mkdir(parents=True, exist_ok=True)
    source = example_playbooks_dir()
    for name in DEMO_PLAYBOOKS:  # atomic, never through a link (--workdir is the user's)
        text = (source / name).read_text(encoding="utf-8")
        text += DEMO_APPROVAL if name == "bulk-edit-woodgrove.yaml" else ""
        write_file_atomically(playbooks / name, text, ConfigError)
    write_file_atomically(
        folder / "config.yaml",
        "halo:\n"
        f"  base_url: {sandbox.base_url}\n"
        f"  client_id: {sandbox.client_id}\n"
        "  client_secret: ${HALO_CLIENT_SECRET}\n"
        "  rate_limit: {requests: 300, per_seconds: 300}\n"
        "playbooks_dir: playbooks\n"
        "journal: halo-automate.db\n"
        f"notify: {{console_url: '{CONSOLE}'}}\n",
        ConfigError,
    )
    return Settings(
        halo=HaloSettings(
            base_url=sandbox.base_url,
            client_id=sandbox.client_id,
            client_secret=SecretStr(sandbox.client_secret),
            rate_limit=RateLimit(requests=300, per_seconds=300),
        ),
        playbooks_dir=playbooks,
        journal=folder / "halo-automate.db",
        notify=NotifySettings(console_url=CONSOLE),
        daemon=DaemonSettings(watch_playbooks=False),
        webhooks=WebhookSettings(  # the demo's own: a random path and password, loopback
            listen="127.0.0.1:0",
            path=f"/hooks/halo-{secrets.token_hex(8)}",
            username="halo",
            password=SecretStr(secrets.token_urlsafe(18)),
        ),
    )


GROUPS = "collapse-alert-duplicates"
_PLANTED = ("duplicate_survivor", "duplicate", "duplicate_lookalike")


class Demo:
    def __init__(self, console: Console, settings: Settings, sandbox: SandboxServer) -> None:
        self.console = console
        self.settings = settings
        self.sandbox = sandbox
        self.journal = Journal.open(settings.journal)
        self.window = JournalWindow.open(settings.journal)  # the budget every process shares
        budget = RequestBudget.for_instance(settings.halo, window=self.window)
        self.client = HaloClient(settings.halo, budget=budget, instance_name=settings.instance_name)
        self.runner = Runner(self.client, self.journal)

    def step(self, title: str, command: str) -> None:
        self.console.print(Rule(title))
        self.console.print(f"[dim]by hand: {command}[/dim]")

    def outcome(self, outcome: RunOutcome) -> None:
        self.console.print(
            f"run {outcome.run_id}: {outcome.status}; scanned {outcome.scanned}, matched "
            f"{outcome.matched}, changed {outcome.changed}, skipped {outcome.skipped}, failed "
            f"{outcome.failed}; {outcome.requests} requests in {outcome.seconds:.2f}s",
            highlight=False,
        )

    def run(self) -> ExitCode:
        valid, problems = load_playbooks(self.settings.playbooks_dir)
        self.step("1. Validate the example playbooks", "halo-automate validate")
        for pb in valid:
            self.console.print(f"  ok  {pb.name}: {pb.description}", highlight=False)
        for problem in problems:
            self.console.print(f"  !!  {problem}", highlight=False)
        spam = next(pb for pb in valid if pb.name == "close-spam")

        self.step("2. Preview: what close-spam would change", "halo-automate plan close-spam")
        preview = self.runner.plan(spam)
        halo = self.settings.halo
        render_plan(preview, self.console, lookups=self.runner.lookups_for(spam), max_rows=8,
                    batch_size=halo.batch_size, page_size=halo.page_size)  # fmt: skip

        self.step("3. Apply it (journaled, batched)", "halo-automate run close-spam --yes")
        before = self.sandbox.counters["writes_applied"]
        started = self.client.stats.snapshot()["requests"]
        at_prompt = [started]

        def confirm(plan: object) -> bool:
            at_prompt[0] = self.client.stats.snapshot()["requests"]
            return True

        applied = self.runner.run(spam, trigger="cli", confirm=confirm)
        self.outcome(applied)
        planning = at_prompt[0] - started
        self.console.print(
            f"  {planning} of them to plan again (fetch, lookups), "
            f"{applied.requests - planning} to apply: what the preview's estimate counts",
            highlight=False,
        )
        writes = self.sandbox.counters["writes_applied"] - before
        self.console.print(f"  the sandbox received {writes} write requests for "
                           f"{applied.changed} tickets")  # fmt: skip

        self.step("4. Run it again: nothing left to do", "halo-automate run close-spam --yes")
        self.outcome(self.runner.run(spam, trigger="cli", confirm=lambda plan: True))

        self.step("5. The journal", "halo-automate history; halo-automate show RUN_ID")
        self.console.print(history_table(self.journal.runs(limit=5), {}, self.console))

        self.step(f"6. Undo run {applied.run_id}", f"halo-automate undo {applied.run_id} --yes")
        undo_plan = build_undo_plan(self.journal, applied.run_id, now=self.runner.now())
        undone = self.runner.apply_saved(undo_plan, confirm=lambda plan: True)
        self.outcome(undone)
        again = self.runner.plan(spam)
        self.console.print(
            f"  after the undo, close-spam would again change {len(again.changes)} tickets "
            f"(it changed {applied.changed})"
        )

        cleanup = next(pb for pb in valid if pb.name == "category-cleanup")
        self.step("7. Category cleanup preview", "halo-automate run category-cleanup --dry-run")
        plan = self.runner.plan(cleanup)
        render_plan(plan, self.console, lookups=self.runner.lookups_for(cleanup), max_rows=5)
        approved = self.approval(next(pb for pb in valid if pb.name == "bulk-edit-woodgrove"))
        grouped = self.groups_step(next(pb for pb in valid if pb.name == GROUPS))
        arrived = self.webhook_step()  # last: stopping its daemon stops the runner
        self.console.print(Rule("done"))
        ok = undone.status == "succeeded" and len(again.changes) == applied.changed
        ok = ok and approved and arrived and grouped
        return ExitCode.OK if ok and applied.status == "succeeded" else ExitCode.BUG

    def approval(self, bulk: Playbook) -> bool:
        """Step 8: a plan above its approval threshold waits; approving applies it."""
        self.step("8. A bulk change above its threshold waits for approval",
                  "halo-automate daemon (or: halo-automate run bulk-edit-woodgrove)")  # fmt: skip
        scheduler = Runner(self.client, self.journal, started_by=SCHEDULER)
        before = self.sandbox.counters["writes_applied"]
        waiting = scheduler.run(bulk, trigger="schedule", confirm=None)
        self.outcome(waiting)
        held = approvals.waiting(self.journal, self.runner.now())
        config = self.settings.journal.parent / "config.yaml"
        link = run_link(console_base(self.settings), waiting.run_id)
        self.console.print(
            f"  {len(held)} plan waiting (halo-automate approvals); nothing written: "
            f"{self.sandbox.counters['writes_applied'] - before} writes\n"
            f"  review it in the web console: {link}\n"
            f"  approve it:  halo-automate approve {waiting.run_id} --apply "
            f"--config {config}\n  or reject:   halo-automate reject {waiting.run_id} "
            "--reason TEXT",
            highlight=False, markup=False,
        )  # fmt: skip
        approver = os_user()
        self.step(f"9. {approver} approves it; it is applied exactly",
                  f"halo-automate approve {waiting.run_id} --apply --yes")  # fmt: skip
        approvals.approve(self.journal, waiting.run_id, approver, self.runner.now())
        done = self.runner.apply_approved(waiting.run_id, confirm=None)
        self.outcome(done)
        self.console.print(
            f"  run {waiting.run_id}: {self.journal.get_run(waiting.run_id).message}",
            highlight=False, markup=False,
        )  # fmt: skip
        held_ok = waiting.status == "awaiting_approval" and len(held) == 1
        return held_ok and done.status == "succeeded" and done.changed == waiting.planned

    def webhook_step(self) -> bool:
        """A spam ticket arrives; the sandbox tells the daemon by webhook; close-spam
        (``triggers: [webhook]``) closes it. True when it was closed in time."""
        self.step(
            "11. A spam ticket arrives: closed by a webhook run",
            "halo-automate daemon (with a webhooks: section; see docs/webhooks.md)",
        )
        daemon = Daemon(self.settings, self.runner, install_signals=False, poll_seconds=0.1)
        thread = threading.Thread(target=daemon.serve, daemon=True, name="demo-daemon")
        thread.start()
        try:
            hooks = _wait(lambda: daemon.beside.webhooks if daemon.alive else None, 10.0)
            if hooks is None or hooks.address is None:
                self.console.print("  the daemon did not start listening", style="red")
                return False
            config = self.settings.webhooks
            assert config is not None
            url = f"http://{hooks.address}{config.path}"
            self.sandbox.deliver_webhooks(url, config.username, config.password.get_secret_value())
            self.console.print(f"  the daemon listens for Halo's webhooks on {url}")
            ticket, started = self.new_spam(), time.monotonic()
            closed = _wait(lambda: self.closed(ticket) or None, 15.0)
            took = time.monotonic() - started
        finally:
            self.sandbox.deliver_webhooks(None)
            daemon.request_stop()
            thread.join(30)
        if not closed:
            self.console.print(f"  ticket {ticket} was not closed within 15 s", style="red")
            return False
        self.console.print(
            f'  ticket {ticket} ("Weekly deals inside", from deals@news.example) arrived; '
            f"Halo's webhook named it, the daemon re-read it and close-spam closed it "
            f"{took:.2f} s after it arrived",
            highlight=False,
        )
        return True

    def groups_step(self, collapse: Playbook) -> bool:
        """Step 10: repeated alerts grouped under the first of their burst, linked and closed
        (the sandbox's planted bursts and look-alikes); a re-run plans nothing."""
        self.step(
            "10. Duplicate alerts: linked to the first of their burst, and closed",
            f"halo-automate plan {GROUPS}; halo-automate run {GROUPS} --yes",
        )
        with self.sandbox.locked_state() as state:
            planted = {k: set(state.planted.get(k, ())) for k in _PLANTED}
        if not planted["duplicate_survivor"]:
            self.console.print("  no duplicate bursts seeded (demo --no-duplicates)")
            return True
        plan = self.runner.plan(collapse)
        render_plan(plan, self.console, lookups=self.runner.lookups_for(collapse), max_rows=4)
        done = self.runner.run(collapse, trigger="cli", confirm=lambda plan: True)
        self.outcome(done)
        again = self.runner.plan(collapse)
        found = {g.survivor for g in plan.groups}
        grouped = found | {m for g in plan.groups for m in g.members}
        wrong = len(grouped & planted["duplicate_lookalike"])
        self.console.print(
            f"  {len(found)} groups found ({len(planted['duplicate_survivor'])} planted), "
            f"{done.changed} duplicates linked and closed, look-alikes grouped: {wrong}; "
            f"run again: {len(again.changes)} to change",
            highlight=False,
        )
        exact = found == planted["duplicate_survivor"] and not wrong
        return exact and done.status == "succeeded" and not again.changes

    def new_spam(self) -> int:
        """Mail creates a ticket (a copy of an open, unassigned one) from a newsletter."""
        with self.sandbox.locked_state() as state:
            like = next(
                t["id"]
                for t in state.tickets.values()
                if not t["deleted"] and not t["agent_id"] and t["status_id"] != CLOSED_STATUS
            )
        return self.sandbox.insert_ticket(
            like, summary="Weekly deals inside", user_email="deals@news.example"
        )

    def closed(self, ticket: int) -> bool:
        with self.sandbox.locked_state() as state:
            return bool(state.tickets[ticket]["status_id"] == CLOSED_STATUS)

    def close(self) -> None:
        self.client.close()
        self.window.close()
        self.journal.close()


_T = TypeVar("_T")


def _wait(probe: Callable[[], _T | None], seconds: float) -> _T | None:
    """``probe()`` until it is not None (every 20 ms), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while (found := probe()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


@click.command("demo")
@click.option("--tickets", default=3000, show_default=True, type=click.IntRange(100, 200_000))
@click.option("--seed", default=1, show_default=True)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the config, playbooks and journal here (default: a temporary folder).",
)
@click.option(
    "--duplicates/--no-duplicates",
    default=True,
    show_default=True,
    help="Seed duplicate alert bursts and look-alikes (sandbox --duplicates) for step 11.",
)
def demo_command(tickets: int, seed: int, workdir: Path | None, duplicates: bool = True) -> None:
    """Walk through halo-automate on an embedded sandbox Halo (no prompts, no real Halo)."""
    logs.configure(level="WARNING")
    console = make_console()
    options = SandboxOptions(
        port=0, tickets=tickets, seed=seed, rate_limit=0, duplicates=duplicates
    )
    with SandboxServer(options) as sandbox:
        console.print(
            f"Sandbox Halo on {sandbox.base_url} with {len(sandbox.state.tickets)} seeded "
            "tickets (spam, retired categories and look-alikes planted)",
            highlight=False,
        )
        folder = workdir or Path(tempfile.mkdtemp(prefix="halo-automate-demo-"))
        settings = write_workdir(folder, sandbox)
        console.print(f"working folder: {folder}", highlight=False)
        demo = Demo(console, settings, sandbox)
        try:
            code = demo.run()
        finally:
            demo.close()
            if workdir is None:
                shutil.rmtree(folder, ignore_errors=True)
    raise SystemExit(code)
