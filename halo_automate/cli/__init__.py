"""Command line: parse arguments, print, map errors to exit codes. No business logic here.

Exit codes: 0 success; 2 invalid input (config, playbook, plan file); 3 Halo, auth or the
journal unreachable; 4 refused by a limit, a lock or the user (nothing written); 5 applied with
some tickets failed or skipped.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from halo_automate import __version__
from halo_automate.errors import ConfigError, HaloAutomateError

if TYPE_CHECKING:
    from halo_automate.core.lookups import Lookups
    from halo_automate.core.outcome import RunOutcome
    from halo_automate.core.plan import Plan
    from halo_automate.core.playbook import Playbook
    from halo_automate.engine.runner import Runner
    from halo_automate.halo.client import HaloClient
    from halo_automate.store.journal import Journal

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_INVALID = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_PARTIAL = 5


def config_option(func: F) -> F:
    """``--config PATH`` on every command (else $HALO_AUTOMATE_CONFIG, else ./config.yaml)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="Config file (default: $HALO_AUTOMATE_CONFIG, else ./config.yaml).",
    )(func)


def handle_errors(func: F) -> F:
    """Catch the project's base error once: one line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HaloAutomateError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="halo-automate")
def main() -> None:
    """halo-automate: reviewed, scheduled, reversible YAML playbooks for HaloPSA."""


# ---------------------------------------------------------------------------- context


def make_console() -> Console:
    """Rich output for people: the terminal's width on a terminal; off a terminal (a pipe, a
    file, CI) 160 columns, so tables stay readable instead of folding into 80."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


class Context:
    """Settings, client, journal and runner for one command (built lazily, closed once)."""

    def __init__(self, config_path: str | None) -> None:
        from halo_automate import logs
        from halo_automate.config import load_settings

        self.settings = load_settings(config_path)
        logs.configure()
        self.console = make_console()
        self._client: HaloClient | None = None
        self._journal: Journal | None = None

    @property
    def client(self) -> HaloClient:
        if self._client is None:
            from halo_automate.halo.client import HaloClient

            self._client = HaloClient(self.settings.halo)
        return self._client

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            from halo_automate.store.journal import Journal

            self._journal = Journal.open(self.settings.journal)
        return self._journal

    def runner(self, progress: bool = True) -> Runner:
        from halo_automate.engine.runner import Runner

        return Runner(self.client, self.journal, progress=self._progress() if progress else None)

    def _progress(self) -> Callable[[int, int], None] | None:
        """A progress bar on a terminal; None (structured log events) otherwise."""
        if not self.console.is_terminal:
            return None
        from rich.progress import Progress

        bar = Progress(console=self.console, transient=True)
        task = bar.add_task("applying", total=None)
        started = [False]

        def update(done: int, total: int) -> None:
            if not started[0]:
                bar.start()
                started[0] = True
            bar.update(task, completed=done, total=total)
            if done >= total:
                bar.stop()

        return update

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
        raise ConfigError(f"no playbook '{ref}' (not a file, nor a name in {folder})")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._journal is not None:
            self._journal.close()


def _render(ctx: Context, plan: Plan, lookups: Lookups | None = None) -> None:
    from halo_automate.cli.preview import render_plan

    halo = ctx.settings.halo
    render_plan(
        plan,
        ctx.console,
        lookups=lookups,
        batch_size=halo.batch_size,
        page_size=halo.page_size,
        rate_requests=halo.rate_limit.requests,
        rate_seconds=halo.rate_limit.per_seconds,
    )


def _confirmer(ctx: Context, yes: bool, lookups: Lookups | None = None) -> Callable[[Plan], bool]:
    """Show the preview, then decide: --yes, a terminal prompt, or refuse (no terminal)."""

    def confirm(plan: Plan) -> bool:
        _render(ctx, plan, lookups)
        if yes:
            return True
        if not sys.stdin.isatty():
            click.echo(
                "refusing to write: no terminal to confirm on; pass --yes to apply", err=True
            )
            return False
        return click.confirm(f"Apply these changes to {len(plan.changes)} tickets?", default=False)

    return confirm


