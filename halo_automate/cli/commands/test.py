"""``halo-automate test``: run playbook test fixtures purely (no Halo, no secret, no network)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from halo_automate.cli.context import config_option
from halo_automate.cli.exits import handle_errors
from halo_automate.cli.files import check_write_target, write_file_atomically
from halo_automate.config import find_config, load_settings
from halo_automate.core.fixture_file import fixture_files, load_fixture
from halo_automate.core.fixture_run import FixtureResult, junit_xml, run_fixture
from halo_automate.errors import TEST_FAILED, ExitCode, FixtureError


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--junit", type=click.Path(dir_okay=False), help="Also write JUnit XML here.")
@config_option
@handle_errors
def test(paths: tuple[str, ...], junit: str | None, config_path: str | None) -> None:
    """Run the test fixtures (NAME.test.yaml) of playbooks: PATHS are fixtures, playbooks or
    folders (default: the playbooks directory). Exit 0 when every expectation holds, 1 with
    a diff when one does not, 2 for an invalid fixture."""
    if paths:
        targets: list[str | Path] = list(paths)
    else:
        cfg = find_config(config_path)
        targets = [load_settings(cfg).playbooks_dir if cfg.exists() else Path("playbooks")]
    if junit:
        check_write_target(junit)
    files = fixture_files(targets)
    if not files:
        click.echo(f"error: no test fixtures (*.test.yaml) in {', '.join(map(str, targets))}",
                   err=True)  # fmt: skip
        sys.exit(ExitCode.INVALID)
    started = time.perf_counter()
    results: list[FixtureResult] = []
    seconds: dict[Path, float] = {}
    invalid = 0
    for path in files:
        began = time.perf_counter()
        try:
            result = run_fixture(load_fixture(path))
        except FixtureError as e:
            invalid += 1
            click.echo("\n".join(["INVALID " + str(path), *e.problems]))
            continue
        seconds[path] = time.perf_counter() - began
        results.append(result)
        if result.passed:
            click.echo(f"ok      {path} ({result.playbook}: {result.changed} changed)")
        else:
            click.echo(f"FAIL    {path} ({result.playbook})")
            click.echo("\n".join("        " + line for line in result.failures))
    failed = sum(not r.passed for r in results)
    took = time.perf_counter() - started
    click.echo(f"{len(results) - failed} passed, {failed} failed, {invalid} invalid "
               f"in {took:.2f}s", err=True)  # fmt: skip
    if junit:
        write_file_atomically(junit, junit_xml(results, seconds))
    if invalid:
        sys.exit(ExitCode.INVALID)
    sys.exit(TEST_FAILED if failed else ExitCode.OK)
