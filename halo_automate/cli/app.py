"""The ``halo-automate`` command group and its one registry of commands.

Every command is registered here, once, by the dotted path of its click command, and is
imported only when it runs (or when ``--help`` lists it). So ``import halo_automate.cli`` loads
click and this module only, and running one command loads that command's layers and nothing
else: the sandbox and the demo, which sit beside the runtime, load only for their own commands.
Adding a command is one module (``cli/commands/<name>.py``) plus its line in :data:`COMMANDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

from halo_automate import __version__
from halo_automate.errors import ExitCode

COMMANDS: Mapping[str, str] = {
    "validate": "halo_automate.cli.commands.validate:validate",
    "plan": "halo_automate.cli.commands.plan:plan",
    "run": "halo_automate.cli.commands.run:run",
    "apply": "halo_automate.cli.commands.apply:apply",
    "undo": "halo_automate.cli.commands.undo:undo",
    "recover": "halo_automate.cli.commands.recover:recover",
    "abandon": "halo_automate.cli.commands.abandon:abandon",
    "prune": "halo_automate.cli.commands.prune:prune",
    "history": "halo_automate.cli.commands.history:history",
    "show": "halo_automate.cli.commands.show:show",
    "test": "halo_automate.cli.commands.test:test",
    "doctor": "halo_automate.cli.commands.doctor:doctor",
    "lookups": "halo_automate.cli.commands.lookups:lookups",
    "explain": "halo_automate.cli.commands.explain:explain",
    "daemon": "halo_automate.cli.commands.daemon:daemon",
    "approvals": "halo_automate.cli.commands.approvals:approvals",
    "approve": "halo_automate.cli.commands.approve:approve",
    "reject": "halo_automate.cli.commands.reject:reject",
    "resume": "halo_automate.cli.commands.resume:resume",
    "web": "halo_automate.cli.commands.web:web",
    "hash-password": "halo_automate.cli.commands.hash_password:hash_password",
    "sandbox": "halo_automate.sandbox.command:sandbox_command",
    "demo": "halo_automate.demo:demo_command",
}
"""Command name -> ``module:attribute`` of its :class:`click.Command`."""


def load_command(path: str) -> click.Command:
    """Import the click command at ``module:attribute``."""
    module_name, _, attribute = path.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{path} is not a click command")
    return command


class LazyGroup(click.Group):
    """A click group whose commands are named by dotted path and imported on first use."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.add_command(load_command(self.lazy_commands[cmd_name]), cmd_name)
        return super().get_command(ctx, cmd_name)


def exit_codes_help() -> str:
    """The exit codes, from :class:`ExitCode`, as a block ``--help`` prints unwrapped."""
    rows = "\n".join(f"  {code.value}  {code.meaning}" for code in ExitCode)
    return f"Exit codes:\n\n\b\n{rows}"


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=exit_codes_help(),
)
@click.version_option(__version__, prog_name="halo-automate")
def main() -> None:
    """halo-automate: reviewed, scheduled, reversible YAML playbooks for HaloPSA."""
