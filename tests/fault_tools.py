"""Shared helpers of the fault and bad-input suite (test_faults_*, test_fuzz_*, test_hostile_*,
test_secrets).

The oracle for "the sandbox ends in exactly the planned state": a *twin* sandbox started from
the same seed and the same seed date applies the same plan with no faults at all; after the
faulty run (and whatever reruns the product needs) both sandboxes must hold the same tickets
and the same actions, timestamps and run ids aside (:func:`state_diff`).

Also here: clients and runners with fast retry timings, fault injectors (a transport wrapper,
a server-side latency spike on writes), a secret watch (tokens the sandbox issued, structlog
and stdlib log output, journal dumps), figures recorded for the suite report, and a child
process entry point that applies or recovers and SIGKILLs itself at a chosen request::

    python tests/fault_tools.py apply|recover --base-url URL --client-id ID --journal PATH \\
        [--plan FILE] [--kill-at N --kill-when before|after] [--batch-size N]

(the client secret comes from $HALO_FAULT_SECRET, never from argv).

The full kill loop (20 kills) runs when ``HALO_AUTOMATE_FULL_FAULTS=1`` is set (or with
``-m slow``); CI runs 5.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import io
import json
import logging
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog
from clock import FakeClock
from pydantic import SecretStr

from halo_automate import logs
from halo_automate.config import HaloSettings, RateLimit
from halo_automate.core.plan import Plan, plan_from_json
from halo_automate.core.playbook import Playbook, load_playbook_text
from halo_automate.engine.runner import Runner
from halo_automate.halo.client import HaloClient, RetryPolicy
from halo_automate.halo.ratelimit import RequestBudget
from halo_automate.sandbox.replies import Reply
from halo_automate.sandbox.server import Handle, SandboxServer
from halo_automate.store.connection import Connect, connect
from halo_automate.store.journal import Journal

FULL_FAULTS = os.environ.get("HALO_AUTOMATE_FULL_FAULTS") == "1"
SEED_DATE = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
FAST_RETRY = RetryPolicy(attempts=8, base_seconds=0.01, max_seconds=0.1, rate_limit_attempts=60)
SECRET_ENV = "HALO_FAULT_SECRET"
VOLATILE = frozenset({"last_update", "lastactiondate", "dateclosed", "datetime"})
VOLATILE |= {"actiondatecreated"}
MARKER = re.compile(r"\[halo-automate run ([^\]\s#]+)((?: #\d+)?)\]")
HERE = Path(__file__).resolve()

SandboxFactory = Callable[..., SandboxServer]

# ---------------------------------------------------------------------------- playbooks

MIX_PLAYBOOK = """
name: fault-mix
description: ticket updates (priority) and actions (a close with a note) in one run
select: {{open_only: true}}
where: {{id: {{lt: {below}}}}}
actions:
  - set: {{priority: {priority}}}
  - close: {{note: "Closed by {{playbook}} during a fault drill."}}
limits: {{max_changes: 1000}}
"""

FLIP_PLAYBOOK = """
name: fault-flip
description: flips priority and notes it, so every run changes every selected ticket
where: {{id: {{lt: {below}}}}}
actions:
  - set: {{priority: {priority}}}
  - note: {{text: "Priority set to {priority} by {{playbook}}."}}
