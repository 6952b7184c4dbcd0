"""``halo-automate web``: serve the web console alone (the daemon serves it when ``web:``
is set)."""

from __future__ import annotations

import threading

import click

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.errors import ConfigError, ExitCode
from halo_automate.service.signals import install_handlers
from halo_automate.web.server import serve_console


@click.command("web")
@instance_option(help_text="The instance it applies and undoes on (default: default_instance).")
@with_context
def web(ctx: Context) -> ExitCode:
    """Serve the web console of the config's web: section until SIGTERM/SIGINT.

    Without the Halo secret in the environment the console still shows everything, but cannot
    apply an approved plan or an undo. It writes to one instance (--instance): another
    instance's plans are refused, naming it.
    """
    if ctx.settings.web is None:
        raise ConfigError("the config has no web: section (see docs/web-console.md)")
    runner, problem = None, None
    try:
        ctx.settings.halo.check_secret()
        runner = ctx.runner(progress=False)
    except ConfigError as e:
        problem = str(e)
        click.echo(f"warning: {problem}; the console cannot write to Halo", err=True)
    stop = threading.Event()
    restore = install_handlers(stop.set, lambda: None)
    server = serve_console(ctx.settings, ctx.journal, runner, halo_problem=problem)
    click.echo(f"halo-automate web console: {server.url} (SIGTERM or Ctrl-C stops it)", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.close()
        if restore is not None:
            restore()
    return ExitCode.OK
