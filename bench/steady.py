"""Steady state (issue 15): what scheduled playbooks cost an hour, today vs incremental.

Four scheduled playbooks (the shipped ``close-spam`` every 15 minutes, one more close-spam
``every 5m``, ``category-cleanup`` nightly at 02:30 and ``close-quarantined`` daily at 06:00,
``max_changes`` raised in temporary copies so no first run is refused) run against a sandbox
of N tickets in which 2% of the tickets change per hour, over several *simulated* hours:

* one process, one :class:`~tests.clock`-style fake clock shared by the sandbox (its write
  times and rate-limit window), the client (its budget and token expiry) and the runner, so
  seven hours take a minute of wall time and every figure is exact;
* the schedules fire as the daemon's would (the daemon's own triggers; a run late by more than
  the misfire grace is skipped, a backlog coalesces), each run through the real
  :class:`~halo_automate.engine.runner.Runner` with ``trigger="schedule"``, and in the
  incremental mode through the daemon's shared-read cache, moment by moment as the daemon
  calls it;
* every minute of simulated time 2%/60 of all tickets are edited (their ``last_update`` set to
  that minute), as agents and mail would;
* requests are counted by the sandbox (every request that reached it, tokens included); the
  first simulated hour is the warm-up (first full reads), the rest is measured.

**today**: ``reads.incremental: false``, no shared reads (every run re-reads its select).
**incremental**: the defaults (``full_sweep: daily``, skew 120 s) plus shared reads.
**floor**: token renewals (one per hour) + per run the instance facts it must read (one
request, issue 14) + the pages of the tickets its select matches that changed since that
playbook's previous run (at least one page; one read per moment for identical selects), or of
every ticket it matches when a full read cannot be avoided (a first read, the daily sweep, a
time-dependent ``where``), + its writes (stale-check pages and write batches of what it
changed).
"""

from __future__ import annotations

import math
import random
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from halo_automate.config import HaloSettings, RateLimit
from halo_automate.config.reads import ReadsSettings
from halo_automate.core.dates import format_halo_date
from halo_automate.core.incremental import parse_sweep, time_dependent
from halo_automate.core.plan_doc import plan_from_json
from halo_automate.core.playbook import Playbook, load_playbook_text
from halo_automate.engine.runner import Runner
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox.reference import CLOSED_STATUS
from halo_automate.sandbox.server import SandboxOptions, SandboxServer
from halo_automate.service.shared_reads import SharedReads
from halo_automate.service.triggers import make_trigger
from halo_automate.store.journal import Journal

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # a Monday, 01:00: both daily runs fall inside
MISFIRE_GRACE = timedelta(seconds=300)  # the daemon's default misfire_grace_seconds
SUSPECTED_SPAM = 21
SWEEP = parse_sweep(ReadsSettings().full_sweep) or timedelta(days=36500)  # daily