limits: {{max_changes: 1000}}
"""


def mix_playbook(below: int = 400, priority: str = "Low") -> Playbook:
    """Open tickets with id < ``below``: priority update plus a close action with a note."""
    return load_playbook_text(MIX_PLAYBOOK.format(below=below, priority=priority), "mix.yaml")


def flip_playbook(priority: str, below: int = 60) -> Playbook:
    """Every ticket with id < ``below``: priority set to ``priority`` plus a note action."""
    return load_playbook_text(FLIP_PLAYBOOK.format(below=below, priority=priority), "flip.yaml")


# ---------------------------------------------------------------------------- clients


def settings_for(sb: SandboxServer, **over: Any) -> HaloSettings:
    """Settings for a sandbox with a generous client budget (override any key). One write
    batch at a time: the fault tests pin what is sent around each batch (pipelined writes
    are tested in tests/engine/test_pipelined_writes.py)."""
    values: dict[str, Any] = {
        "base_url": sb.base_url,
        "client_id": sb.client_id,
        "client_secret": SecretStr(sb.client_secret),
        "rate_limit": RateLimit(requests=100_000, per_seconds=1),
        "write_concurrency": 1,
    }
    values.update(over)
    return HaloSettings(**values)


def client_for(
    sb: SandboxServer,
    *,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy = FAST_RETRY,
    budget: RequestBudget | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    **over: Any,
) -> HaloClient:
    """A client for ``sb`` (pass the sandbox's fake clock as ``clock`` and ``sleep`` so that
    back-off, rate-limit pauses and token lifetimes pass in fake time on both sides)."""
    return HaloClient(
        settings_for(sb, **over), transport=transport, retry=retry, budget=budget,
        clock=clock, sleep=sleep,
    )  # fmt: skip


@contextmanager
def runner_for(
    sb: SandboxServer,
    journal_path: Path,
    *,
    journal_connect: Connect = connect,
    **client_kwargs: Any,
) -> Iterator[Runner]:
    """A Runner over a fresh client and the journal at ``journal_path`` (both closed after);
    ``journal_connect`` opens the journal's connection (``Journal.open(connect=...)``)."""
    client = client_for(sb, **client_kwargs)
    journal = Journal.open(journal_path, connect=journal_connect)
    try:
        yield Runner(client, journal, started_by="fault-suite")
    finally:
        client.close()
        journal.close()


def make_twins(
    factory: SandboxFactory, *, main_clock: dict[str, Any] | None = None, **options: Any
) -> tuple[SandboxServer, SandboxServer]:
    """Two sandboxes with identical seeded data: the one under faults (its clock given by
    ``main_clock``: ``monotonic=`` and ``sleep=``) and its fault-free twin."""
    options = {"now": SEED_DATE, "seed": 7, **options}
    return factory(**options, **(main_clock or {})), factory(**options)


def plan_on(sb: SandboxServer, playbook: Playbook, journal_path: Path) -> Plan:
    """Plan ``playbook`` against ``sb`` with no faults (the plan both twins will apply)."""
    with runner_for(sb, journal_path) as runner:
        return runner.plan(playbook)


def apply_on_twin(twin: SandboxServer, plan: Plan, journal_path: Path, **over: Any) -> int:
    """Apply ``plan`` on the fault-free twin; returns the requests it took (token included)."""
    with runner_for(twin, journal_path, **over) as runner:
        # The twin is another Halo with the same data: the plan is stamped for it, since a
        # plan applies only to the Halo it was made for (issue 12).
        plan = dataclasses.replace(plan, instance_identity=runner.client.settings.identity)
        outcome = runner.apply_saved(plan, confirm=None)
        assert outcome.status == "succeeded", outcome.summary()
        return runner.client.stats.requests


# ---------------------------------------------------------------------------- the oracle


def _normal_note(text: Any) -> Any:
    return MARKER.sub(r"[halo-automate run *\2]", text) if isinstance(text, str) else text


def normal_state(sb: SandboxServer) -> dict[int, dict[str, Any]]:
    """Tickets and their actions, without timestamps; run markers reduced to their index."""
    with sb.locked_state() as state:
        tickets = copy.deepcopy(state.tickets)
        actions = copy.deepcopy(dict(state.actions))
    out: dict[int, dict[str, Any]] = {}
    for tid, ticket in tickets.items():
        row = {k: v for k, v in ticket.items() if k not in VOLATILE}
        row["_actions"] = [
            {k: _normal_note(v) for k, v in a.items() if k not in VOLATILE}
            for a in sorted(actions.get(tid, []), key=lambda a: a["id"])
        ]
        out[tid] = row
    return out


def state_diff(main: SandboxServer, twin: SandboxServer, limit: int = 5) -> list[str]:
    """How ``main`` differs from ``twin`` (empty when both hold the same state)."""
    a, b = normal_state(main), normal_state(twin)
    problems: list[str] = []
    for tid in sorted(set(a) | set(b)):
        if a.get(tid) == b.get(tid):
            continue
        left, right = a.get(tid, {}), b.get(tid, {})
        keys = sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))
        detail = {k: (left.get(k), right.get(k)) for k in keys}
        problems.append(f"ticket {tid}: {detail}"[:600])
    return problems[:limit] + (
        [f"... {len(problems) - limit} more"] if len(problems) > limit else []
    )


