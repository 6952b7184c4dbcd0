"""What one command works with: its settings, Halo client, journal and runner, built lazily
from ``--config`` (and ``--instance``) and closed once when the command ends.

:func:`with_context` is how a command gets one: it adds ``--config``, builds the
:class:`Context`, passes it to the command, closes it, and exits with the code the command
returns (errors go through :func:`~halo_automate.cli.exits.handle_errors`). A command that
talks to Halo also takes :func:`instance_option` (``--instance NAME``): the one place the name
is resolved is ``Settings.select_instance`` (an unknown name is exit 2 with a did-you-mean),
so ``ctx.settings.halo`` and ``ctx.client`` are the selected instance's. The heavy layers
(client, journal, engine) are imported only when a command first asks for them, so
``history`` never loads the HTTP client.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click

from halo_automate.cli.console import (
    ask,
    log_stream,
    make_console,
    progress_bar,
    wait_countdown,
)
from halo_automate.cli.effect import effect_sentence
from halo_automate.cli.exits import handle_errors
from halo_automate.cli.preview import render_plan
from halo_automate.errors import ConfigError
from halo_automate.sanitize import clean_text

if TYPE_CHECKING:
    from halo_automate.core.lookups import Lookups
    from halo_automate.core.plan import Plan
    from halo_automate.core.playbook import Playbook
    from halo_automate.engine.runner import Runner
    from halo_automate.halo.client import HaloClient
    from halo_automate.store.budget import JournalWindow
    from halo_automate.store.journal import Journal

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    """``--config PATH`` on every command (else $HALO_AUTOMATE_CONFIG, else ./config.yaml)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="Config file (default: $HALO_AUTOMATE_CONFIG, else ./config.yaml).",
    )(func)


@overload
def instance_option(func: F, *, help_text: str | None = None) -> F: ...
@overload
def instance_option(func: None = None, *, help_text: str | None = None) -> Callable[[F], F]: ...
def instance_option(func: F | None = None, *, help_text: str | None = None) -> Any:
    """``--instance NAME``: the Halo instance of the config to talk to (default: its
    ``default_instance``). Put it above :func:`with_context`, which resolves it;
    ``@instance_option(help_text=...)`` words its help for a command that uses it otherwise."""

    def decorate(f: F) -> F:
        return click.option(
            "--instance",
            "instance",
            metavar="NAME",
            default=None,
            help=help_text or "The config's Halo instance to talk to (default: default_instance).",
        )(f)

    return decorate if func is None else decorate(func)


