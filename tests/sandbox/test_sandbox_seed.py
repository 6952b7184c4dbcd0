"""The sandbox's seeded data follows notes/seed.md, is deterministic, and survives --state."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from halo_automate.core.dates import UNSET_DATE, parse_halo_date
from halo_automate.sandbox import SandboxServer, reference
from halo_automate.sandbox.data import generate
from halo_automate.sandbox.state import SandboxState
from halo_automate.sandbox.testing import running_sandbox, sandbox_options

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SPAM_DOMAINS = (
    "promo-mailer.example",
    "news.example",
    "billing-notice.example",
    "invoices-secure.example",
)
SPAM_SUMMARY = re.compile(r"^(Automatic reply:|Out of Office:|Undeliverable:|Delivery Status)")


@pytest.fixture(scope="module")
def big() -> SandboxState:
    return generate(5000, 1, NOW)


def open_share(tickets: list[dict[str, Any]]) -> float:
    return sum(1 for t in tickets if t["status_id"] != 9) / len(tickets)


def test_same_seed_same_data_other_seed_differs() -> None:
    """generate() is deterministic for (count, seed, now); another seed gives other tickets."""
    first, again, other = generate(300, 5, NOW), generate(300, 5, NOW), generate(300, 6, NOW)
    assert first.tickets == again.tickets
    assert first.planted == again.planted
    assert first.users == again.users
    assert first.tickets != other.tickets


def test_each_call_gets_its_own_copy_dated_from_its_now() -> None:
    """Calls with the same count and seed share the random part but never its objects, and
    every date moves with ``now`` (an hour later: every date an hour later)."""
    first = generate(80, 3, NOW)
    first.tickets[1]["summary"] = "changed"
    first.users[0]["name"] = "changed"
    first.planted["spam"].add(999)
    second = generate(80, 3, NOW)
    assert second.tickets[1]["summary"] != "changed" and second.users[0]["name"] != "changed"
    assert 999 not in second.planted["spam"]
    later = generate(80, 3, NOW + timedelta(hours=1))
    dates = ("dateoccurred", "datecreated", "lastactiondate", "last_update", "dateclosed")
    for ticket_id, ticket in second.tickets.items():
        moved = later.tickets[ticket_id]
        assert {k: v for k, v in moved.items() if k not in dates} == {
            k: v for k, v in ticket.items() if k not in dates
        }
        for key in dates:
            if ticket[key] == UNSET_DATE:
                assert moved[key] == UNSET_DATE
            else:
                shift = parse_halo_date(moved[key]) - parse_halo_date(ticket[key])
                assert shift == timedelta(hours=1), (ticket_id, key)


def test_planted_ratios(big: SandboxState) -> None:
    """~6% spam, ~8% retired categories, ~5% of non-spam uncategorised; kinds disjoint."""
    planted = big.planted
    assert len(planted["spam"]) == 300
    assert len(planted["retired"]) == 400
    assert len(planted["uncategorised"]) == round(4700 * 0.05)
    kinds = list(planted.values())
    assert sum(map(len, kinds)) == len(set().union(*kinds))


def test_retired_and_uncategorised_are_exactly_the_planted(big: SandboxState) -> None:
    """Only planted tickets carry retired category values, and category_1 is empty exactly on
    the planted uncategorised ones."""
    retired = {i for i, t in big.tickets.items() if t["category_1"] in reference.RETIRED_CATEGORIES}
    empty = {i for i, t in big.tickets.items() if t["category_1"] == ""}
    assert retired == big.planted["retired"]
    assert empty == big.planted["uncategorised"]
    assert {big.tickets[i]["categoryid_1"] for i in retired} == {0}
    assert set(Counter(big.tickets[i]["category_1"] for i in retired)) == set(
        reference.RETIRED_CATEGORIES
    )


def test_spam_shapes(big: SandboxState) -> None:
    """Spam is mostly open status 1 on Service Desk, from spam domains/bounce senders or
    auto-replies from real client users, with Halo-like subjects."""
    spam = [big.tickets[i] for i in sorted(big.planted["spam"])]
    assert sum(t["status_id"] == 1 for t in spam) / len(spam) > 0.8
    assert {t["team"] for t in spam} == {"Service Desk"}
    for t in spam:
        sender_ok = t["user_email"].endswith(SPAM_DOMAINS) or t["user_email"].startswith(
            ("mailer-daemon@", "postmaster@")
        )
        auto_reply = t["summary"].startswith(("Automatic reply:", "Out of Office:"))
        assert sender_ok or auto_reply, t
        if auto_reply:
            assert t["client_id"] not in (reference.UNKNOWN_CLIENT,)
            domain = big.clients_by_id[t["client_id"]]["emaildomain"]
            assert t["user_email"].endswith("@" + domain)
        else:
            assert t["client_id"] == reference.UNKNOWN_CLIENT
    summaries = " | ".join(t["summary"] for t in spam)
    for phrase in (
        "Undeliverable:",
        "Delivery Status Notification (Failure)",
        "Out of Office:",
        "Automatic reply:",
        "overdue - action required",
    ):
        assert phrase in summaries


def test_lookalikes_are_present_and_not_spam_shaped(big: SandboxState) -> None:
    """Each legitimate look-alike is planted several times and would not match a careful
    spam rule (no spam-prefix summary, no spam sender domain)."""
    looks = [big.tickets[i] for i in big.planted["lookalike"]]
    summaries = Counter(t["summary"] for t in looks)
    assert summaries["How do I set up an out of office reply in Outlook?"] >= 3
    assert summaries["Re: Automatic reply settings not working after migration"] >= 3
    assert summaries["Emails to our supplier are coming back undeliverable"] >= 3
    assert summaries["Invoice #1234 from our supplier not received"] >= 3
    promo = [t for t in looks if t["client_id"] == reference.PROMO_PRINT]
    assert len(promo) >= 3
    assert all(t["user_email"].endswith("@promoprint.example") for t in promo)
    for t in looks:
        assert not SPAM_SUMMARY.match(t["summary"])
        assert not t["user_email"].endswith(SPAM_DOMAINS)
    woodgrove = [t for t in looks if t["summary"].startswith("Invoice #1234")]
    assert {t["user_email"] for t in woodgrove} == {"fiona.banks@woodgrovebank.example"}


def test_promo_print_only_raises_lookalikes(big: SandboxState) -> None:
    """Every Promo Print Co ticket is a planted look-alike (the spam example must spare them)."""
    promo = {i for i, t in big.tickets.items() if t["client_id"] == reference.PROMO_PRINT}
    assert promo
    assert promo <= big.planted["lookalike"]


def test_status_mix_and_dates(big: SandboxState) -> None:
    """About 35% of tickets are open; dates span ~6 months before now; ids follow dates;
    closed tickets have hasbeenclosed and a dateclosed, open ones the unset date."""
    tickets = list(big.tickets.values())
    assert 0.28 < open_share(tickets) < 0.42
    opened = [d for t in tickets if (d := parse_halo_date(t["dateoccurred"]))]
    assert len(opened) == len(tickets)
    assert opened == sorted(opened)
    assert opened[0] > NOW - timedelta(days=183)
    assert opened[-1] <= NOW
    for t in tickets:
        closed = t["status_id"] == 9
        assert t["hasbeenclosed"] is closed
        assert (t["dateclosed"] != UNSET_DATE) is closed
        assert t["lastactiondate"] >= t["dateoccurred"]
    assert len(Counter(t["status_id"] for t in tickets)) == 6


def test_assignments_are_consistent(big: SandboxState) -> None:
    """Teams, agents, clients, sites and users on tickets agree with the lookups."""
    agents = {a["id"]: a for a in reference.AGENTS}
    teams = {t["id"]: t["name"] for t in reference.TEAMS}
    for t in big.tickets.values():
        assert teams[t["team_id"]] == t["team"]
        assert t["agent_id"] == 0 or agents[t["agent_id"]]["team_id"] == t["team_id"]
        assert big.clients_by_id[t["client_id"]]["name"] == t["client_name"]
        assert big.sites_by_id[t["site_id"]]["client_id"] == t["client_id"]
        assert big.users_by_id[t["user_id"]]["client_id"] == t["client_id"]
    woodgrove_open = [
        t for t in big.tickets.values() if t["client_id"] == 9 and t["status_id"] != 9
    ]
    assert len(woodgrove_open) > 20


def test_clients_and_users_follow_the_contract() -> None:
    """12 clients (plus Unknown Senders) with the seed.md ids, names and domains; users are
    firstname.lastname@<their client's domain>."""
    state = generate(10, 1, NOW)
    assert [(c["id"], c["name"], c["emaildomain"]) for c in state.clients] == [
        *reference.CLIENT_ROWS
    ]
    assert state.clients[10]["name"] == "Promo Print Co"
    for user in state.users:
        if user["client_id"] == reference.UNKNOWN_CLIENT:
            continue
        domain = state.clients_by_id[user["client_id"]]["emaildomain"]
        expected = f"{user['firstname']}.{user['surname']}@{domain}".lower()
        assert user["emailaddress"] == expected
    per_client = Counter(u["client_id"] for u in state.users)
    assert all(5 <= per_client[c] <= 10 for c in range(1, 13))