class SimClock:
    """Monotonic seconds, the wall clock and sleep from one simulated time (thread-safe
    enough: the client's page threads only read it; sleeps add)."""

    def __init__(self, wall: datetime) -> None:
        self.seconds = 0.0
        self.wall = wall

    def __call__(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return self.wall + timedelta(seconds=self.seconds)

    def sleep(self, seconds: float) -> None:
        self.seconds += max(0.0, seconds)

    def advance_to(self, moment: datetime) -> None:
        self.seconds = max(self.seconds, (moment - self.wall).total_seconds())


def playbooks() -> list[Playbook]:
    """The four scheduled playbooks, ``max_changes`` raised so no first run is refused."""

    def load(name: str, rename: str | None = None, schedule: str | None = None) -> Playbook:
        text = (ROOT / "playbooks" / f"{name}.yaml").read_text(encoding="utf-8")
        text = re.sub(r"(?m)^  max_changes:.*$", "  max_changes: 1000000", text)
        if rename:
            text = re.sub(r"(?m)^name:.*$", f"name: {rename}", text)
        if schedule:
            text = re.sub(r"(?m)^schedule:.*$", f'schedule: "{schedule}"', text)
        return load_playbook_text(text, f"{rename or name}.yaml")

    return [
        load("close-spam"),
        load("close-spam", "close-spam-5m", "every 5m"),
        load("category-cleanup"),
        load("close-quarantined"),
    ]


@dataclass
class RunRecord:
    playbook: str
    at: datetime
    requests: int
    floor: int
    scanned: int
    changed: int
    read: str
    measured: bool


@dataclass
class Simulation:
    """One mode on one sandbox size (see the module docstring)."""

    tickets: int
    hours: float
    incremental: bool
    books: list[Playbook] = field(default_factory=playbooks)
    warmup: float = 1.0
    churn: float = 0.02
    seed: int = 1
    runs: list[RunRecord] = field(default_factory=list)
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    full_at: dict[str, datetime] = field(default_factory=dict)  # the floor's last full reads

    def run(self) -> dict[str, Any]:
        clock = SimClock(START)
        options = SandboxOptions(port=0, tickets=self.tickets, seed=self.seed,
                                 rate_limit=300, rate_window=300.0, now=START)  # fmt: skip
        with SandboxServer(options, monotonic=clock, sleep=clock.sleep) as sb, \
                tempfile.TemporaryDirectory() as tmp:  # fmt: skip
            halo = HaloSettings(base_url=sb.base_url, client_id=sb.client_id,
                                client_secret=SecretStr(sb.client_secret), batch_size=100,
                                concurrency=1,  # one sleeper on the simulated clock
                                rate_limit=RateLimit(requests=300, per_seconds=300))  # fmt: skip
            client = HaloClient(halo, clock=clock, sleep=clock.sleep)
            journal = Journal.open(Path(tmp) / "journal.db", clock=clock.now)
            reads = ReadsSettings(incremental=self.incremental)
            runner = Runner(client, journal, now=clock.now, started_by="bench", reads=reads)
            shared = SharedReads(client, clock.now)
            if self.incremental:
                runner.reads.cache = shared
            try:
                self._schedule(sb, clock, runner, shared, journal)
            finally:
                client.close()
                journal.close()
            rate_limited = sb.counters["rate_limited"]
        return self.summary(rate_limited)

    # ------------------------------------------------------------------ the simulated daemon

    def _schedule(self, sb: SandboxServer, clock: SimClock, runner: Runner,
                  shared: SharedReads, journal: Journal) -> None:  # fmt: skip
        end = START + timedelta(hours=self.warmup + self.hours)
        triggers = {pb.name: make_trigger(pb.schedule, UTC) for pb in self.books if pb.schedule}
        due: dict[str, datetime] = {}
        for pb in self.books:
            assert pb.schedule is not None
            first = START if pb.schedule.kind == "interval" else None
            due[pb.name] = first or triggers[pb.name].get_next_fire_time(None, START)
        last_run: dict[str, datetime] = {}
        churn = Churn(sb, self.tickets * self.churn / 60, random.Random(self.seed))
        by_name = {pb.name: pb for pb in self.books}
        while True:
            moment = min(due.values())
            if moment >= end:
                break
            churn.until(clock, moment)
            group = [name for name, t in due.items() if t == moment]
            for name in group:
                if clock.now() - moment > MISFIRE_GRACE:
                    self.skipped += 1  # the daemon skips a run this late
                else:
                    pb = by_name[name]
                    self._run(sb, clock, runner, shared, journal, pb, moment, last_run, group)
                    last_run[name] = moment
                nxt = triggers[name].get_next_fire_time(moment, clock.now())
                due[name] = nxt if nxt is not None else end

    def _run(self, sb: SandboxServer, clock: SimClock, runner: Runner, shared: SharedReads,
             journal: Journal, pb: Playbook, moment: datetime, last_run: dict[str, datetime],
             group: list[str]) -> None:  # fmt: skip
        floor_read = self._floor_read(sb, pb, moment, last_run, group)
        before = sb.counters["requests"]
        clock.advance_to(moment)
        shared.begin(pb.name, moment)  # as the daemon's _run: the moment, the run deadline
        runner.client.begin_run()
        outcome = runner.run(pb, trigger="schedule", confirm=None)
        if not outcome.ok:
            self.failed.append(f"{pb.name} at {moment:%H:%M}: {outcome.status} {outcome.message}")
        requests = sb.counters["requests"] - before
        row = journal.get_run(outcome.run_id)
        writes = _write_floor(journal, outcome.run_id, outcome.changed)
        facts = 1 if floor_read or writes else 0  # a run that talks to Halo reads its facts
        floor = floor_read + facts + writes
        read = "incremental" if row.counts.scanned < _matching(sb, pb) else "full"
        measured = moment >= START + timedelta(hours=self.warmup)
        self.runs.append(RunRecord(pb.name, moment, requests, floor, outcome.scanned,
                                   outcome.changed, read, measured))  # fmt: skip

    def _floor_read(self, sb: SandboxServer, pb: Playbook, moment: datetime,
                    last_run: dict[str, datetime], group: list[str]) -> int:  # fmt: skip
        """Pages the read of this run cannot do without: one read per moment for the
        playbooks of one select (the first of them pays it), full when any of them must
        read in full, else of the tickets changed since the earliest of their last runs."""
        if time_dependent(pb.where):
            return max(1, math.ceil(_matching(sb, pb) / 100))
        peers = [n for n in group if self._same_select(n, pb.name)]
        if peers[0] != pb.name:
            return 0
        due = [n for n in peers if n not in last_run or self._sweep_due(n, moment)]
        if due:  # a first read, or a playbook's periodic sweep: every ticket it selects
            self.full_at.update(dict.fromkeys(due, moment))  # each playbook's own sweep clock
            return max(1, math.ceil(_matching(sb, pb) / 100))
        previous = [last_run.get(n) for n in peers]
        since = min(p for p in previous if p is not None)
        return max(1, math.ceil(_matching(sb, pb, since) / 100))

    def _sweep_due(self, name: str, moment: datetime) -> bool:
        done = self.full_at.get(name)
        return done is None or moment - done >= SWEEP

    def _same_select(self, a: str, b: str) -> bool:
        books = {pb.name: pb for pb in self.books}
        return books[a].select == books[b].select and not time_dependent(books[a].where)

    # ------------------------------------------------------------------ the figures

    def summary(self, rate_limited: int) -> dict[str, Any]:
        measured = [r for r in self.runs if r.measured]
        tokens = math.ceil(self.hours)  # one token renewal per hour (3600 s tokens)
        requests = sum(r.requests for r in measured)
        floor = sum(r.floor for r in measured) + tokens
        per_book: dict[str, dict[str, Any]] = {}
        for r in measured:
            entry = per_book.setdefault(r.playbook, {"runs": 0, "requests": 0, "floor": 0,
                                                     "full_reads": 0})  # fmt: skip
            entry["runs"] += 1
            entry["requests"] += r.requests
            entry["floor"] += r.floor
            entry["full_reads"] += r.read == "full"
        return {
            "tickets": self.tickets,
            "mode": "incremental" if self.incremental else "today",
            "hours": self.hours,
            "runs": len(measured),
            "skipped": self.skipped,
            "failed": self.failed,
            "rate_limited": rate_limited,
            "requests": requests,
            "requests_per_hour": requests / self.hours,
            "floor_per_hour": floor / self.hours,
            "per_playbook": per_book,
            "warmup_requests": sum(r.requests for r in self.runs if not r.measured),
        }


class Churn:
    """2% of the tickets an hour: every simulated minute, that share is edited."""

    def __init__(self, sb: SandboxServer, per_minute: float, rng: random.Random) -> None:
        self.sb = sb
        self.per_minute = per_minute
        self.rng = rng
        self.owed = 0.0
        with sb.locked_state() as state:
            self.ids = sorted(state.tickets)

    def until(self, clock: SimClock, moment: datetime) -> None:
        while clock.now() + timedelta(minutes=1) <= moment:
            clock.sleep(60)
            self.owed += self.per_minute
            stamp = format_halo_date(clock.now())
            while self.owed >= 1:
                self.owed -= 1
                ticket_id = self.rng.choice(self.ids)
                with self.sb.locked_state() as state:
                    flagged = bool(state.tickets[ticket_id].get("flagged"))
                self.sb.edit_ticket(ticket_id, last_update=stamp, flagged=not flagged)
        clock.advance_to(moment)


def _matching(sb: SandboxServer, pb: Playbook, since: datetime | None = None) -> int:
    """Tickets ``pb``'s select matches now (updated at or after ``since``: a ticket written
    at the moment of a run, after its read, changed since), from the sandbox."""
    cutoff = format_halo_date(since) if since else None
    want: Callable[[dict[str, Any]], bool]
    if "status" in pb.select:

        def want(t: dict[str, Any]) -> bool:
            return bool(t["status_id"] == SUSPECTED_SPAM)
    else:

        def want(t: dict[str, Any]) -> bool:
            return bool(t["status_id"] != CLOSED_STATUS)

    with sb.locked_state() as state:
        return sum(
            1 for t in state.tickets.values()
            if not t["deleted"] and want(t) and (cutoff is None or t["last_update"] >= cutoff)
        )  # fmt: skip


def _write_floor(journal: Journal, run_id: str, changed: int) -> int:
    """Stale-check pages and write batches (100 objects) of what the run changed."""
    if not changed:
        return 0
    text = journal.plan_json(run_id)
    if text is None:
        return 0
    plan = plan_from_json(text)
    updates = sum(1 for c in plan.changes if c.ticket_update)
    actions = sum(len(c.actions) for c in plan.changes)
    return math.ceil(len(plan.changes) / 100) + math.ceil(updates / 100) + math.ceil(actions / 100)


def steady_state(
    sizes: tuple[int, ...], hours: float, say: Callable[[str], None]
) -> dict[str, Any]:
    """Both modes on each size; the ratios the issue's targets are about."""
    rows = []
    for tickets in sizes:
        today = Simulation(tickets, hours, incremental=False).run()
        say(f"steady state {tickets:,}: today {today['requests_per_hour']:,.0f}/h")
        inc = Simulation(tickets, hours, incremental=True).run()
        say(f"steady state {tickets:,}: incremental {inc['requests_per_hour']:,.1f}/h")
        rows.append({
            "tickets": tickets, "today": today, "incremental": inc,
            "fewer_than_today": today["requests_per_hour"] / inc["requests_per_hour"],
            "x_floor": inc["requests_per_hour"] / inc["floor_per_hour"],
            "budget_share": inc["requests_per_hour"] / 3600,
            "today_budget_share": today["requests_per_hour"] / 3600,
        })  # fmt: skip
    return {"hours": hours, "churn_per_hour": 0.02, "sizes": rows}


def second_runs(tickets: int = 5000, runs: int = 4) -> dict[str, Any]:
    """close-spam alone on the default sandbox, every 15 minutes: the requests of its second
    and later scheduled runs, today and incremental (the issue's closing-note figure)."""
    out: dict[str, Any] = {"tickets": tickets}
    for incremental in (False, True):
        sim = Simulation(tickets, hours=runs / 4, incremental=incremental,
                         books=[playbooks()[0]], warmup=0.0)  # fmt: skip
        sim.run()
        later = [r for r in sim.runs if r.playbook == "close-spam"][1:]
        out["incremental" if incremental else "today"] = {
            "requests": [r.requests for r in later], "scanned": [r.scanned for r in later],
        }  # fmt: skip
    return out


def markdown(doc: dict[str, Any]) -> str:
    """The steady-state tables (BENCHMARKS.md)."""
    state = doc["steady_state"]
    lines = [
        f"Requests per hour over {state['hours']:g} simulated hours after a one-hour warm-up, "
        f"{state['churn_per_hour']:.0%} of the tickets changing per hour (sandbox counts, "
        "tokens included).",
        "",
        "| Tickets | Who | Requests/hour | x floor | fewer than today | share of 3,600/h "
        "| runs | skipped | 429s | full reads |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in state["sizes"]:
        floor = row["incremental"]["floor_per_hour"]
        lines.append(f"| {row['tickets']:,} | floor | {floor:,.1f} | 1.00x |  | "
                     f"{floor / 3600:.1%} |  |  |  |  |")  # fmt: skip
        for who in ("today", "incremental"):
            r = row[who]
            fewer = f"{row['fewer_than_today']:.1f}x" if who == "incremental" else ""
            full = sum(p["full_reads"] for p in r["per_playbook"].values())
            lines.append(
                f"|  | {who} | {r['requests_per_hour']:,.1f} | "
                f"{r['requests_per_hour'] / floor:.2f}x | {fewer} | "
                f"{r['requests_per_hour'] / 3600:.1%} | {r['runs']} | {r['skipped']} | "
                f"{r['rate_limited']} | {full} |"
            )
    lines += ["", "Per playbook (incremental; requests over the measured hours):",
              "", "| Tickets | Playbook | runs | requests | floor | full reads |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for row in state["sizes"]:
        for name, p in row["incremental"]["per_playbook"].items():
            lines.append(f"| {row['tickets']:,} | {name} | {p['runs']} | {p['requests']:,} | "
                         f"{p['floor']:,} | {p['full_reads']} |")  # fmt: skip
    second = doc.get("second_runs")
    if second:
        lines += [
            "",
            f"close-spam alone every 15 minutes on the default sandbox ({second['tickets']:,} "
            "tickets): requests of its 2nd, 3rd and 4th scheduled runs.",
            "",
            "| | requests per run | tickets read per run |",
            "|---|---|---|",
        ]
        for who in ("today", "incremental"):
            r = second[who]
            lines.append(f"| {who} | {', '.join(map(str, r['requests']))} | "
                         f"{', '.join(map(str, r['scanned']))} |")  # fmt: skip
    return "\n".join(lines) + "\n"