def duplicate_markers(sb: SandboxServer) -> list[tuple[int, str, int]]:
    """(ticket, marker, count) for every run marker found on more than one action of a ticket."""
    with sb.locked_state() as state:
        actions = {
            tid: [str(a.get("note") or "") for a in acts] for tid, acts in state.actions.items()
        }
    found = []
    for tid, notes in actions.items():
        counts = Counter(m.group(0) for note in notes for m in [MARKER.search(note)] if m)
        found += [(tid, marker, n) for marker, n in counts.items() if n > 1]
    return found


def lost_changes(sb: SandboxServer, plan: Plan, run_ids: Iterable[str]) -> int:
    """Planned field values and actions of ``plan`` missing from the sandbox.

    An action counts as present when an action on the ticket carries a marker of one of
    ``run_ids`` (the original run, or the reruns that re-planned what was left).
    """
    ids = set(run_ids)
    lost = 0
    with sb.locked_state() as state:
        for change in plan.changes:
            ticket = state.tickets[change.ticket_id]
            lost += sum(1 for n, fc in change.fields.items() if ticket.get(n) != fc.after)
            marked = [
                m for a in state.actions.get(change.ticket_id, [])
                for m in [MARKER.search(str(a.get("note") or ""))] if m and m.group(1) in ids
            ]  # fmt: skip
            lost += max(0, len(change.actions) - len(marked))
    return lost


def journal_problems(path: Path) -> list[str]:
    """Rows left pending, runs left running and locks left held (all must be none)."""
    with sqlite3.connect(path) as db:
        pending = db.execute("SELECT COUNT(*) FROM changes WHERE state = 'pending'").fetchone()[0]
        running = db.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()
        locks = db.execute("SELECT playbook, run_id FROM locks").fetchall()
    problems = [f"{pending} pending change rows"] if pending else []
    problems += [f"run {r} still running" for (r,) in running]
    problems += [f"lock of {p} held by {r}" for p, r in locks]
    return problems


def run_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r for (r,) in db.execute("SELECT run_id FROM runs ORDER BY rowid")]


def journal_dump(path: Path) -> str:
    """The whole journal database as SQL text (what an attacker reading the file sees)."""
    db = sqlite3.connect(path)
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


# ---------------------------------------------------------------------------- injectors


class HookTransport(httpx.BaseTransport):
    """Wraps the real transport: ``before(n, request)`` may raise instead of sending;
    ``after(n, request, response)`` runs once the response is read (it may raise too).
    Counts requests and 401 answers; thread-safe."""

    def __init__(
        self,
        before: Callable[[int, httpx.Request], None] | None = None,
        after: Callable[[int, httpx.Request, httpx.Response], None] | None = None,
    ) -> None:
        self.inner = httpx.HTTPTransport()
        self.before = before
        self.after = after
        self.count = 0
        self.unauthorised = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.count += 1
            n = self.count
        if self.before:
            self.before(n, request)
        response = self.inner.handle_request(request)
        if response.status_code == 401:
            with self._lock:
                self.unauthorised += 1
        if self.after:
            response.read()
            self.after(n, request, response)
        return response

    def close(self) -> None:
        self.inner.close()


def is_write(request: httpx.Request) -> bool:
    return request.method in ("POST", "DELETE") and request.url.path.startswith("/api/")


@dataclass
class WriteLog:
    """What the sandbox actually applied: ticket ids per successful POST /api/Tickets."""

    ticket_writes: Counter[int] = field(default_factory=Counter)
    spikes: int = 0


