"""The daemon's incremental scheduled runs end to end (issue 15): the real Daemon, Runner,
client and journal against a sandbox Halo over loopback HTTP, all on one fake clock, so
"15 minutes later" is a clock step, not a wait.

* a ticket that starts matching between runs is caught by the next, incremental, run;
* the full sweep catches a ticket the incremental read could not see (edited without its
  last update moving);
* a Halo that ignores the date filter: every run falls back to a full read, logged once,
  and still closes what it should;
* playbooks due at the same moment read identical queries once (shared reads).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apply_support import FAST_RETRY
from clock import FakeClock
from conftest import SandboxFactory
from pydantic import SecretStr
from structlog.testing import capture_logs

from halo_automate.config import HaloSettings, RateLimit, Settings
from halo_automate.core.dates import format_halo_date
from halo_automate.engine.runner import Runner
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox import reference as ref
from halo_automate.service.daemon import Daemon
from halo_automate.store.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
SPAM = (ROOT / "playbooks" / "close-spam.yaml").read_text(encoding="utf-8")


def spam_playbook(name: str = "close-spam", **keys: str) -> str:
    text = re.sub(r"(?m)^name:.*$", f"name: {name}", SPAM)
    text = re.sub(r"(?m)^schedule:.*$", 'schedule: "every 15m"', text)
    return text + "".join(f"{k}: {v}\n" for k, v in keys.items())


@dataclass
class Service:
    sb: SandboxServer
    clock: FakeClock
    daemon: Daemon
    journal: Journal

    def run(self) -> dict[str, Any]:
        """One pass of the scheduled playbooks (``--once``); what each run did."""
        with capture_logs() as logs:
            assert self.daemon.run_once() == 0
        self.logs = logs
        return {r.playbook: r for r in self.journal.runs(limit=len(self.daemon.scheduled()))}

    def reads(self, event: str = "tickets_read") -> list[dict[str, Any]]:
        return [e for e in self.logs if e["event"] == event]

    def open_ticket(self) -> int:
        with self.sb.locked_state() as state:
            return next(
                t["id"] for t in state.tickets.values()
                if t["status_id"] != ref.CLOSED_STATUS and not t["deleted"]
            )  # fmt: skip

    def new_spam(self, *, updated: bool = True) -> int:
        """A bounce arriving now (``updated``: its last update is now, as Halo would set it)."""
        fields: dict[str, Any] = {"summary": "Undeliverable: your message", "agent_id": 0}
        if updated:
            fields["last_update"] = format_halo_date(self.clock.now())
        return self.sb.insert_ticket(self.open_ticket(), **fields)

    def is_closed(self, ticket_id: int) -> bool:
        with self.sb.locked_state() as state:
            return bool(state.tickets[ticket_id]["status_id"] == ref.CLOSED_STATUS)


@pytest.fixture
def service(sandbox_factory: SandboxFactory, tmp_path: Path) -> Iterator[Any]:
    made: list[tuple[HaloClient, Journal]] = []

    def make(*playbooks: str, ignore_date_filter: bool = False, **reads: Any) -> Service:
        clock = FakeClock()
        sb = sandbox_factory(monotonic=clock, sleep=clock.sleep, now=clock.now(),
                             ignore_date_filter=ignore_date_filter)  # fmt: skip
        folder = tmp_path / "playbooks"
        folder.mkdir(exist_ok=True)
        for text in playbooks:
            name = re.search(r"(?m)^name: (\S+)", text)
            assert name is not None
            (folder / f"{name.group(1)}.yaml").write_text(text, encoding="utf-8")
        halo = HaloSettings(
            base_url=sb.base_url, client_id=sb.client_id,
            client_secret=SecretStr(sb.client_secret),
            rate_limit=RateLimit(requests=100_000, per_seconds=1),
        )  # fmt: skip
        settings = Settings(
            halo=halo, playbooks_dir=folder, journal=tmp_path / "journal.db",
            reads=reads or {},
        )  # fmt: skip
        client = HaloClient(halo, retry=FAST_RETRY, clock=clock, sleep=clock.sleep)
        journal = Journal.open(settings.journal, clock=clock.now)
        made.append((client, journal))
        runner = Runner(client, journal, now=clock.now, started_by="tests", reads=settings.reads)
        daemon = Daemon(settings, runner, install_signals=False, clock=clock.now)
        return Service(sb, clock, daemon, journal)

    yield make
    for client, journal in made:
        client.close()
        journal.close()


def test_a_ticket_that_starts_matching_between_runs_is_caught_by_the_next(service: Any) -> None:
    svc = service(spam_playbook())
    first = svc.run()["close-spam"]
    assert first.counts.scanned > 100 and first.counts.done > 0  # the first read is full
    assert [e["read"] for e in svc.reads()] == ["full"]

    svc.clock.advance(minutes=15)
    spam = svc.new_spam()
    quiet = svc.open_ticket()  # an open ticket a technician edits into looking like spam
    svc.sb.edit_ticket(quiet, user_email="mailer-daemon@example.com", agent_id=0,
                       last_update=format_halo_date(svc.clock.now()))  # fmt: skip
    second = svc.run()["close-spam"]

    assert [(e["read"], e["reason"]) for e in svc.reads()] == [
        ("incremental", "updated since the last read")
    ]
    # the tickets updated since the first read (less the skew margin), not every open one
    assert second.counts.matched == 2 and second.counts.scanned < 10 < first.counts.scanned
    assert svc.is_closed(spam) and svc.is_closed(quiet)


def test_the_full_sweep_catches_what_the_incremental_read_could_not(service: Any) -> None:
    svc = service(spam_playbook(full_sweep="1h"))
    svc.run()
    svc.clock.advance(minutes=15)
    hidden = svc.new_spam(updated=False)  # its last update is the copied ticket's, long ago

    svc.run()
    assert [e["read"] for e in svc.reads()] == ["incremental"]
    assert not svc.is_closed(hidden)  # invisible to an updated-since read

    svc.clock.advance(minutes=50)  # the last full read is now more than an hour old
    svc.run()
    assert [(e["read"], e["reason"]) for e in svc.reads()] == [("full", "full sweep due")]
    assert svc.is_closed(hidden)

    svc.clock.advance(minutes=15)  # and the sweep's read is the new base
    svc.run()
    assert [e["read"] for e in svc.reads()] == ["incremental"]


def test_a_halo_ignoring_the_date_filter_falls_back_to_full_reads_logged_once(
    service: Any,
) -> None:
    svc = service(spam_playbook(), ignore_date_filter=True)
    first = svc.run()["close-spam"]

    svc.clock.advance(minutes=15)
    spam = svc.new_spam()
    second = svc.run()["close-spam"]
    assert svc.is_closed(spam)
    assert second.counts.scanned == first.counts.scanned - first.counts.done + 1
    assert [e["read"] for e in svc.reads()] == ["full"]
    assert len(svc.reads("incremental_unavailable")) == 1
    ignored = {e["form"] for e in svc.reads("incremental_form_ignored")}
    assert ignored == {"lastupdatefromdate", "datesearch=lastupdate", "datesearch=last_update"}

    svc.clock.advance(minutes=15)
    spam = svc.new_spam()
    svc.run()
    assert svc.is_closed(spam)
    assert [(e["read"], e["reason"]) for e in svc.reads()] == [
        ("full", "Halo honours no last-update filter form")
    ]
    assert svc.reads("incremental_unavailable") == []  # logged once, not on every run
    assert svc.reads("incremental_form_ignored") == []


def test_playbooks_due_at_the_same_moment_read_an_identical_query_once(service: Any) -> None:
    svc = service(spam_playbook("close-spam"), spam_playbook("close-spam-again"))
    svc.run()
    assert sorted(e["read"] for e in svc.reads()) == ["full", "shared"]

    svc.clock.advance(minutes=15)
    spam = svc.new_spam()
    runs = svc.run()
    assert sorted(e["read"] for e in svc.reads()) == ["incremental", "shared"]
    assert svc.is_closed(spam)
    # one closed it; the other planned over the shared read, re-read the ticket the first
    # wrote (it no longer matches: closed) and has nothing left to do
    assert sorted(r.counts.done for r in runs.values()) == [0, 1]


def test_a_refused_run_moves_no_watermark_so_its_window_is_read_again(service: Any) -> None:
    capped = spam_playbook().replace("max_changes: 500", "max_changes: 1")
    svc = service(capped)
    assert svc.daemon.run_once  # the default sandbox holds dozens of spam tickets: refused
    with capture_logs():
        code = svc.daemon.run_once()
    assert code == 4
    assert svc.journal.watermark("close-spam", "default") is None

    svc.clock.advance(minutes=15)
    with capture_logs() as logs:
        svc.daemon.run_once()
    reads = [e for e in logs if e["event"] == "tickets_read"]
    assert [(e["read"], e["reason"]) for e in reads] == [("full", "first read")]


def test_metrics_show_each_playbooks_requests_of_the_last_hour(service: Any) -> None:
    svc = service(spam_playbook())
    first = svc.run()["close-spam"]
    svc.clock.advance(minutes=15)
    second = svc.run()["close-spam"]
    text = svc.daemon.prometheus()
    total = first.counts.requests + second.counts.requests
    assert f'halo_automate_playbook_requests_per_hour{{playbook="close-spam"}} {total}' in text
    assert "halo_automate_budget_requests_per_hour 3.6e+08" in text


def test_reads_settings_and_the_playbook_key() -> None:
    from halo_automate.config.reads import ReadsSettings
    from halo_automate.core.playbook import load_playbook_text
    from halo_automate.errors import PlaybookError

    assert ReadsSettings() == ReadsSettings(
        incremental=True, full_sweep="daily", skew_seconds=120, budget_warn_share=0.5
    )
    with pytest.raises(ValueError, match="not a sweep interval"):
        ReadsSettings(full_sweep="fortnightly")
    assert load_playbook_text(spam_playbook(full_sweep="6h")).full_sweep == "6h"
    assert load_playbook_text(SPAM).full_sweep is None
    with pytest.raises(PlaybookError, match="full_sweep: 'sometimes' is not a sweep interval"):
        load_playbook_text(spam_playbook(full_sweep="sometimes"))


def test_a_lifecycle_playbook_reads_in_full_on_every_scheduled_run(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Its warn-then-close steps fall due as their waiting periods pass, without an update."""
    from halo_automate.core.playbook import load_playbook

    lifecycle = load_playbook(ROOT / "playbooks" / "waiting-on-customer.yaml")
    assert lifecycle.lifecycle
    sb = sandbox_factory()
    client = HaloClient(
        HaloSettings(base_url=sb.base_url, client_id=sb.client_id,
                     client_secret=SecretStr(sb.client_secret)), retry=FAST_RETRY,
    )  # fmt: skip
    with client, Journal.open(tmp_path / "j.db") as journal:
        runner = Runner(client, journal, started_by="tests")
        for _ in range(2):
            with capture_logs() as logs:
                runner.run(lifecycle, trigger="schedule", confirm=None)
            reads = [e for e in logs if e["event"] == "tickets_read"]
            assert [(e["read"], e["reason"]) for e in reads] == [
                ("full", "lifecycle steps (time-dependent)")
            ]


