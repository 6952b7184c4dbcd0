"""Seeded, deterministic sandbox data (the contract is notes/seed.md).

``generate(count, seed, now)`` always gives the same tickets for the same arguments: one
``random.Random(seed)`` drives everything and dates are offsets from ``now``. Ticket ids
run 1..count in date order (older tickets have lower ids, as in a real Halo).

Nothing random depends on ``now``, so the random part is built once per ``(count, seed)``
(:func:`_template`, cached: the test suite starts hundreds of identical sandboxes) and each
call only copies it and turns its date offsets into dates from ``now``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from halo_automate.core.dates import UNSET_DATE, format_halo_date
from halo_automate.sandbox import customfields, texts
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.duplicates import seed as plant_duplicates
from halo_automate.sandbox.state import Record, SandboxState

SPAN_DAYS = 182
SPAM_SHARE = 0.06
RETIRED_SHARE = 0.08
UNCATEGORISED_SHARE = 0.05  # of the non-spam tickets
LOOKALIKE_KINDS = 5
_NORMAL_CLIENTS = [
    c for c, _, _ in ref.CLIENT_ROWS if c not in (ref.PROMO_PRINT, ref.UNKNOWN_CLIENT)
]
_CLIENT_WEIGHTS = [14, 8, 7, 6, 5, 5, 4, 4, 8, 3, 4]
_OPEN_STATUSES = (1, 2, 3, 4, 8)
_OPEN_WEIGHTS = (25, 35, 10, 15, 15)
_TEAM_NAMES = {t["id"]: t["name"] for t in ref.TEAMS}
_CATEGORY_IDS = {c["value"]: c["id"] for c in ref.CATEGORIES if c["type_id"] == 1}
FINANCE_USER = ("Fiona", "Banks")


@dataclass(frozen=True)
class _Dates:
    """A ticket's dates as offsets: opened ``now - age``, last action ``opened + since``."""

    age: timedelta
    since: timedelta
    closed: bool


def generate(count: int, seed: int, now: datetime, *, duplicates: bool = False) -> SandboxState:
    """Build the whole sandbox state: ``count`` tickets, clients, sites and users; with
    ``duplicates``, alert bursts and look-alikes after them (:mod:`.duplicates`)."""
    template, dates = _template(count, seed)
    state = SandboxState(
        clients=[dict(c) for c in template.clients],
        sites=[dict(s) for s in template.sites],
        users=[dict(u) for u in template.users],
        tickets={},
        planted={kind: set(ids) for kind, ids in template.planted.items()},
        seed=seed,
    )
    for ticket_id, record in template.tickets.items():
        when = dates[ticket_id]
        opened = now - when.age
        opened_text = format_halo_date(opened)
        last_action = format_halo_date(opened + when.since)
        state.tickets[ticket_id] = {
            **record,
            "dateoccurred": opened_text,
            "datecreated": opened_text,
            "lastactiondate": last_action,
            "last_update": last_action,
            "hasbeenclosed": when.closed,
            "dateclosed": last_action if when.closed else UNSET_DATE,
        }
    if duplicates:  # opt-in: appended after the generated ids
        plant_duplicates(state, count, now, _ticket_record)
    customfields.seed(state)
    return state


@lru_cache(maxsize=8)
def _template(count: int, seed: int) -> tuple[SandboxState, dict[int, _Dates]]:
    """Everything random, with dates left as offsets (callers copy, never change it)."""
    rng = random.Random(seed)
    clients, sites, users = people(seed)
    state = SandboxState(clients=clients, sites=sites, users=users, tickets={}, seed=seed)
    maker = _Maker(rng, state)
    ages = sorted((rng.random() * SPAN_DAYS for _ in range(count)), reverse=True)
    for index, role in enumerate(_roles(rng, count)):
        ticket_id = index + 1
        state.tickets[ticket_id] = maker.ticket(ticket_id, role, ages[index])
        if role != "normal":
            state.planted[role.split(":")[0]].add(ticket_id)
    return state, maker.dates


