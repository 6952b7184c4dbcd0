"""Helpers for the apply / recovery / undo tests, and the child process the kill tests SIGKILL.

As a script: ``python tests/apply_support.py BASE_URL CLIENT_ID SECRET JOURNAL PLAN BATCH``
applies the saved plan file against the sandbox (the sandbox lives in the test process).
"""

from __future__ import annotations

import copy
import json
import logging
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import structlog
from pydantic import SecretStr

from halo_automate.config import HaloSettings, RateLimit
from halo_automate.core.plan import Plan, plan_from_json
from halo_automate.core.playbook import Limits, Playbook, load_playbook, load_playbook_text
from halo_automate.engine.runner import Runner
from halo_automate.engine.writes import marker_of
from halo_automate.halo.client import HaloClient, RetryPolicy
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox.replies import Reply, empty
from halo_automate.sandbox.server import Handle
from halo_automate.store.journal import Journal

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
BOOKKEEPING = frozenset(
    {"last_update", "lastactiondate", "dateclosed", "hasbeenclosed", "dont_do_rules"}
    | {f"categoryid_{n}" for n in range(1, 5)}
)
"""Fields Halo maintains itself (dates, closed flag, category ids derived from the text) and
the sandbox's echo of the ``dont_do_rules`` request flag: ignored when comparing states."""
FAST_RETRY = RetryPolicy(attempts=5, base_seconds=0.001, max_seconds=0.002)


def quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def settings_for(
    sb: SandboxServer, batch_size: int = 5, write_concurrency: int = 1
) -> HaloSettings:
    """One batch at a time unless asked (these tests pin the shape of each batch: which one
    is pending at a kill, which requests a seeded fault hits); pipelined writes have their own
    tests (tests/engine/test_pipelined_writes.py)."""
    return HaloSettings(
        base_url=sb.base_url,
        client_id=sb.client_id,
        client_secret=SecretStr(sb.client_secret),
        rate_limit=RateLimit(requests=100_000, per_seconds=1),
        batch_size=batch_size,
        write_concurrency=write_concurrency,
    )


def client_for(sb: SandboxServer, batch_size: int = 5, write_concurrency: int = 1) -> HaloClient:
    return HaloClient(settings_for(sb, batch_size, write_concurrency), retry=FAST_RETRY)


NOTE_AND_CLOSE = """
name: note-and-close
select: {open_only: true}
where:
  any:
    - user_email: {domain: [news.example, promo-mailer.example]}
    - summary: {matches: '(?i)^(?:automatic reply|out of office|undeliverable):'}
actions:
  - set: {priority: Low}
  - note: {text: "Spam noticed by {playbook}: {ticket.summary}", private: true}
  - close: {status: Closed, note: "Closed by {playbook}.", private: false, email: false}
"""
"""Three writes per ticket (update, note, close): two actions of one run on one ticket."""


def playbook(name: str, max_changes: int | None = None) -> Playbook:
    if name == "note-and-close":
        pb = load_playbook_text(NOTE_AND_CLOSE)
    else:
        pb = load_playbook(PLAYBOOKS / f"{name}.yaml")
    if max_changes is not None:
        pb = pb.model_copy(update={"limits": Limits(max_changes=max_changes)})
    return pb


@dataclass
class Rig:
    """A sandbox, a client and a runner on a journal in a temporary folder."""

    sb: SandboxServer
    client: HaloClient
    journal: Journal
    runner: Runner

    def plan_of(self, run_id: str) -> Plan:
        text = self.journal.plan_json(run_id)
        assert text is not None
        return plan_from_json(text)


def rig(sb: SandboxServer, journal_path: Path, batch_size: int = 5) -> Rig:
    client = client_for(sb, batch_size)
    journal = Journal.open(journal_path)
    return Rig(sb, client, journal, Runner(client, journal, started_by="tests"))


# ---------------------------------------------------------------------- state comparison


def tickets(sb: SandboxServer) -> dict[int, dict[str, Any]]:
    """A deep copy of every ticket in the sandbox."""
    return copy.deepcopy(sb.state.tickets)


def actions(sb: SandboxServer) -> dict[int, list[dict[str, Any]]]:
    return {k: copy.deepcopy(v) for k, v in sb.state.actions.items() if v}


def planned_state(before: Mapping[int, Mapping[str, Any]], plan: Plan) -> dict[int, dict[str, Any]]:
    """The ticket set ``plan`` describes: ``before`` with every planned field at its after."""
    out = copy.deepcopy(dict(before))
    for change in plan.changes:
        for name, fc in change.fields.items():
            out[change.ticket_id][name] = fc.after
    return out


