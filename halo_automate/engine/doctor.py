"""``doctor``: a read-only first contact with a tenant, turning our unknowns into its facts.

In about 20 requests (at most ~30) :func:`diagnose` learns, and :class:`DoctorReport` holds:

* the token, and which authentication method worked (secret, RFC 7523 assertion);
* Halo's version (``GET /api/InstanceInfo``, FACTS.md §9.8) where permitted;
* the page cap (ask 101 rows: FACTS.md §2.1 says 100) and whether an unknown filter is
  ignored (FACTS.md §2.1: the reason the client refuses unknown filters);
* the priority lookup's shape (one row per SLA and priority? FACTS.md §9.1);
* which form of the last-update date filter the tenant honours (FACTS.md §2.3, §9.10: the
  candidates are tried, and a form counts only if it narrows the count *and* every row it
  returns was updated at or after the cut-off);
* for every endpoint the configured playbooks need (:func:`needed_endpoints`), whether the
  application may use it: reads are sent as small GETs, writes as bodies Halo refuses before
  applying (``halo.probe``), so 403 means "grant this", 400 "allowed";
* latency, and any rate-limit headers.

Then a verdict per playbook: ``ready``, ``needs permission`` (naming each permission and
endpoint) or ``unverified`` (an endpoint gave no clear answer). Whether the agent may use an
outcome Halo only says on a real write (FACTS.md §9.3), so the outcomes a playbook posts are a
note, never a guess. Nothing is written: the only writes sent are the refused probes.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from halo_automate.config import HaloSettings
from halo_automate.core.actions.base import UndoneBy, WrittenAs
from halo_automate.core.dates import format_halo_date, parse_halo_date
from halo_automate.core.incremental import LAST_UPDATE_FORMS
from halo_automate.core.plan import needed_lookups
from halo_automate.core.playbook import Playbook
from halo_automate.core.schema import LOOKUP_KINDS, Envelope, LookupKind, lookup_kind
from halo_automate.errors import HaloError
from halo_automate.halo.permissions import permission_for
from halo_automate.halo.probe import Answer, Prober

ASKED_PAGE = 101
UNKNOWN_FILTER = "doctor_unknown_filter"


@dataclass(frozen=True)
class Check:
    """One fact about the tenant; ``status`` is ok, warn, fail or info."""

    name: str
    status: str
    detail: str


@dataclass(frozen=True)
class EndpointCheck:
    endpoint: str
    status: int | None
    access: str  # allowed | denied | unverified
    permission: str
    detail: str = ""


@dataclass(frozen=True)
class Verdict:
    playbook: str
    verdict: str  # ready | needs permission | unverified
    missing: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def text(self) -> str:
        if self.missing:
            return "needs permission " + "; ".join(self.missing)
        if self.unverified:
            return "unverified: " + "; ".join(self.unverified)
        return "ready"


@dataclass(frozen=True)
class DoctorReport:
    base_url: str
    auth_method: str
    checks: tuple[Check, ...]
    endpoints: tuple[EndpointCheck, ...]
    verdicts: tuple[Verdict, ...]
    requests: int
    problems: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        """Every check usable and no playbook lacks a permission."""
        return not any(c.status == "fail" for c in self.checks) and not any(
            v.missing for v in self.verdicts
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["healthy"] = self.healthy
        out["verdicts"] = [{**asdict(v), "text": v.text()} for v in self.verdicts]
        return out


def needed_endpoints(playbook: Playbook) -> dict[str, str]:
    """``METHOD /api/Resource`` -> why ``playbook`` needs it (select, lookups, writes, undo)."""
    needs = {"GET /api/Tickets": "select"}
    for kind in sorted(needed_lookups(playbook)):
        needs.setdefault(f"GET /api/{lookup_kind(kind).endpoint}", f"lookup {kind}")
    for action in playbook.actions:
        definition = action.definition
        if WrittenAs.TICKET_FIELDS in definition.written_as:
            needs.setdefault("POST /api/Tickets", f"{action.kind} writes ticket fields")
        if WrittenAs.ACTION in definition.written_as:
            needs.setdefault("POST /api/Actions", f"{action.kind} posts an action")
            needs.setdefault("GET /api/Actions", "read back posted actions")
        if UndoneBy.DELETING_ACTION in definition.undone_by:
            needs.setdefault("DELETE /api/Actions", f"undo deletes {action.kind}'s action")
        if UndoneBy.RESTORING_FIELDS in definition.undone_by:
            needs.setdefault("POST /api/Tickets", f"undo restores {action.kind}'s fields")
    return needs


def _outcomes_posted(playbook: Playbook) -> list[str]:
    found = []
    for action in playbook.actions:
        if WrittenAs.ACTION in action.definition.written_as:
            outcome = getattr(action.spec, "outcome", None)
            found.append(f"{action.kind} posts outcome {outcome or '(default)'}")
    return found


class Doctor:
    """Runs the probes once each (answers cached by endpoint) and builds the report."""

    def __init__(self, prober: Prober, *, write_probes: bool = True) -> None:
        self.prober = prober
        self.write_probes = write_probes
        self.checks: list[Check] = []
        self._answers: dict[str, Answer] = {}
        self._sample: list[dict[str, Any]] = []
        self._total: int | None = None

    def check(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(name, status, detail))

    # ------------------------------------------------------------------ facts

    def token(self) -> bool:
        client = self.prober.client
        try:
            client.tokens.get()
        except HaloError as e:
            self.check("token", "fail", f"{client.auth_method}: {e}")
            return False
        took = self.prober.recorder.exchanges[-1].seconds if self.prober.recorder.exchanges else 0
        self.check("token", "ok", f"issued via {client.auth_method} ({took * 1000:.0f} ms)")
        return True

    def version(self) -> None:
        answer = self.prober.call("GET", "InstanceInfo")
        if answer.ok and isinstance(answer.data, dict):
            info = answer.data
            detail = ", ".join(
                f"{k} {info[k]}"
                for k in ("app_version", "database_version", "hosted_group")
                if k in info
            )
            self.check("version", "ok", detail or "InstanceInfo answered without a version")
        elif answer.status == 403:
            self.check("version", "info", f"GET /api/InstanceInfo: 403 (grant "
                       f"'{permission_for('GET /api/InstanceInfo')}' to read it)")  # fmt: skip
        else:
            self.check("version", "info", f"GET /api/InstanceInfo: {_said(answer)}")

    def page_cap(self) -> None:
        params = {"pageinate": "true", "page_size": str(ASKED_PAGE), "page_no": "1"}
        answer = self._remember("GET /api/Tickets", self.prober.call("GET", "Tickets", params))
        if not answer.ok or not isinstance(answer.data, dict):
            self.check("page cap", "fail", f"GET /api/Tickets: {_said(answer)}")
            return
        rows = [r for r in answer.data.get("tickets") or [] if isinstance(r, dict)]
        total = answer.data.get("record_count")
        self._sample, self._total = rows, total if isinstance(total, int) else None
        if self._total is None:
            self.check("page cap", "warn", f"no record_count; {len(rows)} rows")
        elif self._total <= len(rows) and len(rows) < ASKED_PAGE:
            self.check("page cap", "info", f"unknown: only {self._total} tickets in all")
        elif len(rows) < ASKED_PAGE:
            self.check("page cap", "ok", f"{len(rows)} rows per page (asked {ASKED_PAGE}; "
                       f"{self._total} tickets in all)")  # fmt: skip
        else:
            self.check("page cap", "warn", f"not capped at 100: {len(rows)} rows came back")

    def unknown_filter(self) -> None:
        params = {"pageinate": "true", "page_size": "1", "page_no": "1", UNKNOWN_FILTER: "1"}
        answer = self.prober.call("GET", "Tickets", params)
        if answer.status == 400:
            self.check("unknown filter", "info", "refused with 400 (the client refuses them too)")
        elif answer.ok and isinstance(answer.data, dict):
            count = answer.data.get("record_count")
            same = count == self._total
            self.check("unknown filter", "ok" if same else "warn",
                       "ignored: every ticket still matches (the client refuses unknown filters)"
                       if same else f"changed the count ({self._total} -> {count})")  # fmt: skip
        else:
            self.check("unknown filter", "warn", _said(answer))

    def priorities(self) -> None:
        answer = self._probe_get("GET /api/Priority", "Priority", {})
        rows = answer.data if answer.ok and isinstance(answer.data, list) else None
        if rows is None:
            self.check("priority rows", "warn", f"GET /api/Priority: {_said(answer)}")
            return
        ids = {r.get("priorityid", r.get("id")) for r in rows if isinstance(r, dict)}
        slas = {r.get("slaid") for r in rows if isinstance(r, dict)} - {None}
        guid = any(isinstance(r.get("id"), str) for r in rows if isinstance(r, dict))
        shape = "one row per SLA and priority" if len(rows) > len(ids) else "one row per priority"
        kind = "a GUID" if guid else "an integer"
        detail = f"{len(rows)} rows, {len(ids)} priorities, {len(slas)} SLA(s): {shape}"
        self.check("priority rows", "ok", f"{detail}; id is {kind}")

    def last_update_filter(self) -> None:
        stamps = [d for r in self._sample if (d := parse_halo_date(r.get("last_update")))]
        if not stamps or self._total is None:
            self.check("last-update filter", "info", "no tickets with last_update to test it")
            return
        cutoff = max(stamps) - timedelta(seconds=1)
        text = format_halo_date(cutoff)
        found: dict[str, list[str]] = {}
        for name, form in LAST_UPDATE_FORMS:
            params = {"pageinate": "true", "page_size": "100", "page_no": "1"}
            params |= {k: v.format(cutoff=text) for k, v in form.items()}
            outcome = self._date_form(self.prober.call("GET", "Tickets", params), cutoff)
            found.setdefault(outcome, []).append(name)
        honoured = found.pop("honoured", [])
        others = "; ".join(f"{what}: {', '.join(names)}" for what, names in found.items())
        if honoured:
            detail = "honoured: " + ", ".join(honoured) + (f" ({others})" if others else "")
            self.check("last-update filter", "ok", detail)
            self.check("incremental reads", "ok", f"scheduled runs read the tickets updated "
                       f"since their last read with {honoured[0]}")  # fmt: skip
        else:
            self.check("last-update filter", "warn", "no form narrows the tickets, so "
                       f"incremental runs must read every ticket ({others})")  # fmt: skip
            self.check("incremental reads", "warn", "scheduled runs read every ticket (see "
                       "docs/incremental.md)")  # fmt: skip

    def _date_form(self, answer: Answer, cutoff: datetime) -> str:
        """honoured, ignored, wrong rows, or what Halo answered."""
        if not answer.ok or not isinstance(answer.data, dict):
            return "no answer" if answer.status is None else f"HTTP {answer.status}"
        rows = [r for r in answer.data.get("tickets") or [] if isinstance(r, dict)]
        if answer.data.get("record_count") == self._total:
            return "ignored"
        dates = [parse_halo_date(r.get("last_update")) for r in rows]
        if rows and all(d is not None and d >= cutoff for d in dates):
            return "honoured"
        return "narrowed, but not to rows updated since the cut-off"

    # ------------------------------------------------------------------ endpoints

    def endpoint(self, endpoint: str) -> EndpointCheck:
        method, _, path = endpoint.partition(" ")
        resource = path.removeprefix("/api/")
        if method == "GET":
            answer = self._probe_get(endpoint, resource, self._read_params(resource))
        elif not self.write_probes:
            return EndpointCheck(endpoint, None, "unverified", permission_for(endpoint),
                                 "write probes are off")  # fmt: skip
        elif endpoint in self._answers:
            answer = self._answers[endpoint]
        else:
            answer = self._remember(endpoint, self.prober.refused_write(method, resource))
        return _access(endpoint, answer, write=method != "GET")

    def _probe_get(self, endpoint: str, resource: str, params: Mapping[str, str]) -> Answer:
        if endpoint not in self._answers:
            self._remember(endpoint, self.prober.call("GET", resource, params or None))
        return self._answers[endpoint]

    def _read_params(self, resource: str) -> dict[str, str]:
        if resource == "Actions":
            tid = next((r.get("id") for r in self._sample if isinstance(r.get("id"), int)), 1)
            return {"ticket_id": str(tid), "count": "1"}
        if resource == "Tickets":
            return {"pageinate": "true", "page_size": "1", "page_no": "1"}
        kind = _kind_of(resource)
        params = dict(kind.params) if kind else {}
        if kind and kind.envelope is Envelope.PAGED:
            params |= {"pageinate": "true", "page_size": "1", "page_no": "1"}
        return params

    def _remember(self, endpoint: str, answer: Answer) -> Answer:
        self._answers[endpoint] = answer
        return answer


def _kind_of(resource: str) -> LookupKind | None:
    return next((k for k in LOOKUP_KINDS.values() if k.endpoint == resource), None)


def _said(answer: Answer) -> str:
    if answer.status is None:
        return f"no answer ({answer.message})"
    return f"HTTP {answer.status}" + (f": {answer.message}" if answer.message else "")


def _access(endpoint: str, answer: Answer, *, write: bool) -> EndpointCheck:
    permission = permission_for(endpoint)
    if answer.status == 403:
        return EndpointCheck(endpoint, 403, "denied", permission, "403: not permitted")
    if write and answer.status == 400:
        return EndpointCheck(endpoint, 400, "allowed", permission,
                             "400: refused before applying, so permitted")  # fmt: skip
    if answer.ok and not write:
        return EndpointCheck(endpoint, answer.status, "allowed", permission, "")
    if answer.ok:  # a write probe Halo accepted: say so loudly
        return EndpointCheck(endpoint, answer.status, "unverified", permission,
                             "the probe was ACCEPTED; check the tenant")  # fmt: skip
    return EndpointCheck(endpoint, answer.status, "unverified", permission, _said(answer))


def verdict(playbook: Playbook, endpoints: Mapping[str, EndpointCheck]) -> Verdict:
    denied: dict[str, list[str]] = {}
    unverified: list[str] = []
    for endpoint in needed_endpoints(playbook):
        found = endpoints[endpoint]
        if found.access == "denied":
            denied.setdefault(found.permission, []).append(endpoint)
        elif found.access == "unverified":
            unverified.append(endpoint)
    missing = [f"{p} ({', '.join(e)})" for p, e in sorted(denied.items())]
    notes = [f"{o}: the agent's right to it shows only on a real write"
             for o in _outcomes_posted(playbook)]  # fmt: skip
    state = "needs permission" if missing else "unverified" if unverified else "ready"
    return Verdict(playbook.name, state, tuple(missing), tuple(unverified), tuple(notes))


def diagnose(
    settings: HaloSettings,
    playbooks: Iterable[Playbook],
    *,
    problems: Iterable[str] = (),
    write_probes: bool = True,
    prober: Prober | None = None,
) -> DoctorReport:
    """Probe the tenant of ``settings`` for ``playbooks``; writes nothing."""
    prober = prober or Prober(settings)
    doctor = Doctor(prober, write_probes=write_probes)
    books = list(playbooks)
    endpoints: dict[str, EndpointCheck] = {}
    try:
        if doctor.token():
            doctor.version()
            doctor.page_cap()
            doctor.unknown_filter()
            doctor.priorities()
            doctor.last_update_filter()
            wanted = sorted({e for pb in books for e in needed_endpoints(pb)})
            endpoints = {e: doctor.endpoint(e) for e in wanted}
            _traffic(doctor, prober)
    finally:
        prober.close()
    if not endpoints:  # no token: nothing could be checked
        endpoints = {e: EndpointCheck(e, None, "unverified", permission_for(e), "no token")
                     for pb in books for e in needed_endpoints(pb)}  # fmt: skip
    return DoctorReport(
        base_url=settings.base_url,
        auth_method=prober.client.auth_method,
        checks=tuple(doctor.checks),
        endpoints=tuple(endpoints.values()),
        verdicts=tuple(verdict(pb, endpoints) for pb in books),
        requests=len(prober.recorder.exchanges),
        problems=tuple(problems),
    )


def check_access(
    settings: HaloSettings,
    playbooks: Iterable[Playbook],
    *,
    write_probes: bool = True,
    prober: Prober | None = None,
) -> tuple[Verdict, ...]:
    """Only the permission verdicts (``validate --online``): a token and one probe per
    endpoint the playbooks need; writes nothing."""
    prober = prober or Prober(settings)
    doctor = Doctor(prober, write_probes=write_probes)
    books = list(playbooks)
    wanted = sorted({e for pb in books for e in needed_endpoints(pb)})
    try:
        if doctor.token():
            endpoints = {e: doctor.endpoint(e) for e in wanted}
        else:
            endpoints = {e: EndpointCheck(e, None, "unverified", permission_for(e),
                                          doctor.checks[-1].detail) for e in wanted}  # fmt: skip
    finally:
        prober.close()
    return tuple(verdict(pb, endpoints) for pb in books)


def _traffic(doctor: Doctor, prober: Prober) -> None:
    seconds = [e.seconds for e in prober.recorder.exchanges]
    if seconds:
        doctor.check("latency", "ok" if statistics.median(seconds) < 2 else "warn",
                     f"median {statistics.median(seconds) * 1000:.0f} ms, "
                     f"max {max(seconds) * 1000:.0f} ms over {len(seconds)} requests")  # fmt: skip
    headers = prober.recorder.rate_headers()
    doctor.check("rate-limit headers", "info",
                 ", ".join(f"{k}: {v}" for k, v in sorted(headers.items()))
                 or "none sent (Halo documents none: the client keeps its own budget)")  # fmt: skip
