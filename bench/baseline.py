"""The baseline: the job done the way today's scripts do it, with plain httpx.

* one token, then the lookup lists the playbook names (the same ones halo_automate reads);
* every page of the query read one after another (pages of 100);
* the same matching and the same changes: halo_automate's own pure planner
  (:func:`halo_automate.core.plan.make_plan`) decides what to change, so both do the same job;
* then, per changed ticket, ``GET /api/Tickets/{id}`` (re-read before writing, as
  HaloAPI's ``Set-HaloTicket`` does) and one ``POST /api/Tickets`` or ``/api/Actions`` with a
  one-element array per write;
* a 429 is retried after a fixed sleep (5 s on a real tenant, divided by the time scale);
  nothing paces requests before Halo refuses them.

``limit`` caps how many changed tickets are written (the rest are counted, not written) so
a benchmark can extrapolate instead of waiting out dozens of rate-limit windows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from halo_automate.core.lookups import Lookups, kind_table
from halo_automate.core.plan import Plan, TicketChange, make_plan, needed_lookups, new_run_id
from halo_automate.core.playbook import Playbook
from halo_automate.core.schema import Envelope, lookup_kind
from halo_automate.core.selection import build_query
from halo_automate.halo.lookups import listed_rows

PAGE_SIZE = 100


class BaselineError(Exception):
    """The baseline got an answer it cannot go on from."""


@dataclass
class Phase:
    """Requests, 429s and seconds of one phase of the baseline."""

    requests: int = 0
    rate_limited: int = 0
    seconds: float = 0.0


@dataclass
class BaselineReport:
    tickets_read: int = 0
    changes: int = 0  # planned changed tickets
    processed: int = 0  # changed tickets handled (written or found stale), <= limit
    written: int = 0
    skipped: int = 0
    ticket_writes: int = 0
    action_writes: int = 0
    read: Phase = field(default_factory=Phase)
    write: Phase = field(default_factory=Phase)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Baseline:
    """A sequential, unbatched Halo client with fixed-sleep 429 retries."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        retry_sleep: float = 5.0,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)
        self.client_id = client_id
        self.client_secret = client_secret
        self.retry_sleep = retry_sleep
        self.token = ""
        self.phase = Phase()

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ transport

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; 429s are slept on and re-sent until Halo takes it."""
        while True:
            self.phase.requests += 1
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            resp = self.http.request(method, path, headers=headers, **kwargs)
            if resp.status_code != 429:
                return resp
            self.phase.rate_limited += 1
            time.sleep(self.retry_sleep)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.send(method, path, **kwargs)
        if resp.status_code >= 300:
            raise BaselineError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:200]}")
        return resp.json() if resp.content else None

    def authenticate(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": "all",
        }
        self.token = str(self.json("POST", "/auth/token", data=form)["access_token"])

    # ------------------------------------------------------------------ reads

    def lookups(self, kinds: set[str]) -> Lookups:
        """Each list by one GET, as the schema registry describes it (clients unpaged)."""
        tables = {}
        for name in sorted(kinds):
            kind = lookup_kind(name)
            data = self.json("GET", f"/api/{kind.endpoint}", params=dict(kind.params))
            if kind.envelope is Envelope.PAGED:
                rows = data[kind.list_key]
            else:
                rows = listed_rows(data, kind)
            tables[name] = kind_table(kind, rows)
        return Lookups(tables)

    def tickets(self, query: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Every ticket of ``query``, page after page."""
        page_no, seen = 1, 0
        while True:
            params = {**query, "pageinate": "true", "page_size": str(PAGE_SIZE)}
            data = self.json("GET", "/api/Tickets", params={**params, "page_no": str(page_no)})
            rows = data["tickets"]
            seen += len(rows)
            yield from rows
            if len(rows) < PAGE_SIZE or seen >= int(data["record_count"]):
                return
            page_no += 1

    # ------------------------------------------------------------------ the job

    def plan(self, playbook: Playbook, now: datetime) -> Plan:
        self.authenticate()
        lookups = self.lookups(needed_lookups(playbook))
        query = build_query(playbook.select, lookups)
        return make_plan(
            playbook, self.tickets(query), lookups, now=now, run_id=new_run_id(now), query=query
        )

    def write(self, plan: Plan, change: TicketChange) -> bool:
        """Re-read the ticket, then POST each write as a one-element array; False if stale."""
        resp = self.send("GET", f"/api/Tickets/{change.ticket_id}")
        if resp.status_code == 404:
            return False
        current = resp.json()
        if any(not _same(current.get(name), fc.before) for name, fc in change.fields.items()):
            return False
        extra = {} if plan.halo_rules else {"dont_do_rules": True}
        if change.ticket_update:
            body = [{"id": change.ticket_id, **change.ticket_update, **extra}]
            self.json("POST", "/api/Tickets", json=body)
        for action in change.actions:
            body = [{"ticket_id": change.ticket_id, **action.body, **extra}]
            self.json("POST", "/api/Actions", json=body)
        return True

    def run(self, playbook: Playbook, *, limit: int | None = None) -> BaselineReport:
        """Plan, then write up to ``limit`` changed tickets (None = all)."""
        report = BaselineReport()
        started = time.perf_counter()
        self.phase = report.read
        plan = self.plan(playbook, datetime.now(UTC))
        report.read.seconds = time.perf_counter() - started
        report.tickets_read = plan.scanned
        report.changes = len(plan.changes)
        todo = plan.changes if limit is None else plan.changes[:limit]
        self.phase = report.write
        started = time.perf_counter()
        for change in todo:
            report.processed += 1
            if not self.write(plan, change):
                report.skipped += 1
                continue
            report.written += 1
            report.ticket_writes += 1 if change.ticket_update else 0
            report.action_writes += len(change.actions)
        report.write.seconds = time.perf_counter() - started
        return report


def _same(a: Any, b: Any) -> bool:
    """Halo's empty values (None, "") are one value; anything else compares as is."""
    return a == b or (a in (None, "") and b in (None, ""))


def extrapolate(report: BaselineReport) -> dict[str, float] | None:
    """The whole job from a run capped at ``processed`` of ``changes`` (None if not capped).

    The write phase is scaled linearly (requests, 429s and seconds per changed ticket); the
    read phase is measured as is.
    """
    if report.processed >= report.changes:
        return None
    if report.processed == 0:
        raise ValueError("cannot extrapolate from a run that wrote nothing")
    factor = report.changes / report.processed
    return {
        "requests": report.read.requests + report.write.requests * factor,
        "rate_limited": report.read.rate_limited + report.write.rate_limited * factor,
        "wall_seconds": report.read.seconds + report.write.seconds * factor,
    }