class Context:
    """Settings, client, journal and runner for one command (built lazily, closed once).

    ``instance`` is the ``--instance`` given (None: the config's default instance);
    ``settings`` has that instance selected."""

    def __init__(self, config_path: str | None, instance: str | None = None) -> None:
        from halo_automate import logs
        from halo_automate.config import load_settings

        self.instance = instance
        self.settings = load_settings(config_path).select_instance(instance)
        self.console = make_console()
        logs.configure(stream=log_stream(self.console))
        self._client: HaloClient | None = None
        self._journal: Journal | None = None
        self._window: JournalWindow | None = None
        self.countdown = True
        """Show long waits for the request budget as a countdown on a terminal (not the daemon)."""

    @property
    def client(self) -> HaloClient:
        if self._client is None:
            from halo_automate.halo.client import HaloClient
            from halo_automate.halo.ratelimit import RequestBudget
            from halo_automate.store.budget import JournalWindow

            # One budget per instance across every process: its window lives in the journal.
            self._window = JournalWindow.open(self.journal.path)
            budget = RequestBudget.for_instance(
                self.settings.halo,
                window=self._window,
                on_wait=wait_countdown(self.console) if self.countdown else None,
            )
            self._client = HaloClient(
                self.settings.halo, budget=budget, instance_name=self.settings.instance_name
            )
        return self._client

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            from halo_automate.store.journal import Journal

            self._journal = Journal.open(self.settings.journal)
        return self._journal

    def runner(self, progress: bool = True) -> Runner:
        from halo_automate.engine.runner import Runner

        bar = progress_bar(self.console) if progress else None
        return Runner(self.client, self.journal, progress=bar, reads=self.settings.reads)

    def allowed_playbook(self, ref: str) -> Playbook:
        """:meth:`playbook`, refused (exit 2, before any request) when its ``instances:``
        does not allow the selected instance."""
        from halo_automate.core.instance_scope import check_allowed

        found = self.playbook(ref)
        check_allowed(found, self.settings.instance_name)
        return found

    def playbook(self, ref: str) -> Playbook:
        """A playbook by path, or by name/file stem in playbooks_dir."""
        from halo_automate.core.playbook import load_playbook, load_playbooks

        path = Path(ref)
        if path.suffix in (".yaml", ".yml") or path.exists():
            return load_playbook(path)
        folder = self.settings.playbooks_dir
        for candidate in (folder / f"{ref}.yaml", folder / f"{ref}.yml"):
            if candidate.exists():
                return load_playbook(candidate)
        found, _ = load_playbooks(folder) if folder.is_dir() else ([], [])
        for playbook in found:
            if playbook.name == ref:
                return playbook
        from halo_automate.core.suggest import closest_hint

        names = {p.name for p in found} | {Path(p.path).stem for p in found}
        raise ConfigError(
            f"no playbook '{ref}' (not a file, nor a name in {folder})"
            f"{closest_hint(ref, sorted(names))}"
        )

    def render(self, plan: Plan, lookups: Lookups | None = None) -> None:
        """The preview of ``plan`` (first the instance it was made for), with what applying it
        costs under these settings."""
        halo = self.settings.halo
        identity = plan.instance_identity or "identity not recorded"
        self.console.print(
            clean_text(f"{plan.playbook} on instance {plan.instance} ({identity})"),
            highlight=False,
            markup=False,
        )
        budget = self.client.budget  # shared by every process: estimated at it as it is now
        render_plan(
            plan,
            self.console,
            lookups=lookups,
            batch_size=halo.batch_size,
            page_size=halo.page_size,
            rate_requests=budget.requests,
            rate_seconds=budget.per_seconds,
            budget_now=budget.now(),
        )

    def warned(self, plan: Plan) -> Plan:
        """``plan`` with the warnings of what Halo will refuse (closes lacking a ticket type's
        mandatory fields, where readable), checked now: one read of the closing tickets and
        one per ticket type (:mod:`halo_automate.engine.closing`). A saved plan's warnings
        are replaced by today's."""
        import dataclasses

        from halo_automate.engine.closing import close_warnings

        return dataclasses.replace(plan, warnings=tuple(close_warnings(self.client, plan)))

    def confirmer(self, yes: bool, lookups: Lookups | None = None) -> Callable[[Plan], bool]:
        """The runner's ``confirm``: show the preview, then ask (or take ``--yes``)."""

        def confirm(plan: Plan) -> bool:
            self.render(self.warned(plan), lookups)
            return ask(
                f"On {self.settings.instance_name} ({self.settings.halo.host}): "
                f"{effect_sentence(plan)}. Apply?",
                yes=yes,
            )

        return confirm

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._window is not None:
            self._window.close()
        if self._journal is not None:
            self._journal.close()


def with_context(command: Callable[..., int]) -> Callable[..., None]:
    """Make ``command(ctx, **options) -> exit code`` a click callback: ``--config`` (and
    ``--instance``, when :func:`instance_option` is above) builds the :class:`Context`, which
    is closed when the command returns or raises."""

    @config_option
    @handle_errors
    @functools.wraps(command)
    def callback(*args: Any, config_path: str | None, **kwargs: Any) -> None:
        ctx = Context(config_path, kwargs.pop("instance", None))
        try:
            code = command(ctx, *args, **kwargs)
        finally:
            ctx.close()
        sys.exit(code)

    return callback
