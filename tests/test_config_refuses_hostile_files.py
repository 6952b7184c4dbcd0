"""Hostile config files: YAML bombs, deep nesting, giant numbers, endless or binary files,
duplicate keys, control characters, infinite timeouts. Each is a one-line ConfigError naming
the file, in bounded time; through the CLI it is exit 2 with no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from halo_automate.config import load_settings
from halo_automate.errors import ConfigError

HALO = "halo:\n  base_url: https://acme.example\n  client_id: cid\n  client_secret: s\n"
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)

HOSTILE: dict[str, tuple[str | bytes, str]] = {
    "billion-laughs": (LAUGHS + HALO, "YAML aliases (*name) are not allowed in the config"),
    "deep-flow": ("halo: " + "[" * 300_000 + "\n", "nested more than 50 levels deep"),
    "deep-block": ("".join("  " * i + "k:\n" for i in range(80)) + "  " * 80 + "v\n",
                   "nested more than 50 levels deep"),
    "giant-integer": (HALO + "  page_size: " + "9" * 5000 + "\n",
                      "number longer than 64 characters"),
    "giant-sexagesimal": (HALO + "  page_size: 1" + ":1" * 200_000 + "\n",
                          "number longer than 64 characters"),
    "flood-of-keys": ("".join(f"k{i}: {i}\n" for i in range(12_000)) + HALO,
                      "more than 10000 values"),
    "over-one-megabyte": ("# " + "x" * 1_100_000 + "\n" + HALO, "config file is larger than 1 MB"),
    "not-utf8": (b"halo:\n  client_id: caf\xe9\n", "config is not UTF-8 text"),
    "binary": (bytes(range(256)) * 8, "config is not UTF-8 text"),
    "control-character": (HALO + "  scope: \x07\n", "unacceptable character #x0007"),
    "duplicate-secret": (HALO + "  client_secret: other\n", "duplicate key 'client_secret'"),
    "newline-in-key": (HALO + '  "sco\\npe": all\n', "halo.sco\\npe: unknown key"),
    "python-tag": ("halo: !!python/object/apply:os.system [id]\n",
                   "could not determine a constructor"),
    "infinite-timeout": (HALO + "  timeout_seconds: .inf\n", "Input should be a finite number"),
    "infinite-window": (HALO + "  rate_limit: {requests: 5, per_seconds: .inf}\n",
                        "Input should be a finite number"),
    "nul-in-journal-path": (HALO + 'journal: "a\\0b.db"\n', "a path cannot contain a NUL"),
    "missing-variable": (HALO.replace("client_secret: s", "client_secret: ${NOPE}"),
                         "halo.client_secret: environment variable NOPE is not set"),
    "not-a-mapping": ("- halo\n", "expected a mapping at the top level"),
}  # fmt: skip


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / f"{name}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_config_is_a_one_line_config_error(tmp_path: Path, name: str) -> None:
    """Each hostile config is a ConfigError on one line that names the file and the problem,
    within 2 s of CPU (this process's, so a loaded machine cannot fail it)."""
    content, expected = HOSTILE[name]
    path = write(tmp_path, name, content)
    started = time.process_time()
    with pytest.raises(ConfigError) as caught:  # an unset secret variable: when first needed
        load_settings(path, env={}).halo.check_secret()
    seconds = time.process_time() - started
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message, message
    assert expected in message, message
    assert seconds < 2, f"{seconds:.2f}s"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_config_file_is_read_bounded() -> None:
    """--config /dev/zero (size 0 on stat, endless on read) is refused after 1 MB."""
    started = time.process_time()
    with pytest.raises(ConfigError, match=r"^/dev/zero: config file is larger than 1 MB$"):
        load_settings("/dev/zero")
    assert time.process_time() - started < 2


@pytest.mark.parametrize("name", ["billion-laughs", "deep-flow", "binary", "newline-in-key"])
def test_cli_with_a_hostile_config_exits_2_with_one_line(tmp_path: Path, name: str) -> None:
    """Any command given a hostile config prints one `error: <file>...` line and exits 2."""
    content, expected = HOSTILE[name]
    path = write(tmp_path, name, content)
    result = subprocess.run(
        [sys.executable, "-m", "halo_automate", "history", "--config", str(path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if k != "HALO_AUTOMATE_CONFIG"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), lines
    assert expected in result.stderr
