"""``halo-automate doctor``: a read-only first contact with the configured tenant.

The probing and the verdicts are :mod:`halo_automate.engine.doctor`'s; this command only loads
the playbooks, runs it, and shows the report as tables (or JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.errors import ExitCode

_STYLE = {"ok": "green", "info": "cyan", "warn": "yellow", "fail": "red",
          "allowed": "green", "denied": "red", "unverified": "yellow",
          "ready": "green", "needs permission": "red"}  # fmt: skip


def _mark(text: str) -> str:
    return f"[{_STYLE.get(text, 'white')}]{text}[/]"


@click.command("doctor")
@click.argument("playbooks", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--no-write-probes",
    is_flag=True,
    help="Do not send the write probes (bodies Halo refuses before applying); write "
    "permissions are then reported unverified.",
)
@instance_option
@with_context
def doctor(ctx: Context, playbooks: tuple[str, ...], as_json: bool, no_write_probes: bool) -> int:
    """Check the tenant (token, version, page cap, filters, lookups, permissions) of the
    instance (--instance, default: default_instance) for the playbooks allowed on it
    (default: the playbooks directory). Writes nothing; about 20 requests.

    Exits 0 when every playbook is ready, 3 when the token fails or a playbook needs a
    permission the API application lacks."""
    from halo_automate.core.instance_scope import allowed_on
    from halo_automate.core.playbook import load_playbooks
    from halo_automate.engine.doctor import diagnose

    folder = ctx.settings.playbooks_dir
    targets: list[str | Path] = list(playbooks) or ([folder] if folder.is_dir() else [])
    loaded, problems = load_playbooks(targets) if targets else ([], [])
    name, halo = ctx.settings.instance_name, ctx.settings.halo
    valid = [pb for pb in loaded if allowed_on(pb, name)]
    elsewhere = [pb.name for pb in loaded if not allowed_on(pb, name)]
    report = diagnose(halo, valid, problems=problems, write_probes=not no_write_probes)
    if as_json:
        doc = {"instance": name, "identity": halo.identity, **report.to_json(),
               "not_for_this_instance": elsewhere}  # fmt: skip
        click.echo(json.dumps(doc, indent=2))
    else:
        console = ctx.console
        console.print(
            f"Instance {name}: Halo at {report.base_url} ({halo.identity}), "
            f"{report.requests} requests, nothing written",
            highlight=False,
            markup=False,
        )
        facts = Table("check", "", "detail", title="Tenant")
        for check in report.checks:
            facts.add_row(check.name, _mark(check.status), check.detail)
        console.print(facts)
        access = Table("endpoint", "HTTP", "access", "permission", "detail", title="Endpoints")
        for e in report.endpoints:
            status = "-" if e.status is None else str(e.status)
            access.add_row(e.endpoint, status, _mark(e.access), e.permission, e.detail)
        if report.endpoints:
            console.print(access)
        verdicts = Table("playbook", "verdict", "what", title="Playbooks")
        for v in report.verdicts:
            what = "; ".join([*v.missing, *v.unverified, *v.notes])
            verdicts.add_row(v.playbook, _mark(v.verdict), what)
        console.print(verdicts)
        for other in elsewhere:
            console.print(f"not checked: {other} (its instances: do not include {name})",
                          highlight=False, markup=False)  # fmt: skip
        for problem in report.problems:
            console.print(f"[yellow]invalid playbook:[/] {problem}", highlight=False)
    return ExitCode.OK if report.healthy else ExitCode.UNREACHABLE