def _roles(rng: random.Random, count: int) -> list[str]:
    """Exact planted counts, shuffled over the ids; ``lookalike:<kind>`` cycles the kinds."""
    n_spam = round(count * SPAM_SHARE)
    n_retired = round(count * RETIRED_SHARE)
    n_uncat = round((count - n_spam) * UNCATEGORISED_SHARE)
    n_look = LOOKALIKE_KINDS * max(3, round(count * 0.004))
    roles = (
        ["spam"] * n_spam
        + ["retired"] * n_retired
        + ["uncategorised"] * n_uncat
        + [f"lookalike:{i % LOOKALIKE_KINDS}" for i in range(n_look)]
    )[:count]
    roles += ["normal"] * (count - len(roles))
    rng.shuffle(roles)
    return roles


def people(seed: int) -> tuple[list[Record], list[Record], list[Record]]:
    """Clients, sites and users; independent of the ticket count."""
    rng = random.Random(f"{seed}-people")
    clients: list[Record] = []
    sites: list[Record] = []
    users: list[Record] = []
    for client_id, name, domain in ref.CLIENT_ROWS:
        client = {
            "id": client_id,
            "name": name,
            "inactive": False,
            "toplevel_id": 1,
            "toplevel_name": "Managed Clients",
            "emaildomain": domain,
        }
        clients.append(client)
        own_sites = ["Head Office"] + (["Branch Office"] if client_id % 3 == 0 else [])
        first_site = len(sites) + 1
        for site_name in own_sites:
            sites.append(
                {"id": len(sites) + 1, "name": site_name, "client_id": client_id,
                 "client_name": name}
            )  # fmt: skip
        site_ids = list(range(first_site, len(sites) + 1))
        for first, last in _names(rng, client_id):
            email = f"{first}.{last}@{domain}".lower() if domain else ""
            site = sites[rng.choice(site_ids) - 1]
            users.append(
                {
                    "id": len(users) + 1,
                    "name": f"{first} {last}",
                    "firstname": first,
                    "surname": last,
                    "emailaddress": email,
                    "client_id": client_id,
                    "client_name": name,
                    "site_id": site["id"],
                    "site_name": site["name"],
                    "inactive": False,
                }
            )
    return clients, sites, users


def _names(rng: random.Random, client_id: int) -> list[tuple[str, str]]:
    if client_id == ref.UNKNOWN_CLIENT:
        return [("General", "User")]
    wanted = 10 if client_id == ref.CONTOSO else rng.randint(5, 8)
    names: list[tuple[str, str]] = [FINANCE_USER] if client_id == ref.WOODGROVE else []
    while len(names) < wanted:
        pair = (rng.choice(texts.FIRST_NAMES), rng.choice(texts.LAST_NAMES))
        if pair not in names:
            names.append(pair)
    return names


