"""``halo-automate record PLAYBOOK --out FILE``: a test fixture skeleton from a live Halo.

Reads the lookup lists the playbook needs and the tickets it would scan (the first
``--limit`` of them, in id order) or the ``--ids`` given, and writes a fixture whose
expectation is the current plan (:mod:`halo_automate.core.fixture_record`), for a person to
review. It says what the reads will cost before making them, refuses to overwrite a file
without ``--force``, and never writes to Halo. ``--anonymize`` replaces names, e-mail local
parts and free text consistently (:mod:`halo_automate.core.anonymize`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import click

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.cli.files import check_write_target, write_file_atomically
from halo_automate.core.anonymize import Pseudonymizer, words_of
from halo_automate.core.fixture_record import record as record_fixture
from halo_automate.core.plan import needed_lookups
from halo_automate.core.selection import build_query
from halo_automate.errors import ConfigError, ExitCode, FixtureError, PlanError
from halo_automate.halo.client import check_ticket_query
from halo_automate.halo.scan import first_tickets

MAX_PAGE = 100
"""Tickets per ``ticketids`` read (the client's chunk)."""


def _ids(_: click.Context, __: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        ids = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected ticket ids like 1,2,3") from None
    if not ids or any(i < 1 for i in ids):
        raise click.BadParameter(f"{value!r}: expected ticket ids like 1,2,3")
    return list(dict.fromkeys(ids))


@click.command("record")
@click.argument("playbook")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The fixture file to write (e.g. playbooks/tests/NAME.test.yaml).",
)
@click.option("--ids", callback=_ids, help="Record these tickets (1,2,3) instead of a scan.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Record at most this many of the tickets the playbook scans.",
)
@click.option(
    "--anonymize",
    is_flag=True,
    help="Replace names, e-mail local parts and free text (domains are kept).",
)
@click.option("--force", is_flag=True, help="Overwrite FILE when it exists.")
@instance_option
@with_context
def record(
    ctx: Context, playbook: str, out: str, ids: list[int] | None, limit: int,
    anonymize: bool, force: bool,
) -> ExitCode:  # fmt: skip
    """Write a test fixture for PLAYBOOK from the live instance: the tickets it would scan
    (or --ids), the lookup lists it uses, and the current plan as the expectation, for you
    to review. Prints the request cost first; reads only, never writes to Halo."""
    book = ctx.playbook(playbook)
    target = Path(out)
    if target.exists() and not force:
        raise FixtureError([f"{target}: exists; pass --force to overwrite it"])
    check_write_target(target, PlanError)
    halo = ctx.settings.halo
    kinds = sorted(needed_lookups(book) | {"statuses"})
    pages = math.ceil(len(ids) / MAX_PAGE) if ids else math.ceil(limit / halo.page_size)
    what = f"{len(ids)} ticket(s) by id" if ids else f"up to {limit} scanned ticket(s)"
    ctx.console.print(
        f"record {book.name}: {what} from {ctx.settings.instance_name} ({halo.host}); "
        f"at most {1 + len(kinds) + pages} request(s) (1 token, {len(kinds)} lookup list(s), "
        f"{pages} ticket page(s)) of {halo.rate_limit.requests} per "
        f"{halo.rate_limit.per_seconds:g}s",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    client = ctx.client
    lookups = client.lookups(kinds)
    if ids:
        tickets = list(client.tickets_by_ids(ids))
        missing = sorted(set(ids) - {int(t["id"]) for t in tickets})
        if missing:
            raise ConfigError(f"no ticket {', '.join(map(str, missing))} in Halo")
    else:
        query = build_query(book.select, lookups)
        check_ticket_query(query)
        tickets = first_tickets(client, query, limit)
    source = Path(book.path).read_text(encoding="utf-8")
    pseudonyms = Pseudonymizer(words_of(source)) if anonymize else None
    found = record_fixture(
        book, tickets, lookups, now=datetime.now(UTC), out=target,
        source=f"{ctx.settings.instance_name} ({halo.host})", anonymize=pseudonyms,
    )  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(target, found.text, PlanError)
    console = ctx.console
    console.print(
        f"wrote {target}: {found.tickets} ticket(s), {found.changes} expected change(s); "
        f"{client.stats.requests} request(s). Review it, then: halo-automate test {target}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if found.full_rows:
        console.print(
            f"kept whole rows for ticket(s) {', '.join(map(str, found.full_rows))}: "
            "trimmed, they planned differently",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if anonymize:
        console.print(f"anonymised {found.replaced_words} distinct word(s)", highlight=False)
    if found.differs_after_anonymizing:
        console.print(
            "warning: anonymised, ticket(s) "
            f"{', '.join(map(str, found.differs_after_anonymizing))} plan differently from "
            "the live tickets; their expectation follows the anonymised rows",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    return ExitCode.OK
