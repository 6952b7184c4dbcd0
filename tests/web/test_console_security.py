"""The console's security: login required, CSRF on every POST, cookie flags, login rate limit.

Every check runs against the real application through Starlette's test client; the console
has no Halo client (none is needed to refuse).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clock import FakeClock
from starlette.routing import Route
from starlette.testclient import TestClient
from web_support import PASSWORD, client_of, console_settings, csrf_of, login

from halo_automate.store.journal import Journal
from halo_automate.web.app import COOKIE, make_app
from halo_automate.web.console import Console

PAGES = ["/", "/history", "/approvals", "/runs/20260101T000000-abcdef",
         "/runs/20260101T000000-abcdef/undo", "/playbooks/close-spam.yaml"]  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def console(tmp_path: Path, clock: FakeClock) -> Iterator[Console]:
    settings = console_settings(tmp_path)
    with Journal.open(settings.journal) as journal:
        made = Console(settings, journal, None, clock=clock, halo_problem="no secret in tests")
        yield made
        made.close()


@pytest.fixture
def client(console: Console) -> TestClient:
    return client_of(console)


def post_routes(console: Console) -> list[str]:
    """Every POST route of the application, with sample path parameters."""
    app = make_app(console)
    paths = [r.path for r in app.routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    return [p.replace("{run_id}", "20260101T000000-abcdef") for p in paths]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_without_login_redirects_to_the_login_form(
    client: TestClient, path: str
) -> None:
    """No session: a page is a 303 to /login?next=<the page>, and shows nothing of it."""
    answer = client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=%2F")


def test_every_post_without_login_is_401(client: TestClient, console: Console) -> None:
    """No session: every POST but the login itself is refused with 401 (no redirect)."""
    routes = [p for p in post_routes(console) if p != "/login"]
    assert {"/logout", "/runs/20260101T000000-abcdef/undo"} <= set(routes)
    for path in routes:
        assert client.post(path, data={"csrf_token": "x"}).status_code == 401, path


def test_healthz_needs_no_login(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_every_post_without_the_csrf_token_is_403(client: TestClient, console: Console) -> None:
    """Logged in: every POST route refuses a form without the session's CSRF token, or with
    another one, before doing anything (403); the login form too."""
    token = login(client)
    for path in post_routes(console):
        assert client.post(path, data={"confirm": "yes"}).status_code == 403, path
        assert client.post(path, data={"csrf_token": token[:-2] + "xx"}).status_code == 403
    assert client.get("/").status_code == 200  # still logged in: the 403s logged nobody out


def test_a_post_that_is_not_a_form_is_refused(client: TestClient) -> None:
    """JSON or multipart bodies are not accepted (415), so no cross-site request shape gets
    around the form's CSRF field."""
    token = login(client)
    answer = client.post("/logout", json={"csrf_token": token})
    assert answer.status_code == 415


def test_login_without_the_forms_csrf_token_is_403(client: TestClient) -> None:
    client.get("/login")
    answer = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert answer.status_code == 403
    assert COOKIE not in answer.headers.get("set-cookie", "")


def test_login_sets_an_httponly_samesite_cookie_with_a_new_session_id(client: TestClient) -> None:
    """The login form's anonymous session is replaced by a new id (no session fixation); the
    cookie is HttpOnly and SameSite=Lax, and not Secure over plain http."""
    client.get("/login")
    before = client.cookies[COOKIE]
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()
    assert client.cookies[COOKIE] != before


def test_the_cookie_is_secure_when_the_console_is_reached_over_tls(tmp_path: Path) -> None:
    settings = console_settings(tmp_path, public_url="https://halo-automate.example")
    with Journal.open(settings.journal) as journal:
        client = client_of(Console(settings, journal, None))
        answer = client.get("/login")
    assert "secure" in answer.headers["set-cookie"].lower()


def test_a_wrong_password_is_refused_and_the_login_is_rate_limited(
    client: TestClient, clock: FakeClock
) -> None:
    """Five failures in the window: the sixth try is 429 with Retry-After, even with the right
    password (it is not even checked); once the window has passed, the right one works."""
    token = csrf_of(client.get("/login").text)

    def attempt(password: str) -> int:
        form = {"username": "alice", "password": password, "csrf_token": token}
        return client.post("/login", data=form).status_code

    assert [attempt("wrong") for _ in range(5)] == [401] * 5
    limited = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    clock.advance(301)
    assert attempt(PASSWORD) == 303


def test_failures_from_one_address_limit_every_user_name(client: TestClient) -> None:
    """Guessing across user names from one address is limited too."""
    token = csrf_of(client.get("/login").text)
    codes = [
        client.post(
            "/login", data={"username": f"user{n}", "password": "x", "csrf_token": token}
        ).status_code
        for n in range(6)
    ]
    assert codes == [401] * 5 + [429]


def test_an_unknown_user_is_refused_like_a_wrong_password(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"username": "mallory", "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 401
    assert "Wrong user name or password" in answer.text


def test_logout_ends_the_session(client: TestClient) -> None:
    token = login(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 303


def test_a_session_expires(client: TestClient, clock: FakeClock) -> None:
    login(client)
    clock.advance(12 * 3600 + 1)
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_login_never_redirects_off_the_site(client: TestClient, target: str) -> None:
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token, "next": target},
    )
    assert answer.headers["location"] == "/"


def test_a_route_that_acts_answers_no_get_that_acts(client: TestClient) -> None:
    """Logging out is a POST: a GET of it (a link, a prefetch) is 405 and logs nobody out."""
    login(client)
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_pages_carry_a_strict_content_security_policy(client: TestClient) -> None:
    answer = client.get("/login")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # no script is allowed at all
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


def test_a_flood_of_login_page_visits_logs_nobody_out(
    client: TestClient, console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anonymous sessions are bounded on their own: past the cap the oldest anonymous ones
    go, and a logged-in session stays."""
    monkeypatch.setattr("halo_automate.web.auth.MAX_SESSIONS", 5)
    login(client)
    for _ in range(20):
        console.sessions.new()
    assert len(console.sessions) == 5 + 1
    assert client.get("/").status_code == 200
