"""``halo-automate hash-password``: the argon2 hash of a password, for ``web.users``."""

from __future__ import annotations

import getpass
import os
import sys

import click

from halo_automate.cli.exits import handle_errors
from halo_automate.errors import ExitCode
from halo_automate.web.auth import hash_password as argon2_hash

MAX_PASSWORD = 1024


def read_password() -> str:
    """The password: asked twice on a terminal, else read from stdin (one trailing newline
    dropped, so ``echo PASSWORD |`` and ``echo -n PASSWORD |`` give the same hash)."""
    if sys.stdin.isatty() and not os.environ.get("CI"):
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise click.UsageError("the two passwords differ")
        return first
    text = sys.stdin.read(MAX_PASSWORD + 2)
    return text.removesuffix("\n").removesuffix("\r")


@click.command("hash-password")
@handle_errors
def hash_password() -> None:
    """Print the argon2 hash of a password read from stdin (asked for on a terminal).

    \b
    echo -n PASSWORD | halo-automate hash-password
    Put the hash in the config: web: {users: {alice: HASH}}. Exits 2 on an empty password.
    """
    password = read_password()
    if not password:
        raise click.UsageError("empty password")
    if len(password) > MAX_PASSWORD:
        raise click.UsageError(f"password longer than {MAX_PASSWORD} characters")
    click.echo(argon2_hash(password))
    sys.exit(ExitCode.OK)