def test_lookups_follow_the_contract() -> None:
    """Statuses, outcomes and categories have the exact ids and names of seed.md."""
    assert [(s["id"], s["name"]) for s in reference.STATUSES] == [
        (1, "New"),
        (2, "In Progress"),
        (3, "Action Required"),
        (4, "Waiting on Customer"),
        (8, "Resolved"),
        (9, "Closed"),
        (21, "Suspected Spam"),
    ]
    assert [(o["id"], o["newstatus"]) for o in reference.OUTCOMES] == [
        (1, 0),
        (7, 0),
        (9, 9),
        (12, 0),
    ]
    assert "Email>Spam and Phishing" in reference.CATEGORY_VALUES
    assert not set(reference.RETIRED_CATEGORIES) & set(reference.CATEGORY_VALUES)
    assert set(reference.RETIRED_CATEGORIES.values()) <= set(reference.CATEGORY_VALUES)


def test_small_counts_still_work() -> None:
    """Tiny and empty sandboxes generate without error."""
    assert generate(0, 1, NOW).tickets == {}
    assert len(generate(7, 1, NOW).tickets) == 7


def test_state_round_trips_through_json(tmp_path: Path) -> None:
    """save()/load() keep tickets, actions, numbering and planted markers."""
    state = generate(50, 3, NOW)
    state.actions[4].append({"id": 1, "ticket_id": 4, "note": "x"})
    state.action_seq[4] = 1
    path = tmp_path / "state.json"
    state.save(path)
    loaded = SandboxState.load(path)
    assert loaded.tickets == state.tickets
    assert loaded.actions[4] == state.actions[4]
    assert loaded.planted == state.planted
    assert loaded.next_action_id(4) == 2
    assert loaded.seed == 3