def test_a_group_playbook_reads_in_full_on_every_scheduled_run(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Issue 18 on issue 15: a new alert's survivor is a ticket nobody updated since the last
    read, so an updated-since read would group the new alerts among themselves and link them
    to the wrong survivor. Two new duplicates of a linked burst arrive between two scheduled
    runs: the second run links both to the burst's original survivor."""
    from halo_automate.core.dates import format_halo_date, parse_halo_date
    from halo_automate.core.playbook import load_playbook

    collapse = load_playbook(ROOT / "playbooks" / "collapse-alert-duplicates.yaml")
    sb = sandbox_factory(duplicates=True)
    client = HaloClient(
        HaloSettings(base_url=sb.base_url, client_id=sb.client_id,
                     client_secret=SecretStr(sb.client_secret)), retry=FAST_RETRY,
    )  # fmt: skip
    with client, Journal.open(tmp_path / "j.db") as journal:
        runner = Runner(client, journal, started_by="tests")
        first = runner.run(collapse, trigger="schedule", confirm=None)
        assert first.status == "succeeded" and first.changed > 0
        survivor = min(sb.state.planted["duplicate_survivor"])
        began = parse_halo_date(sb.state.tickets[survivor]["dateoccurred"])
        assert began is not None
        now = format_halo_date(datetime.now(UTC))
        arrivals = [  # the same alert again, within the burst's 24 h, updated just now
            sb.insert_ticket(survivor, dateoccurred=format_halo_date(began + timedelta(hours=h)),
                             last_update=now, lastactiondate=now)
            for h in (1, 2)
        ]  # fmt: skip
        with capture_logs() as logs:
            second = runner.run(collapse, trigger="schedule", confirm=None)
        reads = [(e["read"], e["reason"]) for e in logs if e["event"] == "tickets_read"]
        assert reads == [("full", "duplicate groups (a survivor need not have changed)")]
        assert second.changed == 2
        assert [sb.state.tickets[t]["parent_id"] for t in arrivals] == [survivor, survivor]
