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
    "record": "halo_automate.cli.commands.record:record",
    "doctor": "halo_automate.cli.commands.doctor:doctor",
    "lookups": "halo_automate.cli.commands.lookups:lookups",
    "explain": "halo_automate.cli.commands.explain:explain",
    "daemon": "halo_automate.cli.commands.daemon:daemon",
    "sandbox": "halo_automate.sandbox.command:sandbox_command",
    "demo": "halo_automate.demo:demo_command",
}
"""Command name -> ``module:attribute`` of its :class:`click.Command`."""

SUMMARIES: Mapping[str, str] = {
    "validate": "Check playbooks: every problem with file:line, lint warnings",
    "plan": "Show what a playbook would change now; writes nothing",
    "run": "Plan, preview, confirm and apply a playbook",
    "apply": "Apply a saved plan file exactly",
    "undo": "Put back what a run changed (previewed and confirmed)",
    "recover": "Reconcile runs interrupted mid-apply",
    "abandon": "Give up a run recovery cannot finish (who and why journaled)",
    "prune": "Delete old runs' change rows and plans; keep the run rows",
    "history": "List recent runs, newest first",
    "show": "Show one run and every change it made",
    "test": "Run playbook test fixtures (no Halo, no network)",
    "record": "Write a test fixture from live tickets (reads only)",
    "doctor": "Check the tenant: token, version, paging, filters, permissions",
    "lookups": "List one of Halo's lookup lists with ids",
    "explain": "Why a playbook would (or would not) change one ticket",
    "daemon": "Run scheduled playbooks as a service (SIGHUP reloads them)",
    "sandbox": "Serve a local sandbox Halo to try things against",
    "demo": "Walk through halo-automate on an embedded sandbox Halo",
}
"""Command name -> the one line the top-level ``--help`` lists (never truncated); a command
missing here is listed with its docstring's first sentence, whole."""


def load_command(path: str) -> click.Command:
    """Import the click command at ``module:attribute``."""
    module_name, _, attribute = path.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{path} is not a click command")
    return command


GLOBAL_OPTIONS = ("--config", "--instance")
"""Options that may come before the subcommand as well as after it (as in git or kubectl):
``halo-automate --config X validate`` is ``halo-automate validate --config X``."""


def _leading_globals(args: list[str]) -> int:
    """How many leading arguments are global options with their values (0: none, or
    something else leads: --help, --version, an unknown option, a value missing)."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name = args[i].split("=", 1)[0]
        if name not in GLOBAL_OPTIONS:
            return 0
        i += 1 if "=" in args[i] else 2
    return i if i < len(args) else 0


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the global options found before the subcommand to just after it (each command
    owns its options; this only lets people write them first)."""
    n = _leading_globals(args)
    return [args[n], *args[:n], *args[n + 1 :]] if n else args


class LazyGroup(click.Group):
    """A click group whose commands are named by dotted path and imported on first use."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        n = _leading_globals(args)
        command = self.get_command(ctx, args[n]) if n else None
        if command is not None:
            accepted = {opt for param in command.params for opt in getattr(param, "opts", ())}
            for arg in args[:n]:
                name = arg.split("=", 1)[0]
                if name.startswith("--") and name not in accepted:
                    raise click.UsageError(f"'{args[n]}' takes no {name}", ctx)
        return super().parse_args(ctx, hoist_global_options(args))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, each with its whole summary (click cuts them at ~45 characters,
        which left "SIGHUP reloads..." on the daemon's line)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, SUMMARIES.get(name) or command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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