def _report(ctx: Context, outcome: RunOutcome) -> int:
    """Print a run's summary and per-ticket problems (or the error that ended it); return the
    exit code."""
    if outcome.error is not None:
        click.echo(f"error: {outcome.message}", err=True)
        return outcome.exit_code
    c = ctx.console
    c.print(
        f"run {outcome.run_id} [{outcome.status}]: scanned {outcome.scanned}, matched "
        f"{outcome.matched}, changed {outcome.changed}, skipped {outcome.skipped}, failed "
        f"{outcome.failed}; {outcome.requests} requests in {outcome.seconds:.1f}s",
        highlight=False,
        markup=False,
    )
    for ticket_id, reason in outcome.skips:
        c.print(f"  skipped ticket {ticket_id}: {reason}", highlight=False, markup=False)
    for ticket_id, message in outcome.failures:
        c.print(f"  failed ticket {ticket_id}: {message}", highlight=False, markup=False)
    return outcome.exit_code


def _with_context(config_path: str | None, work: Callable[[Context], int | None]) -> None:
    ctx = Context(config_path)
    try:
        code = work(ctx)
    finally:
        ctx.close()
    sys.exit(code or 0)


# ---------------------------------------------------------------------------- commands


@main.command()
@click.argument("playbooks", nargs=-1, type=click.Path())
@config_option
@handle_errors
def validate(playbooks: tuple[str, ...], config_path: str | None) -> None:
    """Check playbooks (default: the playbooks directory); exit 2 if any is invalid."""
    from halo_automate.config import find_config, load_settings
    from halo_automate.core.playbook import load_playbooks

    if playbooks:
        targets: list[str | Path] = list(playbooks)
    else:
        cfg = find_config(config_path)
        targets = [load_settings(cfg).playbooks_dir if cfg.exists() else Path("playbooks")]
    valid, problems = load_playbooks(targets)
    for problem in problems:
        click.echo(problem)
    click.echo(f"{len(valid)} valid, {len(problems)} problem(s)", err=True)
    sys.exit(EXIT_INVALID if problems else EXIT_OK)


@main.command()
@click.argument("playbook")
@click.option("--json", "as_json", is_flag=True, help="Print the plan document as JSON.")
@click.option("--out", type=click.Path(dir_okay=False), help="Save the plan for `apply`.")
@config_option
@handle_errors
def plan(playbook: str, as_json: bool, out: str | None, config_path: str | None) -> None:
    """Fetch, match and show what PLAYBOOK would change. Writes nothing."""

    def work(ctx: Context) -> int:
        from halo_automate.core.plan import plan_to_json

        pb = ctx.playbook(playbook)
        runner = ctx.runner(progress=False)
        the_plan = runner.plan(pb)
        text = plan_to_json(the_plan)
        if out:
            Path(out).write_text(text + "\n", encoding="utf-8")
        if as_json:
            click.echo(text)
        else:
            _render(ctx, the_plan, runner.lookups_for(pb))
            if out:
                ctx.console.print(f"plan saved to {out}; apply it with: halo-automate apply {out}")
        return EXIT_OK

    _with_context(config_path, work)


@main.command()
@click.argument("playbook")
@click.option("--dry-run", is_flag=True, help="Show the preview and stop.")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@config_option
@handle_errors
def run(playbook: str, dry_run: bool, yes: bool, config_path: str | None) -> None:
    """Plan PLAYBOOK, show the preview, ask, and apply."""

    def work(ctx: Context) -> int:
        pb = ctx.playbook(playbook)
        runner = ctx.runner()
        lookups = runner.lookups_for(pb)
        if dry_run:
            _render(ctx, runner.plan(pb), lookups)
            return EXIT_OK
        outcome = runner.run(pb, trigger="cli", confirm=_confirmer(ctx, yes, lookups))
        return _report(ctx, outcome)

    _with_context(config_path, work)


