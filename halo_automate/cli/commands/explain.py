"""``halo-automate explain PLAYBOOK TICKET_ID``: why a playbook would (or would not) change
one ticket.

One ticket read plus the lookup lists the playbook needs; the verdicts are
:func:`halo_automate.core.explain.explain`'s (pure), this command only renders them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from rich.markup import escape
from rich.table import Table

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.core.explain import Explanation, Line
from halo_automate.core.explain import explain as explain_ticket
from halo_automate.core.plan import needed_lookups
from halo_automate.errors import ConfigError, ExitCode, HaloNotFoundError

_STYLE = {"true": "green", "false": "red", "unknown": "yellow", "not checked": "cyan"}


@click.command("explain")
@click.argument("playbook")
@click.argument("ticket_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@instance_option
@with_context
def explain(ctx: Context, playbook: str, ticket_id: int, as_json: bool) -> ExitCode:
    """Explain PLAYBOOK on one ticket: each select filter and where condition with the
    ticket's value and its verdict (true / false / unknown), then the change the ticket would
    get, or why not. Reads the ticket and the lookups the playbook needs; writes nothing."""
    book = ctx.playbook(playbook)
    try:
        ticket = ctx.client.get_ticket(ticket_id)
    except HaloNotFoundError as e:
        raise ConfigError(f"no ticket {ticket_id} in Halo ({e})") from e
    lookups = ctx.client.lookups(sorted(needed_lookups(book) | {"statuses"}))
    found = explain_ticket(book, ticket, lookups, now=datetime.now(UTC))
    if as_json:
        click.echo(json.dumps(_to_json(found), indent=2))
        return ExitCode.OK
    console = ctx.console
    console.print(
        f"playbook [bold]{escape(found.playbook)}[/], ticket #{found.ticket_id}: "
        f"{escape(found.summary)}",
        highlight=False,
    )
    for title, lines in (("select", found.filters), ("where", found.conditions)):
        table = Table("condition", "ticket's value", "verdict", "why", title=title)
        for line in lines:
            style = _STYLE.get(line.verdict.value, "white")
            table.add_row(
                escape("  " * line.depth + line.label),
                escape(line.value),
                f"[{style}]{line.verdict.value}[/]",
                escape(line.why),
            )
        if lines:
            console.print(table)
    if found.change is None:
        console.print(f"[bold]no change:[/] {escape(found.why_not or '')}", highlight=False)
        return ExitCode.OK
    console.print("[bold]would change:[/]", highlight=False)
    for name, field in found.change.fields.items():
        console.print(
            f"  {name}: {field.before!r} → {field.after!r}", highlight=False, markup=False
        )
    for action in found.change.actions:
        console.print(f"  post {action.kind}: {dict(action.body)!r}", highlight=False, markup=False)
    return ExitCode.OK


def _to_json(found: Explanation) -> dict[str, object]:
    change = found.change
    return {
        "playbook": found.playbook,
        "ticket_id": found.ticket_id,
        "summary": found.summary,
        "filters": [_line(x) for x in found.filters],
        "conditions": [_line(x) for x in found.conditions],
        "change": None
        if change is None
        else {
            "fields": {k: {"before": v.before, "after": v.after} for k, v in change.fields.items()},
            "actions": [{"kind": a.kind, "body": dict(a.body)} for a in change.actions],
        },
        "why_not": found.why_not,
    }


def _line(line: Line) -> dict[str, object]:
    return {
        "condition": line.label,
        "value": line.value,
        "verdict": line.verdict.value,
        "why": line.why,
        "depth": line.depth,
    }