def test_unknown_state_format_is_refused() -> None:
    """A state file of another format version is an error, not silently misread."""
    with pytest.raises(ValueError, match="format"):
        SandboxState.from_json({"format": 99})


def test_server_saves_on_stop_and_loads_on_start(tmp_path: Path) -> None:
    """With state_file set, stop() saves and the next sandbox starts from that state."""
    path = tmp_path / "sandbox.json"
    with running_sandbox(tickets=40, state_file=path) as sandbox:
        sandbox.state.tickets[3]["summary"] = "edited"
    saved = json.loads(path.read_text())
    assert saved["tickets"][2]["summary"] == "edited"
    again = SandboxServer(sandbox_options(tickets=999, state_file=path))
    assert len(again.state.tickets) == 40
    assert again.state.tickets[3]["summary"] == "edited"


def test_start_twice_is_harmless() -> None:
    """start() on a running sandbox returns the same base URL."""
    with running_sandbox(tickets=5) as sandbox:
        assert sandbox.start() == sandbox.base_url


def test_fixed_now_drives_seed_and_write_clock() -> None:
    """A fixed now anchors seed dates and the write clock (which then advances)."""
    sandbox = SandboxServer(sandbox_options(tickets=20, now=NOW))
    last = parse_halo_date(sandbox.state.tickets[20]["dateoccurred"])
    assert last is not None
    assert last <= NOW
    assert NOW <= sandbox.clock() < NOW + timedelta(minutes=1)


def test_next_action_id_without_seq_uses_existing_actions() -> None:
    """Numbering continues after the highest action already on the ticket."""
    state = generate(5, 1, NOW)
    state.actions[2].extend([{"id": 1}, {"id": 5}])
    assert state.next_action_id(2) == 6
    assert state.live_ticket(999) is None
