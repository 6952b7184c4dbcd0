"""``halo-automate sandbox``: serve the sandbox Halo until Ctrl-C or SIGTERM."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from halo_automate.core.addresses import is_loopback
from halo_automate.sandbox.duplicates import duplicates_line
from halo_automate.sandbox.permissions import parse_rule
from halo_automate.sandbox.server import SandboxOptions, SandboxServer

_RATE = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DEFAULT_WINDOW = 300.0


def parse_duration(text: str) -> float:
    """``"50ms"``, ``"1s"``, ``"5m"``, ``"0"`` (a bare number is seconds) -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (try 50ms, 1s, 5m)")
    return float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]


def parse_rate_limit(text: str) -> tuple[int, float]:
    """``"300/300s"``, ``"300/5m"``, ``"300"`` (per 5 minutes), ``"0"``/``"off"`` -> off."""
    if text.strip().lower() in ("off", "none"):
        return 0, DEFAULT_WINDOW
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"not a rate limit: {text!r} (try 300/300s, 300/5m or 0)")
    requests = int(match.group(1))
    if match.group(2) is None:
        return requests, DEFAULT_WINDOW
    window = float(match.group(2)) * _UNIT_SECONDS[(match.group(3) or "s").lower()]
    if window <= 0:
        raise ValueError(f"the rate-limit window must be positive: {text!r}")
    return requests, window


def parse_mandatory(specs: tuple[str, ...]) -> dict[int, tuple[str, ...]]:
    """``2:details,category_1`` -> ``{2: ("details", "category_1")}``."""
    out: dict[int, tuple[str, ...]] = {}
    for spec in specs:
        type_id, _, fields = spec.partition(":")
        if not type_id.strip().isdigit() or not fields.strip():
            raise click.BadParameter(
                f"expected TYPE:FIELD,... not {spec!r}", param_hint="--mandatory"
            )
        out[int(type_id)] = tuple(f.strip() for f in fields.split(",") if f.strip())
    return out


def _convert(parser: object) -> object:
    def callback(ctx: click.Context, param: click.Parameter, value: str) -> object:
        try:
            return parser(value)  # type: ignore[operator]
        except ValueError as e:
            raise click.BadParameter(str(e)) from None

    return callback