def spike_writes(sb: SandboxServer, rng: random.Random, *, rate: float, seconds: float) -> WriteLog:
    """Latency spikes on writes, server side: the write is applied, then the answer is held
    back ``seconds`` (longer than the client's timeout) for a ``rate`` share of writes."""
    log = WriteLog()
    lock = threading.Lock()

    def hook(method: str, target: str, headers: Any, body: bytes, proceed: Handle) -> Reply:
        reply = proceed(method, target, headers, body)
        path = target.split("?")[0].lower()
        if method == "POST" and path == "/api/tickets" and 200 <= reply.status < 300:
            with lock:
                log.ticket_writes.update(int(e["id"]) for e in json.loads(body))
        if method in ("POST", "DELETE") and path.startswith("/api/"):
            with lock:
                spike = rng.random() < rate
                log.spikes += spike
            if spike:
                time.sleep(seconds)
        return reply

    sb.add_request_hook(hook)
    return log


def latency_clock(factor: float) -> dict[str, Any]:
    """A sandbox clock (``monotonic=``, ``sleep=``) on which time passes only while a request
    waits out the sandbox's latency, ``factor`` times as fast as that real wait: with a
    factor above 1 its tokens die sooner than the client, counting real time, was told."""
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        time.sleep(seconds)
        clock.advance(seconds * factor)

    return {"monotonic": clock, "sleep": sleep}


# ---------------------------------------------------------------------------- a bad Halo


Body = bytes | Callable[[Any], None]  # bytes, or a writer(wfile) for streamed/broken bodies


@dataclass
class Canned:
    status: int = 200
    body: Body = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class FakeHalo:
    """A tiny loopback HTTP server answering canned (malformed) responses per path.

    ``/auth/token`` answers a valid token unless overridden; every other path answers its
    :class:`Canned` response (404 when none). A body may be a writer that sends anything,
    including a body shorter than its Content-Length or an endless stream.
    """

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.routes: dict[str, Canned] = {
            "/auth/token": Canned(body=b'{"access_token": "fake-token-1", "expires_in": 3600}')
        }
        self.hits: Counter[str] = Counter()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                path = self.path.split("?")[0]
                fake.hits[path] += 1
                canned = fake.routes.get(path, Canned(404, b""))
                self.send_response(canned.status)
                for name, value in canned.headers.items():
                    self.send_header(name, value)
                if isinstance(canned.body, bytes):
                    if "Content-Length" not in canned.headers:
                        self.send_header("Content-Length", str(len(canned.body)))
                    self.end_headers()
                    with contextlib.suppress(OSError):  # the client hung up on the body
                        self.wfile.write(canned.body)
                else:
                    self.end_headers()
                    with contextlib.suppress(OSError):  # the client hung up on the body
                        canned.body(self.wfile)
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                """A client that hung up (the tests' point, often) prints nothing."""
                if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
                    super().handle_error(request, client_address)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHalo:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# ---------------------------------------------------------------------------- secrets


class SecretWatch:
    """Collects every text a run leaves behind and checks no secret or token is in it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = set(secrets)
        self.tokens: list[str] = []
        self.texts: list[tuple[str, str]] = []
        self.buffer = io.StringIO()
        self._handler: logging.Handler | None = None

    def watch(self, sb: SandboxServer) -> None:
        """Record every token ``sb`` issues (and know its client secret)."""
        self.secrets.add(sb.client_secret)
        sb.on_token_issued(self.tokens.append)

    def capture_logs(self) -> None:
        """structlog (JSON, DEBUG) and stdlib logging (DEBUG: httpx, httpcore) into a buffer."""
        logs.configure(json=True, level="DEBUG", stream=self.buffer)
        self._handler = logging.StreamHandler(self.buffer)
        self._handler.setLevel(logging.DEBUG)
        root = logging.getLogger()
        root.addHandler(self._handler)
        self._old_level = root.level
        root.setLevel(logging.DEBUG)

    def release(self) -> None:
        structlog.reset_defaults()
        if self._handler is not None:
            root = logging.getLogger()
            root.removeHandler(self._handler)
            root.setLevel(self._old_level)
            self._handler = None

    def add(self, label: str, text: str) -> None:
        self.texts.append((label, text))

    def add_journal(self, path: Path) -> None:
        if path.exists():
            self.add(f"journal {path.name}", journal_dump(path))

    def leaks(self) -> list[str]:
        everything = [*self.texts, ("logs", self.buffer.getvalue())]
        needles = [("client secret", s) for s in self.secrets if s]
        needles += [(f"token #{i + 1}", t) for i, t in enumerate(self.tokens)]
        return [
            f"{what} found in {label}"
            for label, text in everything
            for what, needle in needles
            if needle in text
        ]

    @property
    def log_lines(self) -> int:
        return self.buffer.getvalue().count("\n")


# ---------------------------------------------------------------------------- figures


def record_figures(config: Any, nodeid: str, figures: Mapping[str, int]) -> None:
    """Keep a test's fault figures in pytest's cache (``halo_automate/fault_figures``) so the
    suite report can add them up: ``python tests/fault_tools.py figures``."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return
    table = cache.get("halo_automate/fault_figures", {})
    table[nodeid] = dict(figures)
    cache.set("halo_automate/fault_figures", table)


