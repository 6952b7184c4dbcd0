"""``halo-automate validate``: check playbook files without Halo or the journal."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from halo_automate.cli.context import config_option, instance_option
from halo_automate.cli.exits import handle_errors
from halo_automate.config import Settings, find_config, load_settings
from halo_automate.core.instance_scope import allowed_on, unknown_instances
from halo_automate.core.lint import Budget, lint
from halo_automate.core.playbook import Playbook, load_playbooks
from halo_automate.errors import ExitCode, HaloAutomateError


@click.command("validate")
@click.argument("playbooks", nargs=-1, type=click.Path())
@click.option(
    "--online",
    is_flag=True,
    help="Also ask Halo (the configured tenant) whether the API application may use every "
    "endpoint the playbooks need; writes nothing.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Treat lint warnings (see docs/playbooks.md, 'Lint') as errors: exit 2.",
)
@instance_option(help_text="With --online: the config's Halo instance to ask.")
@config_option
@handle_errors
def validate(
    playbooks: tuple[str, ...],
    online: bool,
    strict: bool,
    config_path: str | None,
    instance: str | None = None,
) -> None:
    """Check playbooks (default: the playbooks directory); exit 2 if any is invalid (or, with
    --strict, has a lint warning), and with --online 3 if one needs a permission the API
    application lacks. A playbook's instances: naming no instance of the config (when there
    is a usable config) is a warning."""
    if playbooks:
        targets: list[str | Path] = list(playbooks)
    else:
        cfg = find_config(config_path)
        targets = [load_settings(cfg).playbooks_dir if cfg.exists() else Path("playbooks")]
    valid, problems = load_playbooks(targets)
    for problem in problems:
        click.echo(problem)
    settings = _settings(config_path)
    if settings is not None:
        settings = settings.select_instance(instance)  # an unknown --instance is exit 2
    warnings = lint(valid, _budget(settings))
    if settings is not None:
        warnings += unknown_instances(valid, settings.instances)
    for warning in warnings:
        click.echo(str(warning))
    for line in _schedule_costs(valid, config_path):
        click.echo(line)
    click.echo(
        f"{len(valid)} valid, {len(problems)} problem(s), {len(warnings)} warning(s)", err=True
    )
    if problems or (strict and warnings):
        sys.exit(ExitCode.INVALID)
    if online:
        from halo_automate import logs
        from halo_automate.engine.doctor import check_access

        logs.configure()
        chosen = load_settings(config_path).select_instance(instance)
        here = [pb for pb in valid if allowed_on(pb, chosen.instance_name)]
        verdicts = check_access(chosen.halo, here)
        paths = {pb.name: pb.path for pb in valid}
        for v in verdicts:
            if v.verdict != "ready":
                click.echo(f"{paths[v.playbook]}: {v.playbook}: {v.text()}")
        lacking = sum(1 for v in verdicts if v.missing)
        click.echo(f"online: {len(verdicts) - lacking} permitted, {lacking} lacking a "
                   f"permission (instance {chosen.instance_name})", err=True)  # fmt: skip
        sys.exit(ExitCode.UNREACHABLE if lacking else ExitCode.OK)
    sys.exit(ExitCode.OK)


def _settings(config_path: str | None) -> Settings | None:
    """The config, or None when there is no usable one (validate needs neither Halo nor its
    secret)."""
    cfg = find_config(config_path)
    if not cfg.exists():
        return None
    try:
        return load_settings(cfg)
    except HaloAutomateError:
        return None


def _budget(settings: Settings | None) -> Budget:
    """The selected instance's rate limit and page size, or the defaults without a usable
    config."""
    if settings is None:
        return Budget()
    halo = settings.halo
    limit = halo.rate_limit
    return Budget(requests=limit.requests, per_seconds=limit.per_seconds, page_size=halo.page_size)


def _schedule_costs(playbooks: list[Playbook], config_path: str | None) -> list[str]:
    """The schedules' estimated requests per hour, when they pass the config's
    ``reads.budget_warn_share`` of the instance's budget (from the journal's recent runs
    when there is a journal; it is never created here)."""
    from halo_automate.service.budget import estimate
    from halo_automate.store.journal import Journal

    cfg = find_config(config_path)
    try:
        settings = load_settings(cfg) if cfg.exists() else None
    except HaloAutomateError:
        settings = None
    if settings is None:
        return []
    try:
        journal = Journal.open(settings.journal) if settings.journal.exists() else None
    except HaloAutomateError:  # an unreadable journal: estimate from the ticket count
        journal = None
    try:
        found = estimate(
            playbooks, instance=settings.instance_name, limit=settings.halo.rate_limit,
            warn_share=settings.reads.budget_warn_share, journal=journal,
        )  # fmt: skip
    finally:
        if journal is not None:
            journal.close()
    return [f"warning: {found.summary()}", *found.lines()[:-1]] if found.over else []
