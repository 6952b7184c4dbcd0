"""``halo-automate validate``: check playbook files without Halo or the journal."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from halo_automate.cli.context import config_option
from halo_automate.cli.exits import handle_errors
from halo_automate.config import find_config, load_settings
from halo_automate.core.playbook import load_playbooks
from halo_automate.errors import ExitCode


@click.command("validate")
@click.argument("playbooks", nargs=-1, type=click.Path())
@config_option
@handle_errors
def validate(playbooks: tuple[str, ...], config_path: str | None) -> None:
    """Check playbooks (default: the playbooks directory); exit 2 if any is invalid."""
    if playbooks:
        targets: list[str | Path] = list(playbooks)
    else:
        cfg = find_config(config_path)
        targets = [load_settings(cfg).playbooks_dir if cfg.exists() else Path("playbooks")]
    valid, problems = load_playbooks(targets)
    for problem in problems:
        click.echo(problem)
    click.echo(f"{len(valid)} valid, {len(problems)} problem(s)", err=True)
    sys.exit(ExitCode.INVALID if problems else ExitCode.OK)