class _Maker:
    """Builds one ticket dict per role; keeps the shared RNG and indexes."""

    def __init__(self, rng: random.Random, state: SandboxState) -> None:
        self.rng = rng
        self.state = state
        self.dates: dict[int, _Dates] = {}
        self.users_of: dict[int, list[Record]] = {}
        for user in state.users:
            self.users_of.setdefault(user["client_id"], []).append(user)
        self.general_user = self.users_of[ref.UNKNOWN_CLIENT][0]

    def ticket(self, ticket_id: int, role: str, age_days: float) -> Record:
        kind, _, sub = role.partition(":")
        if kind == "spam":
            fields = self._spam()
        elif kind == "lookalike":
            fields = self._lookalike(int(sub))
        else:
            fields = self._normal(client_id=None)
            if kind == "retired":
                value = self.rng.choice(list(ref.RETIRED_CATEGORIES))
                fields["category_1"] = value
                fields["summary"] = self.rng.choice(texts.RETIRED_SUMMARIES[value])
            elif kind == "uncategorised":
                fields["category_1"] = ""
        return self._finish(ticket_id, fields, age_days, spam=kind == "spam")

    def _user(self, client_id: int | None) -> Record:
        if client_id is None:
            client_id = self.rng.choices(_NORMAL_CLIENTS, _CLIENT_WEIGHTS)[0]
        return self.rng.choice(self.users_of[client_id])

    def _normal(self, client_id: int | None, summary: str = "", category: str = "") -> Record:
        category = category or self.rng.choice(ref.CATEGORY_VALUES)
        summaries, is_request = texts.SUMMARIES[category]
        ttype = 4 if is_request else self.rng.choices((1, 2, 3), (85, 8, 7))[0]
        return {
            "user": self._user(client_id),
            "summary": summary or self.rng.choice(summaries),
            "category_1": category,
            "tickettype_id": ttype,
            "priority_id": self.rng.choices((1, 2, 3, 4), (3, 15, 55, 27))[0],
            "team_id": self._team_for(category),
        }

    def _team_for(self, category: str) -> int:
        group = category.split(">")[0]
        r = self.rng.random()
        if group == "Hardware":
            return 3 if r < 0.4 else 1
        if group == "Network":
            return 2 if r < 0.7 else 1
        if group == "Software":
            return 2 if r < 0.4 else 1
        if category == "Accounts>New Starter":
            return 4 if r < 0.2 else 1
        return 2 if group == "Email" and r < 0.3 else 1

    def _lookalike(self, kind: int) -> Record:
        if kind == 0:
            return self._normal(ref.CONTOSO, texts.LOOKALIKE_OOO, "Software>Microsoft 365")
        if kind == 1:
            return self._normal(ref.CONTOSO, texts.LOOKALIKE_AUTOREPLY, "Software>Microsoft 365")
        if kind == 2:
            return self._normal(ref.PROMO_PRINT)
        if kind == 3:
            return self._normal(None, texts.LOOKALIKE_UNDELIVERABLE, "Email>Exchange Online")
        fields = self._normal(ref.WOODGROVE, texts.LOOKALIKE_INVOICE, "Software>Line of Business")
        fields["user"] = self.users_of[ref.WOODGROVE][0]
        return fields

    def _spam(self) -> Record:
        rng = self.rng
        kind = rng.randrange(4)
        sender_name, sender = "", ""
        user = self.general_user
        if kind == 0:
            sender_name, sender = rng.choice(texts.NEWSLETTER_SENDERS)
            summary = rng.choice(texts.NEWSLETTER_SUMMARIES)
        elif kind == 1:
            sender_name, sender = "Mail Delivery System", rng.choice(texts.BOUNCE_SENDERS)
            prefix = rng.choice(texts.BOUNCE_PREFIXES)
            summary = prefix + (self._subject() if prefix.endswith(" ") else "")
        elif kind == 2:
            user = self._user(None)
            summary = rng.choice(texts.AUTOREPLY_PREFIXES) + self._subject()
        else:
            sender_name, sender = rng.choice(texts.PHISHING_SENDERS)
            summary = rng.choice(texts.PHISHING_SUMMARIES).format(n=rng.randint(10000, 99999))
        return {
            "user": user,
            "sender": (sender_name, sender) if sender else None,
            "summary": summary,
            "category_1": "Email>Spam and Phishing",
            "tickettype_id": 1,
            "priority_id": 3,
            "team_id": 1,
        }

    def _subject(self) -> str:
        summaries, _ = texts.SUMMARIES[self.rng.choice(ref.CATEGORY_VALUES)]
        return f"RE: Ticket #{self.rng.randint(1000, 99999)} - {self.rng.choice(summaries)}"

    def _finish(self, ticket_id: int, fields: Record, age_days: float, *, spam: bool) -> Record:
        rng = self.rng
        user: Record = fields["user"]
        name, email = fields.get("sender") or (user["name"], user["emailaddress"])
        status = self._status(age_days, spam)
        closed = status == ref.CLOSED_STATUS
        since = self._since_opened(age_days, closed)
        self.dates[ticket_id] = _Dates(timedelta(days=age_days), since, closed)
        team_id = fields["team_id"]
        agent = 0 if spam or (status == 1 and rng.random() < 0.7) else self._agent(team_id)
        detail = rng.choice(texts.DETAILS)
        category = fields["category_1"]
        return _ticket_record(
            ticket_id,
            summary=fields["summary"],
            details=detail.format(summary=fields["summary"], first=name.split(" ")[0]),
            status_id=status,
            tickettype_id=fields["tickettype_id"],
            priority_id=fields["priority_id"],
            client=self.state.clients_by_id[user["client_id"]],
            site=self.state.sites_by_id[user["site_id"]],
            user=user,
            user_name=name,
            user_email=email,
            agent_id=agent,
            team_id=team_id,
            category_1=category,
            opened=UNSET_DATE,  # dates come from now, in generate()
            last_action=UNSET_DATE,
            closed=UNSET_DATE,
            flagged=rng.random() < 0.03,
        )

    def _status(self, age_days: float, spam: bool) -> int:
        rng = self.rng
        if spam:
            return 1 if rng.random() < 0.9 else ref.CLOSED_STATUS
        p_open = (
            0.85 if age_days < 14 else 0.55 if age_days < 30 else 0.35 if age_days < 90 else 0.22
        )
        if rng.random() >= p_open:
            return ref.CLOSED_STATUS
        return rng.choices(_OPEN_STATUSES, _OPEN_WEIGHTS)[0]

    def _since_opened(self, age_days: float, closed: bool) -> timedelta:
        """How long after opening the last action came (a closed ticket: within 14 days)."""
        span = min(age_days, 14.0) if closed else age_days
        return timedelta(days=self.rng.uniform(0.02, 1.0) * span)

    def _agent(self, team_id: int) -> int:
        return self.rng.choice(ref.AGENTS_BY_TEAM[team_id])