@main.command()
@click.argument("planfile", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Apply without asking.")
@config_option
@handle_errors
def apply(planfile: str, yes: bool, config_path: str | None) -> None:
    """Execute a saved plan exactly, nothing more."""

    def work(ctx: Context) -> int:
        from halo_automate.core.plan import plan_from_json

        saved = plan_from_json(Path(planfile).read_text(encoding="utf-8"))
        outcome = ctx.runner().apply_saved(saved, confirm=_confirmer(ctx, yes))
        return _report(ctx, outcome)

    _with_context(config_path, work)


@main.command()
@click.argument("run_id")
@click.option("--dry-run", is_flag=True, help="Show what the undo would do and stop.")
@click.option("--yes", is_flag=True, help="Undo without asking.")
@config_option
@handle_errors
def undo(run_id: str, dry_run: bool, yes: bool, config_path: str | None) -> None:
    """Put back what run RUN_ID changed (previewed, confirmed and journaled like a run)."""

    def work(ctx: Context) -> int:
        from halo_automate.engine.undo import build_undo_plan, category_levels, undo_warnings

        runner = ctx.runner()
        undo_plan = build_undo_plan(ctx.journal, run_id, now=runner.now())
        levels = category_levels(undo_plan)
        if levels:
            lookups = ctx.client.lookups([f"category_{n}" for n in levels])
            for warning in undo_warnings(undo_plan, lookups):
                click.echo(f"warning: {warning}", err=True)
        if dry_run:
            _render(ctx, undo_plan)
            return EXIT_OK
        outcome = runner.apply_saved(undo_plan, confirm=_confirmer(ctx, yes))
        return _report(ctx, outcome)

    _with_context(config_path, work)


@main.command()
@click.option("--playbook", default=None, help="Only runs of this playbook.")
@config_option
@handle_errors
def recover(playbook: str | None, config_path: str | None) -> None:
    """Reconcile runs interrupted mid-apply by reading the tickets back."""

    def work(ctx: Context) -> int:
        outcomes = ctx.runner(progress=False).recover(playbook)
        if not outcomes:
            ctx.console.print("nothing to recover")
        codes = [_report(ctx, o) for o in outcomes]
        return max(codes, default=EXIT_OK)

    _with_context(config_path, work)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print runs as JSON.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(min=1))
@click.option("--playbook", default=None, help="Only runs of this playbook.")
@config_option
@handle_errors
def history(as_json: bool, limit: int, playbook: str | None, config_path: str | None) -> None:
    """List recent runs, newest first."""

    def work(ctx: Context) -> int:
        from halo_automate.cli.report import history_json, history_table

        runs = ctx.journal.runs(limit=limit, playbook=playbook)
        if as_json:
            click.echo(history_json(runs))
        else:
            ctx.console.print(history_table(runs))
        return EXIT_OK

    _with_context(config_path, work)


@main.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run and its changes as JSON.")
@config_option
@handle_errors
def show(run_id: str, as_json: bool, config_path: str | None) -> None:
    """Show one run and every change it made (or, for a preview, would have made)."""

    def work(ctx: Context) -> int:
        from halo_automate.cli.report import run_json, show_run

        run_row = ctx.journal.get_run(run_id)
        rows = ctx.journal.changes(run_id)
        if as_json:
            click.echo(run_json(run_row, rows))
        else:
            show_run(ctx.console, run_row, rows)
        return EXIT_OK

    _with_context(config_path, work)


@main.command()
@click.option("--once", is_flag=True, help="Run every scheduled playbook once now and exit.")
@config_option
@handle_errors
def daemon(once: bool, config_path: str | None) -> None:
    """Run scheduled playbooks until SIGTERM/SIGINT (SIGHUP reloads playbooks).

    Exits 0 after a clean stop, 5 when a run was still in flight at the stop timeout (its
    pending journal rows are reconciled on the next start or by `recover`). With --once: the
    highest exit code of the runs, and at least 2 if a playbook file is invalid.
    """
    import os

    from halo_automate.service.daemon import Daemon

    ctx = Context(config_path)
    service: Daemon | None = None
    try:
        service = Daemon(ctx.settings, ctx.runner(progress=False))
        code = service.run_once() if once else service.serve()
    finally:
        if service is None or not service.abandoned:
            ctx.close()
    if service.abandoned:
        # A run is still in flight: do not wait for it (nor close what it uses); everything it
        # wrote is journaled, and what it was sending is pending for recovery.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _register() -> None:
    from halo_automate.demo import demo_command
    from halo_automate.sandbox.command import sandbox_command

    main.add_command(sandbox_command)
    main.add_command(demo_command)


_register()
