"""Helpers for the web console tests: a console on a sandbox-backed runner, and logging in."""

from __future__ import annotations

import functools
import re
import shutil
import socket
from pathlib import Path
from typing import Any

from apply_support import PLAYBOOKS, Rig
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from halo_automate.config import Settings, settings_from_mapping
from halo_automate.web.app import make_app
from halo_automate.web.console import Console

PASSWORD = "correct horse battery staple"
USERS = ("alice", "bob")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    """A loopback port free now (for a server whose address a config must name first)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def password_hash() -> str:
    """One argon2id hash per test process, with cheap parameters (the parameters travel in the
    hash, so verifying it is cheap too; ``hash-password`` uses argon2-cffi's defaults)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


def console_settings(tmp_path: Path, rig: Rig | None = None, **web: Any) -> Settings:
    """Settings with a web: section (alice and bob, one password), the rig's sandbox as the
    Halo and the shipped close-spam and category-cleanup playbooks in the folder."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir(exist_ok=True)
    for name in ("close-spam.yaml", "category-cleanup.yaml"):
        shutil.copy(PLAYBOOKS / name, playbooks / name)
    base_url = rig.sb.base_url if rig else "http://127.0.0.1:9"
    data = {
        "halo": {"base_url": base_url, "client_id": "id", "client_secret": "x"},
        "playbooks_dir": str(playbooks),
        "journal": str(tmp_path / "journal.db"),
        "web": {"listen": "127.0.0.1:0", "users": dict.fromkeys(USERS, password_hash()), **web},
    }
    return settings_from_mapping(data, env={})


def console_for(tmp_path: Path, rig: Rig, **kwargs: Any) -> Console:
    return Console(console_settings(tmp_path, rig), rig.journal, rig.runner, **kwargs)


def client_of(console: Console) -> TestClient:
    return TestClient(make_app(console), base_url="http://127.0.0.1", follow_redirects=False)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


def login(client: TestClient, user: str = "alice", password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"username": user, "password": password, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/").text)
