"""``halo-automate lookups KIND``: one of Halo's lookup lists, with ids, as a table or JSON.

The kinds are the rows of the schema registry (:data:`~halo_automate.core.schema.LOOKUP_KINDS`:
statuses, category_1..4, ticket_types, teams, agents, priorities, outcomes, clients), fetched
by the client as planning fetches them, so what this lists is what a playbook's names resolve
against. A priority shows the SLAs it is listed in (Halo keeps one Policy row per SLA). An
unknown kind lists the kinds, with a did-you-mean. Errors about an unknown name point here.
"""

from __future__ import annotations

import json

import click
from rich.table import Table

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.core.schema import LOOKUP_KINDS
from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import ConfigError, ExitCode


@click.command("lookups")
@click.argument("kind")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@instance_option
@with_context
def lookups(ctx: Context, kind: str, as_json: bool) -> ExitCode:
    """List one of Halo's lookup lists with ids: statuses, agents, teams, priorities (with
    their SLAs), category_1..category_4, ticket_types, outcomes, clients. One read."""
    row = LOOKUP_KINDS.get(kind)
    if row is None:
        raise ConfigError(
            f"unknown lookup kind {kind!r}{did_you_mean(kind, LOOKUP_KINDS)}; "
            f"kinds: {', '.join(LOOKUP_KINDS)}"
        )
    table = ctx.client.lookups([kind]).table(kind)
    scoped = row.scope_key is not None
    items = sorted(table.items, key=lambda i: i.id)
    if as_json:
        out = []
        for item in items:
            entry: dict[str, object] = {"id": item.id, "name": item.name}
            if scoped:
                entry[row.scope_label.lower() or "scopes"] = list(table.scopes_of(item.id))
            out.append(entry)
        click.echo(json.dumps({"kind": kind, "items": out}, indent=2))
        return ExitCode.OK
    headers = ["id", "name", *([row.scope_label or "scopes"] if scoped else [])]
    shown = Table(*headers, title=f"{kind} ({len(items)})")
    for item in items:
        shown.add_row(
            str(item.id), item.name, *([", ".join(table.scopes_of(item.id))] if scoped else [])
        )
    ctx.console.print(shown)
    return ExitCode.OK
