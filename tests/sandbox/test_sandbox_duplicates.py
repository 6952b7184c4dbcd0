"""The opt-in duplicate seeds (sandbox/duplicates.py): alert bursts a grouping playbook must
find exactly, and look-alikes it must never group."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from test_sandbox_fidelity import authed

from halo_automate import demo
from halo_automate.core.dates import UNSET_DATE, parse_halo_date
from halo_automate.sandbox import SandboxServer, command, duplicates
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.command import sandbox_command
from halo_automate.sandbox.data import generate
from halo_automate.sandbox.state import SandboxState

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
KINDS = ("duplicate_survivor", "duplicate", "duplicate_lookalike")
ALERT = re.compile(r"^\[Alert\]")
WITHIN = timedelta(hours=24)
Row = dict[str, Any]


def normalized(summary: str) -> str:
    """Casefold, [bracketed tags] out, digits out, whitespace collapsed and stripped."""
    text = re.sub(r"\[[^\]]*\]", " ", summary.casefold())
    return " ".join(re.sub(r"\d", "", text).split())


def opened(row: Row) -> datetime:
    when = parse_halo_date(row["dateoccurred"])
    assert when is not None
    return when


def groups(rows: Iterable[Row], *, chained: bool) -> list[list[Row]]:
    """Open ``[Alert]`` rows grouped by (client, normalized summary) within 24 h: measured
    from the group's first ticket, or (``chained``) from the previous one."""
    keyed: dict[tuple[int, str], list[Row]] = {}
    for row in rows:
        if row["status_id"] != ref.CLOSED_STATUS and ALERT.match(row["summary"]):
            keyed.setdefault((row["client_id"], normalized(row["summary"])), []).append(row)
    out: list[list[Row]] = []
    for members in keyed.values():
        members.sort(key=lambda r: (opened(r), r["id"]))
        current = [members[0]]
        for row in members[1:]:
            anchor = current[-1] if chained else current[0]
            if opened(row) - opened(anchor) <= WITHIN:
                current.append(row)
            else:
                out.append(current)
                current = [row]
        out.append(current)
    return out


def found(rows: Iterable[Row], *, chained: bool) -> dict[str, set[int]]:
    """What the grouping finds, as the planted sets name it."""
    listed = list(rows)
    bursts = [g for g in groups(listed, chained=chained) if len(g) > 1]
    return {
        "duplicate_survivor": {g[0]["id"] for g in bursts},
        "duplicate": {r["id"] for g in bursts for r in g[1:]},
        "duplicate_lookalike": {g[0]["id"] for g in groups(listed, chained=chained) if len(g) == 1},
    }


def planted(state: SandboxState) -> dict[str, set[int]]:
    return {k: state.planted[k] for k in KINDS}


@pytest.fixture(scope="module")
def big() -> SandboxState:
    return generate(5000, 1, NOW, duplicates=True)


def test_opt_in_appends_after_the_generated_tickets_and_leaves_them_alone() -> None:
    """Without the option nothing is planted; with it the generated tickets (custom fields
    included) and their planted sets are exactly as without, and the seeds take the ids
    after them in date order."""
    plain = generate(600, 1, NOW)
    seeded = generate(600, 1, NOW, duplicates=True)
    assert all(not plain.planted[k] for k in KINDS)
    assert not [t for t in plain.tickets.values() if ALERT.match(t["summary"])]
    assert {i: seeded.tickets[i] for i in plain.tickets} == plain.tickets
    assert {k: v for k, v in seeded.planted.items() if k not in KINDS} == {
        k: v for k, v in plain.planted.items() if k not in KINDS
    }
    added = sorted(set(seeded.tickets) - set(plain.tickets))
    assert added == list(range(601, 601 + len(added)))
    assert set(added) == set().union(*planted(seeded).values())
    dates = [seeded.tickets[i]["dateoccurred"] for i in added]
    assert dates == sorted(dates)
    assert all(seeded.tickets[i]["customfields"] for i in added)


def test_seeds_are_deterministic_and_follow_the_seed() -> None:
    """Same (count, seed, now): the same seeds; another seed: other numbers and dates."""
    first, again = generate(600, 3, NOW, duplicates=True), generate(600, 3, NOW, duplicates=True)
    other = generate(600, 4, NOW, duplicates=True)
    assert first.tickets == again.tickets and planted(first) == planted(again)
    assert [first.tickets[i]["summary"] for i in sorted(first.planted["duplicate"])] != [
        other.tickets[i]["summary"] for i in sorted(other.planted["duplicate"])
    ]


def test_planted_counts(big: SandboxState) -> None:
    """max(4, count // 400) bursts of 2 to 6 tickets; one look-alike per (client, alert)
    pair; the default 5,000 tickets: 12 bursts, 47 tickets in them, 11 look-alikes."""
    assert [len(big.planted[k]) for k in KINDS] == [12, 35, 11]
    assert duplicates.burst_count(600) == 4 and duplicates.burst_count(5000) == 12
    small = generate(600, 1, NOW, duplicates=True)
    assert len(small.planted["duplicate_survivor"]) == 4
    assert len(small.planted["duplicate_lookalike"]) == 3
    sets = list(planted(big).values())
    assert sum(map(len, sets)) == len(set().union(*sets))
    assert duplicates.duplicates_line(big.planted) == (
        "12 bursts (47 tickets, 12 to keep) and 11 look-alikes"
    )