def _outcome_list(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(o.strip() for o in text.split(",") if o.strip())


def config_snippet(sandbox: SandboxServer, rate: tuple[int, float]) -> str:
    requests, window = rate
    if requests <= 0:
        requests, window = 10000, DEFAULT_WINDOW
    return (
        "halo:\n"
        f"  base_url: {sandbox.base_url}\n"
        f"  client_id: {sandbox.client_id}\n"
        f"  client_secret: {sandbox.client_secret}\n"
        f"  rate_limit: {{requests: {requests}, per_seconds: {window:g}}}\n"
    )


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="0 picks a free port.")
@click.option("--tickets", default=5000, show_default=True, type=click.IntRange(min=0))
@click.option("--seed", default=1, show_default=True, type=int, help="Seed for the data.")
@click.option(
    "--rate-limit",
    "rate",
    default="300/300s",
    show_default=True,
    callback=_convert(parse_rate_limit),
    help="Requests per rolling window; 0 = off.",
)
@click.option(
    "--latency",
    default="0ms",
    show_default=True,
    callback=_convert(parse_duration),
    help="Delay added to every request.",
)
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of /api requests answered 500 (nothing applied).",
)
@click.option("--token-ttl", default=3600, show_default=True, type=click.IntRange(min=1))
@click.option("--tenant", default=None, help="Require this tenant when one is sent.")
@click.option("--retry-after", is_flag=True, help="Send Retry-After on 429 (Halo does not).")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Load tickets from FILE if it exists; save them there on exit.",
)
@click.option(
    "--deny",
    multiple=True,
    callback=_convert(lambda rules: tuple(r for r in rules if parse_rule(r))),
    help="An endpoint the API application may not use (403), e.g. 'POST /api/Actions' or "
    "'Agent' (every verb); repeatable.",
)
@click.option(
    "--allowed-outcomes",
    default=None,
    callback=_convert(_outcome_list),
    help="Outcomes (ids or names, comma-separated) the API agent may use; others get Halo's "
    "400 'You do not have access to this Action at the moment'. Default: all.",
)
@click.option(
    "--assertion-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Require an RFC 7523 client assertion signed for this PEM public key.",
)
@click.option("--assertion-audience", help="The assertion's aud (default: the token URL).")
@click.option("--assertion-only", is_flag=True, help="With --assertion-key, no secret is needed.")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
@click.option("--full-rows", is_flag=True, help="List rows keep unset fields (Halo omits them).")
@click.option(
    "--partial-commit", is_flag=True, help="A refused multi-element POST keeps earlier elements."
)
@click.option(
    "--mandatory",
    multiple=True,
    metavar="TYPE:FIELD,...",
    help="Ticket type TYPE requires FIELDs on close (repeatable), e.g. 2:details,category_1.",
)
@click.option("--cab-type", "cab_types", multiple=True, type=int, help="Close needs CAB approval.")
@click.option(
    "--webhook",
    "webhook_url",
    metavar="URL",
    help="POST ticket create/update events here, as Halo.",
)
@click.option(
    "--webhook-auth",
    metavar="USER:PASSWORD",
    envvar="SANDBOX_WEBHOOK_AUTH",
    help="Basic credentials for --webhook (or $SANDBOX_WEBHOOK_AUTH).",
)
@click.option(
    "--ignore-date-filter", is_flag=True, help="Ignore datesearch/startdate (no date filter)."
)
@click.option(
    "--duplicates",
    is_flag=True,
    help="Also seed duplicate alert bursts and look-alikes (ids after --tickets).",
)
def sandbox_command(
    host: str,
    port: int,
    tickets: int,
    seed: int,
    rate: tuple[int, float],
    latency: float,
    fail_rate: float,
    token_ttl: int,
    tenant: str | None,
    retry_after: bool,
    state_file: Path | None,
    deny: tuple[str, ...],
    allowed_outcomes: tuple[str, ...] | None,
    assertion_key: Path | None,
    assertion_audience: str | None,
    assertion_only: bool,
    allow_remote: bool,
    full_rows: bool = False,
    partial_commit: bool = False,
    mandatory: tuple[str, ...] = (),
    cab_types: tuple[int, ...] = (),
    webhook_url: str | None = None,
    webhook_auth: str | None = None,
    ignore_date_filter: bool = False,
    duplicates: bool = False,
) -> None:
    """Serve a local sandbox Halo (seeded tickets, real HTTP) until Ctrl-C or SIGTERM."""
    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(f"--host {host} is not loopback; add --allow-remote to allow it")
    options = SandboxOptions(
        host=host, port=port, tickets=tickets, seed=seed, rate_limit=rate[0],
        rate_window=rate[1], latency=latency, fail_rate=fail_rate, token_ttl=token_ttl,
        tenant=tenant, retry_after=retry_after, state_file=state_file, deny=deny,
        allowed_outcomes=allowed_outcomes, assertion_key=assertion_key,
        assertion_audience=assertion_audience, assertion_only=assertion_only,
        omit_unset=not full_rows, partial_commit=partial_commit,
        mandatory=parse_mandatory(mandatory), cab_types=frozenset(cab_types),
        webhook_url=webhook_url, webhook_auth=_user_password(webhook_auth),
        ignore_date_filter=ignore_date_filter, duplicates=duplicates,
    )  # fmt: skip
    try:
        sandbox = SandboxServer(options)
    except ValueError as e:  # an --allowed-outcomes name, or a key that is not RSA/EC
        raise click.BadParameter(str(e)) from None
    with signals_to_the_main_thread():
        sandbox.start()
    click.echo(f"Sandbox Halo on {sandbox.base_url} ({len(sandbox.state.tickets)} tickets)")
    click.echo(f"  client_id:     {sandbox.client_id}")
    click.echo(f"  client_secret: {sandbox.client_secret}")
    if deny or allowed_outcomes is not None:
        click.echo(f"  permissions:   {sandbox.permissions.describe()}")
    if assertion_key is not None:
        click.echo(f"  requires a client assertion verified by {assertion_key}")
    if webhook_url:
        click.echo(f"  webhooks:      ticket create/update events POSTed to {webhook_url}")
    if duplicates:
        click.echo(f"  duplicates:    {duplicates_line(sandbox.planted)}")
    click.echo("\nPaste into config.yaml:\n")
    click.echo(config_snippet(sandbox, rate))
    click.echo("Press Ctrl-C to stop.")
    serve_until_stopped(sandbox)


def _user_password(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise click.BadParameter("expected USER:PASSWORD", param_hint="--webhook-auth")
    return user, password


@contextmanager
def signals_to_the_main_thread() -> Iterator[None]:
    """Threads started inside inherit SIGTERM and SIGINT blocked, so the kernel delivers those
    to the main thread, whose wait then wakes at once (a signal taken by a serving thread
    only reaches the main thread's handler when its wait times out)."""
    blocked = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def serve_until_stopped(sandbox: SandboxServer, stop: threading.Event | None = None) -> None:
    """Block until SIGTERM, Ctrl-C or ``stop`` is set; then stop (and save) cleanly."""
    stop = stop or threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sandbox.stop()
        click.echo("Sandbox stopped.")