def differences(
    actual: Mapping[int, Mapping[str, Any]], expected: Mapping[int, Mapping[str, Any]]
) -> list[str]:
    """Every (ticket, field) that differs, ignoring Halo's bookkeeping fields."""
    problems = [f"ticket {t} missing" for t in expected if t not in actual]
    problems += [f"ticket {t} unexpected" for t in actual if t not in expected]
    for tid in sorted(set(actual) & set(expected)):
        a, e = actual[tid], expected[tid]
        for name in sorted((set(a) | set(e)) - BOOKKEEPING):
            if a.get(name) != e.get(name):
                problems.append(f"ticket {tid} {name}: {a.get(name)!r} != {e.get(name)!r}")
    return problems


def marked(sb: SandboxServer, run_id: str) -> dict[int, list[dict[str, Any]]]:
    """The actions whose note carries one of ``run_id``'s markers, per ticket."""
    out: dict[int, list[dict[str, Any]]] = {}
    for tid, rows in sb.state.actions.items():
        mine = [a for a in rows if f"[halo-automate run {run_id}" in str(a.get("note"))]
        if mine:
            out[tid] = mine
    return out


def duplicate_markers(sb: SandboxServer) -> list[str]:
    """Tickets holding two actions with the same run marker (a note posted twice)."""
    problems = []
    for tid, rows in sb.state.actions.items():
        markers = [m for m in (marker_of(str(a.get("note") or "")) for a in rows) if m]
        dupes = sorted({m for m in markers if markers.count(m) > 1})
        if dupes:
            problems.append(f"ticket {tid}: {dupes}")
    return problems


# ---------------------------------------------------------------------- request hooks


SandboxFactory = Callable[..., SandboxServer]


@dataclass
class Recorder:
    """Records every POST body the sandbox receives (to check flags such as dont_do_rules)."""

    posts: list[tuple[str, Any]] = field(default_factory=list)

    def bodies(self, resource: str) -> list[dict[str, Any]]:
        return [e for path, body in self.posts if resource in path for e in body]


def record_posts(sb: SandboxServer) -> Recorder:
    recorder = Recorder()

    def hook(method: str, target: str, headers: Message, body: bytes, proceed: Handle) -> Reply:
        if method == "POST" and target.lower().startswith("/api/"):
            recorder.posts.append((target.split("?")[0].lower(), json.loads(body or b"null")))
        return proceed(method, target, headers, body)

    sb.add_request_hook(hook)
    return recorder


@dataclass
class Gate:
    """Holds the ``nth`` ``POST /api/<resource>`` until ``release`` is set.

    ``landed=True``: the write is applied first, then held (the client never hears back);
    ``landed=False``: held before it is applied, then answered 500 unapplied.
    """

    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


def gate(sb: SandboxServer, resource: str, nth: int, *, landed: bool) -> Gate:
    g = Gate()
    seen = [0]
    lock = threading.Lock()

    def hook(method: str, target: str, headers: Message, body: bytes, proceed: Handle) -> Reply:
        hit = method == "POST" and target.lower().startswith(f"/api/{resource.lower()}")
        if hit:
            with lock:
                seen[0] += 1
                hit = seen[0] == nth
        if not hit:
            return proceed(method, target, headers, body)
        reply = proceed(method, target, headers, body) if landed else empty(500)
        g.reached.set()
        g.release.wait(timeout=30)
        return reply

    sb.add_request_hook(hook)
    return g


@contextmanager
def temp_journal() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "journal.db"


# ---------------------------------------------------------------------- the child process


def child_main(argv: list[str]) -> int:
    """Apply a saved plan file against a running sandbox (killed by the test mid-apply)."""
    base_url, client_id, secret, journal_path, plan_path, batch = argv
    quiet_logs()
    settings = HaloSettings(
        base_url=base_url,
        client_id=client_id,
        client_secret=SecretStr(secret),
        rate_limit=RateLimit(requests=100_000, per_seconds=1),
        batch_size=int(batch),
        write_concurrency=1,
    )
    client = HaloClient(settings, retry=FAST_RETRY)
    journal = Journal.open(journal_path)
    plan = plan_from_json(Path(plan_path).read_text(encoding="utf-8"))
    Runner(client, journal, started_by="child").apply_saved(plan, confirm=None)
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