def _ticket_record(ticket_id: int, **f: Any) -> Record:
    """The stored ticket: every list-row field plus the detail-only ones."""
    client, site, user = f["client"], f["site"], f["user"]
    priority = f["priority_id"]
    impact = 1 if priority <= 2 else 2 if priority == 3 else 3
    return {
        "id": ticket_id,
        "summary": f["summary"],
        "details": f["details"],
        "status_id": f["status_id"],
        "tickettype_id": f["tickettype_id"],
        "priority_id": priority,
        "client_id": client["id"],
        "client_name": client["name"],
        "site_id": site["id"],
        "site_name": site["name"],
        "user_id": user["id"],
        "user_name": f["user_name"],
        "user_email": f["user_email"],
        "agent_id": f["agent_id"],
        "team": _TEAM_NAMES.get(f["team_id"], ""),
        "team_id": f["team_id"],
        "category_1": f["category_1"],
        "category_2": "",
        "category_3": "",
        "category_4": "",
        "categoryid_1": _CATEGORY_IDS.get(f["category_1"], 0),
        "categoryid_2": 0,
        "categoryid_3": 0,
        "categoryid_4": 0,
        "dateoccurred": f["opened"],
        "datecreated": f["opened"],
        "lastactiondate": f["last_action"],
        "last_update": f["last_action"],
        "hasbeenclosed": f["closed"] != UNSET_DATE,
        "dateclosed": f["closed"],
        "deadlinedate": UNSET_DATE,
        "onhold": f["status_id"] == 4,
        "flagged": f["flagged"],
        "impact": impact,
        "urgency": impact,
        "sla_id": 1,
        "deleted": False,
        "parent_id": 0,  # linking.py
        "merged_into_id": 0,
    }


def new_ticket_record(ticket_id: int, state: SandboxState, now: str) -> Record:
    """Defaults for a ticket created through the API (before the posted fields apply)."""
    user = next(u for u in state.users if u["client_id"] == ref.UNKNOWN_CLIENT)
    record = _ticket_record(
        ticket_id,
        summary="",
        details="",
        status_id=1,
        tickettype_id=1,
        priority_id=3,
        client=state.clients_by_id[ref.UNKNOWN_CLIENT],
        site=state.sites_by_id[user["site_id"]],
        user=user,
        user_name=user["name"],
        user_email=user["emailaddress"],
        agent_id=0,
        team_id=1,
        category_1="",
        opened=now,
        last_action=now,
        closed=UNSET_DATE,
        flagged=False,
    )
    return {**record, "customfields": customfields.blank()}