def test_seeds_are_open_recent_alerts_of_two_or_three_clients(big: SandboxState) -> None:
    """Every seed is open (not waiting on the customer), an [Alert] of Contoso, Fabrikam or
    Litware, opened within the last ten days, its dates set as the generator sets them."""
    seeds = [big.tickets[i] for i in sorted(set().union(*planted(big).values()))]
    assert {t["client_id"] for t in seeds} == set(duplicates.CLIENTS)
    for t in seeds:
        assert ALERT.match(t["summary"]), t["summary"]
        assert t["status_id"] in (1, 2, 3) and not t["hasbeenclosed"]
        assert t["dateclosed"] == UNSET_DATE
        assert NOW - timedelta(days=10) < opened(t) < NOW
        assert t["datecreated"] == t["dateoccurred"] == t["lastactiondate"] == t["last_update"]
        assert (t["parent_id"], t["merged_into_id"]) == (0, 0)
        assert t["client_name"] == big.clients_by_id[t["client_id"]]["name"]
        assert big.users_by_id[t["user_id"]]["client_id"] == t["client_id"]


@pytest.mark.parametrize("chained", [False, True], ids=["from-first", "ticket-to-ticket"])
@pytest.mark.parametrize("count", [600, 5000])
def test_grouping_finds_exactly_the_planted_bursts(count: int, chained: bool) -> None:
    """Over every ticket (the generated ones included), grouping open [Alert] tickets by
    client and normalized summary within 24 h gives the planted bursts, their oldest ticket
    first, and the look-alikes alone, however ``within`` is measured."""
    state = generate(count, 1, NOW, duplicates=True)
    assert found(state.tickets.values(), chained=chained) == planted(state)


def test_the_bursts_show_each_trap(big: SandboxState) -> None:
    """A burst whose members differ in tags, case and spacing as well as digits; the same
    alert on the same client twice, more than 24 h apart (two groups); the same alert on two
    clients (two groups); each look-alike within 24 h of a burst of its client."""
    bursts = [g for g in groups(big.tickets.values(), chained=False) if len(g) > 1]
    assert sorted(len(g) for g in bursts)[0] == 2 and max(len(g) for g in bursts) <= 6
    styled = [g for g in bursts if len({r["summary"].split(":")[0].casefold() for r in g}) > 1]
    assert styled and any("[RMM]" in r["summary"] for r in styled[0])
    by_key: dict[tuple[int, str], list[list[Row]]] = {}
    for g in bursts:
        by_key.setdefault((g[0]["client_id"], normalized(g[0]["summary"])), []).append(g)
    repeated = [gs for gs in by_key.values() if len(gs) > 1]
    assert repeated
    for first, second in (sorted(gs, key=lambda g: opened(g[0]))[:2] for gs in repeated):
        assert opened(second[0]) - opened(first[-1]) > 2 * WITHIN
    texts = [text for _, text in by_key]
    assert any(texts.count(t) > 1 for t in texts)  # one alert, two clients
    for i in big.planted["duplicate_lookalike"]:
        mine = big.tickets[i]
        near = [g for g in bursts if g[0]["client_id"] == mine["client_id"]]
        assert any(abs(opened(g[0]) - opened(mine)) <= WITHIN for g in near)


def test_grouping_the_list_rows_served_over_http(sandbox_factory: Callable[..., Any]) -> None:
    """The sandbox started with ``duplicates`` serves the seeds in its open-ticket list, and
    grouping the rows it serves finds the planted sets."""
    sandbox: SandboxServer = sandbox_factory(duplicates=True, now=NOW)
    with authed(sandbox) as client:
        rows = client.get("/api/Tickets", params={"open_only": "true"}).json()["tickets"]
    assert found(rows, chained=False) == {k: sandbox.planted[k] for k in KINDS}
    assert all(row["parent_id"] == 0 and row["merged_into_id"] == 0 for row in rows)


def test_the_flag_of_the_sandbox_and_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """``halo-automate sandbox --duplicates`` seeds them and says how many; the demo passes
    its ``--duplicates`` to its sandbox."""
    seen: list[SandboxServer] = []

    def fake_serve(sandbox: SandboxServer, stop: threading.Event | None = None) -> None:
        seen.append(sandbox)
        sandbox.stop()

    monkeypatch.setattr(command, "serve_until_stopped", fake_serve)
    args = ["--port", "0", "--tickets", "600", "--rate-limit", "0", "--duplicates"]
    result = CliRunner().invoke(sandbox_command, args)
    assert result.exit_code == 0, result.output
    assert seen[0].options.duplicates
    assert "duplicates:    4 bursts (" in result.output
    plain = CliRunner().invoke(sandbox_command, args[:-1])
    assert not seen[1].options.duplicates and "duplicates:" not in plain.output

    class Stop(Exception):
        pass

    def no_sandbox(options: Any) -> None:
        seen.append(options)
        raise Stop

    monkeypatch.setattr(demo, "SandboxServer", no_sandbox)
    demo_args = ["--tickets", "600", "--duplicates"]
    assert isinstance(CliRunner().invoke(demo.demo_command, demo_args).exception, Stop)
    assert seen[-1].duplicates is True


def test_lookalikes_are_not_near_misses_of_the_grouping_key(big: SandboxState) -> None:
    """A look-alike's normalized summary is its own on its client (it differs in letters,
    not only digits, tags or case) and still starts with [Alert]."""
    alerts = [t for t in big.tickets.values() if ALERT.match(t["summary"])]
    for i in big.planted["duplicate_lookalike"]:
        mine = big.tickets[i]
        same = [
            t["id"]
            for t in alerts
            if t["client_id"] == mine["client_id"]
            and normalized(t["summary"]) == normalized(mine["summary"])
        ]
        assert same == [i], (mine["summary"], same)
