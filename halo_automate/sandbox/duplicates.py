"""Seeded duplicate bursts and their look-alikes: monitoring alerts raised again and again.

An RMM tool that raises the same alert several times within minutes leaves a burst of
tickets whose summaries differ only in digits ("[Alert] Disk C: 91% full on SRV-FS01", then
"... 95% ..."). :func:`seed` appends such bursts after the generated tickets (ids
``count + 1`` onwards, so the generated tickets and their random sequence are untouched),
with look-alikes: ``[Alert]`` tickets of the same clients, raised within hours of a burst,
whose summaries differ in letters ("Disk D" for "Disk C", "completed" for "failed").

A playbook ::

    select: {open_only: true}
    where: {summary: {matches: '^\\[Alert\\]'}}
    group: {by: [client_id, {summary: normalized}], within: 24h}

where *normalized* is: casefold, ``[bracketed tags]`` removed, digits removed, whitespace
collapsed and stripped, finds exactly the planted bursts, whether ``within`` is measured
from a group's first ticket or from ticket to ticket: every burst spans at most about two
hours, bursts of the same text on the same client are at least two days apart, and no
generated ticket's summary starts with ``[Alert]``. Every look-alike is a group of one.

Planted (``state.planted``): ``duplicate_survivor`` the oldest ticket of each burst,
``duplicate`` the others, ``duplicate_lookalike`` the look-alikes. Bursts: ``max(4, count //
400)`` (the default 5,000 tickets: 12 bursts), 2 to 6 tickets each, opened 3 to 25 minutes
apart, all open (New, In Progress or Action Required), over the last ten days:

======  ============  =================================  ==========================
burst   client        alert (``{n}``: digits that vary)  what it shows
======  ============  =================================  ==========================
0       Contoso       Disk C: {n}% full on SRV-FS01      4 tickets; tags, case and
                                                         spacing vary too
1       Contoso       Disk C: {n}% full on SRV-FS01      2 tickets, 2+ days after 0:
                                                         a group of its own
2       Fabrikam      Disk C: {n}% full on SRV-FS01      same text, other client:
                                                         a group of its own
3       Litware       Backup job {n} failed on SRV-BK01
4..     Contoso,      the next alert of :data:`ALERTS`,  each alert on each client
        Fabrikam,     on each client in turn             once, then again days later
        Litware
======  ============  =================================  ==========================

One look-alike per (client, alert) pair, beside that pair's first burst (within six
hours): the pair's entry in :data:`ALERTS` gives its text. For the default 5,000 tickets:
12 bursts of 47 tickets (12 survivors, 35 duplicates) and 11 look-alikes; 600 (the tests'
default): 4 bursts of 13 tickets and 3 look-alikes.

Opt-in (``generate(..., duplicates=True)``, ``SandboxOptions(duplicates=True)``,
``halo-automate sandbox --duplicates``, ``halo-automate demo --duplicates``): many tests count
the generated tickets exactly. Every seed is an Incident of priority High on Service Desk from
"RMM Alerts" <rmm-alerts@client domain>, dated as the generator dates a ticket (opened =
created = last action = last update).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from halo_automate.core.dates import UNSET_DATE, format_halo_date
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.state import Record, SandboxState

FABRIKAM = 3
LITWARE = 7
CLIENTS = (ref.CONTOSO, FABRIKAM, LITWARE)
ALERTS: tuple[tuple[str, str, str], ...] = (
    # (the alert a burst repeats, its look-alike, category); {n}: digits that vary
    ("Disk C: {n}% full on SRV-FS01", "Disk D: {n}% full on SRV-FS01", "Hardware>Desktop"),
    ("Backup job {n} failed on SRV-BK01", "Backup job {n} completed on SRV-BK01",
     "Software>Line of Business"),
    ("CPU at {n}% on SRV-APP01", "CPU at {n}% on SRV-WEB01", "Hardware>Desktop"),
    ("{n} failed sign-ins for admin on DC01", "{n} failed sign-ins for svc-backup on DC01",
     "Accounts>Password Reset"),
    ("Packet loss {n}% to GW01", "Latency {n} ms to GW01", "Network>Firewall"),
    ("Certificate for vpn expires in {n} days", "Certificate for mail expires in {n} days",
     "Network>VPN"),
    ("UPS on battery, {n}% remaining", "UPS on mains, {n}% charged", "Hardware>Desktop"),
    ("Print spooler stopped on PRN{n}", "Print spooler started on PRN{n}", "Hardware>Printer"),
    ("RAID volume {n} degraded on SRV-HV01", "RAID volume {n} rebuilding on SRV-HV01",
     "Hardware>Desktop"),
    ("Memory {n}% used on SRV-SQL01", "Memory {n}% used on SRV-SQL01 (cleared)",
     "Hardware>Desktop"),
)  # fmt: skip
PREFIX = "[Alert] "
_STATUSES = (1, 1, 1, 2, 3)  # open statuses: New, In Progress, Action Required
_FIRST_DAY = 1.0  # the newest burst opens at least a day ago
_OCCURRENCE_DAYS = 4.0  # the same (client, alert) again: this much older
_SPREAD_DAYS = 2.5  # bursts of one occurrence spread over this many days
MakeRecord = Callable[..., Record]


@dataclass(frozen=True)
class Burst:
    client_id: int
    alert: int  # index into ALERTS
    occurrence: int  # 0: the pair's first burst (the one with a look-alike)


@dataclass
class _Planned:
    age: timedelta
    client_id: int
    summary: str
    category: str
    kind: str  # duplicate_survivor, duplicate, duplicate_lookalike
    status_id: int


def burst_count(count: int) -> int:
    return max(4, count // 400)


def bursts(count: int) -> list[Burst]:
    """The planted bursts in order (see the module's table)."""
    pairs = [(c, a) for a in range(1, len(ALERTS)) for c in (LITWARE, ref.CONTOSO, FABRIKAM)]
    wanted = [(ref.CONTOSO, 0), (ref.CONTOSO, 0), (FABRIKAM, 0)]
    while len(wanted) < burst_count(count):
        wanted.append(pairs[(len(wanted) - 3) % len(pairs)])
    seen: dict[tuple[int, int], int] = {}
    out = []
    for client_id, alert in wanted:
        out.append(Burst(client_id, alert, seen.get((client_id, alert), 0)))
        seen[(client_id, alert)] = out[-1].occurrence + 1
    return out


def seed(state: SandboxState, count: int, now: datetime, make: MakeRecord) -> None:
    """Append the bursts and look-alikes (``make``: the generator's ticket-record builder)."""
    rng = random.Random(f"duplicates-{state.seed}")
    planned: list[_Planned] = []
    for index, burst in enumerate(bursts(count)):
        planned += _burst(rng, index, burst)
    users_of: dict[int, list[Record]] = {}
    for user in state.users:
        users_of.setdefault(user["client_id"], []).append(user)
    first_id = max(state.tickets, default=0) + 1
    for offset, plan in enumerate(sorted(planned, key=lambda p: p.age, reverse=True)):
        ticket_id = first_id + offset
        client = state.clients_by_id[plan.client_id]
        user = rng.choice(users_of[plan.client_id])
        opened = format_halo_date(now - plan.age)
        state.tickets[ticket_id] = make(
            ticket_id,
            summary=plan.summary,
            details=f"Automated alert from the monitoring agent:\n{plan.summary}",
            status_id=plan.status_id,
            tickettype_id=1,
            priority_id=2,
            client=client,
            site=state.sites_by_id[user["site_id"]],
            user=user,
            user_name="RMM Alerts",
            user_email=f"rmm-alerts@{client['emaildomain']}",
            agent_id=0 if plan.status_id == 1 else rng.choice(ref.AGENTS_BY_TEAM[1]),
            team_id=1,
            category_1=plan.category,
            opened=opened,
            last_action=opened,
            closed=UNSET_DATE,
            flagged=False,
        )
        state.planted.setdefault(plan.kind, set()).add(ticket_id)


def _burst(rng: random.Random, index: int, burst: Burst) -> list[_Planned]:
    """One burst's tickets, and its look-alike on the pair's first burst."""
    alert, lookalike, category = ALERTS[burst.alert]
    size = 4 if index == 0 else 2 if index == 1 else rng.randint(2, 6)
    days = _FIRST_DAY + _OCCURRENCE_DAYS * burst.occurrence + rng.random() * _SPREAD_DAYS
    start = timedelta(days=days)
    out: list[_Planned] = []
    age = start
    for member in range(size):
        text = PREFIX + alert.format(n=rng.randint(10, 99))
        if index == 0 and member % 2:  # the same alert as another tool words it
            text = PREFIX + "[RMM]  " + text.removeprefix(PREFIX).lower() + " "
        kind = "duplicate" if member else "duplicate_survivor"
        out.append(_Planned(age, burst.client_id, text, category, kind, rng.choice(_STATUSES)))
        age -= timedelta(minutes=rng.randint(3, 25))
    if burst.occurrence == 0:
        text = PREFIX + lookalike.format(n=rng.randint(10, 99))
        near = start - timedelta(hours=rng.uniform(-6, 6))
        out.append(_Planned(near, burst.client_id, text, category, "duplicate_lookalike", 1))
    return out


def duplicates_line(planted: dict[str, set[int]]) -> str:
    """ "12 bursts (51 tickets, 12 to keep) and 11 look-alikes" from the planted sets."""
    survivors = len(planted.get("duplicate_survivor", ()))
    members = survivors + len(planted.get("duplicate", ()))
    lookalikes = len(planted.get("duplicate_lookalike", ()))
    return (
        f"{survivors} bursts ({members} tickets, {survivors} to keep) and {lookalikes} look-alikes"
    )