def print_figures(root: Path) -> None:
    path = root / ".pytest_cache" / "v" / "halo_automate" / "fault_figures"
    table = json.loads(path.read_text()) if path.exists() else {}
    total: Counter[str] = Counter()
    for figures in table.values():
        total.update(figures)
    for key in sorted(total):
        print(f"{key:32} {total[key]}")


# ---------------------------------------------------------------------------- child process


@dataclass
class Child:
    returncode: int
    stdout: str
    stderr: str
    point: str = ""  # where it was killed: before/after a request, or by a timer

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def run_child(
    sb: SandboxServer,
    mode: str,
    journal_path: Path,
    *,
    plan_file: Path | None = None,
    kill_at: int = 0,
    kill_when: str = "before",
    kill_after_seconds: float | None = None,
    batch_size: int = 10,
    timeout: float = 60,
) -> Child:
    """Apply (``mode="apply"``) or recover in a child process that is SIGKILLed at request
    ``kill_at`` (before sending it, or after its answer), or by the parent
    ``kill_after_seconds`` after the child said it is starting the run."""
    args = [
        sys.executable, str(HERE), mode, "--base-url", sb.base_url, "--client-id",
        sb.client_id, "--journal", str(journal_path), "--kill-at", str(kill_at),
        "--kill-when", kill_when, "--batch-size", str(batch_size),
    ]  # fmt: skip
    if plan_file is not None:
        args += ["--plan", str(plan_file)]
    env = {**os.environ, SECRET_ENV: sb.client_secret}
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    first = ""
    if kill_after_seconds is not None:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # "READY": the child is about to start its run
        time.sleep(kill_after_seconds)
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=timeout)
    return Child(proc.returncode, first + out, err)


class _KillTransport(httpx.HTTPTransport):
    def __init__(self, kill_at: int, when: str) -> None:
        super().__init__()
        self.kill_at = kill_at
        self.when = when
        self.count = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.count += 1
            n = self.count
        if n == self.kill_at and self.when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        response = super().handle_request(request)
        if n == self.kill_at and self.when == "after":
            response.read()
            os.kill(os.getpid(), signal.SIGKILL)
        return response


def _child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fault_tools")
    parser.add_argument("mode", choices=["apply", "recover", "figures"])
    parser.add_argument("--base-url")
    parser.add_argument("--client-id")
    parser.add_argument("--journal")
    parser.add_argument("--plan")
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--kill-when", default="before")
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args(argv)
    if args.mode == "figures":
        print_figures(HERE.parent.parent)
        return 0
    logs.configure(json=True, level="DEBUG", stream=sys.stderr)
    settings = HaloSettings(
        base_url=args.base_url,
        client_id=args.client_id,
        client_secret=SecretStr(os.environ[SECRET_ENV]),
        rate_limit=RateLimit(requests=100_000, per_seconds=1),
        batch_size=args.batch_size,
    )
    transport = _KillTransport(args.kill_at, args.kill_when)
    with HaloClient(settings, transport=transport, retry=FAST_RETRY) as client:
        journal = Journal.open(args.journal)
        runner = Runner(client, journal, started_by="fault-child")
        print("READY", flush=True)
        if args.mode == "apply":
            plan = plan_from_json(Path(args.plan).read_text(encoding="utf-8"))
            outcomes = [runner.apply_saved(plan, confirm=None)]
        else:
            outcomes = runner.recover()
        print(json.dumps([o.summary() for o in outcomes]))
        journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
