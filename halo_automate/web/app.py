"""The console's Starlette application: routes, the login, and the guard every request passes.

:func:`make_app` builds it around a :class:`~halo_automate.web.console.Console`. The guard
(:class:`Guard`) is the one place security is decided, for every route at once:

* everything but ``/healthz``, ``/login`` and the stylesheet needs a logged-in session: a GET
  is redirected to ``/login?next=...`` (303), any other method answered 401;
* every method but GET and HEAD must send an ``application/x-www-form-urlencoded`` body
  (415 otherwise; at most :data:`MAX_FORM_BYTES`, 413) carrying the session's
  ``csrf_token`` (403 otherwise); the parsed form is handed to the route as
  ``request.state.form``. No route changes anything on GET;
* every answer carries a strict Content-Security-Policy (no script at all, no framing), and
  pages are ``no-store``.

The login itself (``GET``/``POST /login``, ``POST /logout``) is here; the pages are in
:mod:`.pages`.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from halo_automate.web import pages
from halo_automate.web.auth import Session, verify_password
from halo_automate.web.console import Console
from halo_automate.web.context import HERE, console_of, form_of, render, session_of

log = structlog.get_logger("halo_automate.web")

COOKIE = "halo_console"
MAX_FORM_BYTES = 64 * 1024
PUBLIC = ("/healthz", "/login", "/static/")
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Guard(BaseHTTPMiddleware):
    """Login, CSRF and headers for every request (see the module docstring)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        console = console_of(request)
        session = console.sessions.get(request.cookies.get(COOKIE))
        request.state.session = session
        path = request.url.path
        public = path in PUBLIC or path.startswith("/static/")
        if not public and (session is None or session.user is None):
            if request.method in ("GET", "HEAD"):
                target = path + (f"?{request.url.query}" if request.url.query else "")
                return _headers(RedirectResponse(f"/login?next={quote(target, safe='')}", 303))
            return _headers(PlainTextResponse("login required\n", 401))
        if request.method not in ("GET", "HEAD"):
            refused = await self._check_form(request, session)
            if refused is not None:
                return _headers(refused)
        return _headers(await call_next(request))

    @staticmethod
    async def _check_form(request: Request, session: Session | None) -> Response | None:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            return PlainTextResponse("expected a form (x-www-form-urlencoded)\n", 415)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_FORM_BYTES:
            return PlainTextResponse("form too large\n", 413)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return PlainTextResponse("form too large\n", 413)
        parsed = parse_qs(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=64
        )
        form = {name: values[0] for name, values in parsed.items()}
        if session is None or not session.csrf_ok(form.get("csrf_token")):
            log.warning("web_csrf_refused", path=request.url.path)
            return PlainTextResponse("refused: missing or wrong CSRF token; reload the page\n", 403)
        request.state.form = form
        return None


def _headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and "\\" not in target else "/"


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    console = console_of(request)
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=int(console.sessions.lifetime),
        httponly=True,
        samesite="lax",
        secure=console.web.secure_cookies or request.url.scheme == "https",
        path="/",
    )


async def login_form(request: Request) -> Response:
    session = session_of(request)
    if session is not None and session.user is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
    fresh = session is None
    if session is None:
        session = console_of(request).sessions.new()
    response = render(
        request,
        "login.html",
        {"csrf": session.csrf, "error": None, "next": request.query_params.get("next", "/")},
    )
    if fresh:
        set_session_cookie(request, response, session)
    return response


async def login(request: Request) -> Response:
    console, form = console_of(request), form_of(request)
    session = session_of(request)
    assert session is not None  # the guard checked its CSRF token
    name, password = form.get("username", "").strip(), form.get("password", "")
    address = request.client.host if request.client else "?"
    wait = console.limiter.retry_after(name, address)
    if wait > 0:
        log.warning("web_login_limited", user=name, address=address)
        context = {
            "csrf": session.csrf,
            "next": form.get("next", "/"),
            "error": f"Too many failed logins; try again in {int(wait) + 1} s.",
        }
        headers = {"Retry-After": str(int(wait) + 1)}
        return render(request, "login.html", context, status=429, headers=headers)
    if not name or not verify_password(console.web.users, name, password):
        console.limiter.failed(name, address)
        log.warning("web_login_failed", user=name, address=address)
        context = {
            "csrf": session.csrf,
            "next": form.get("next", "/"),
            "error": "Wrong user name or password.",
        }
        return render(request, "login.html", context, status=401)
    console.limiter.succeeded(name)
    console.sessions.drop(session.id)
    new = console.sessions.new(user=name)
    log.info("web_login", user=name, address=address)
    response = RedirectResponse(_safe_next(form.get("next")), 303)
    set_session_cookie(request, response, new)
    return response


async def logout(request: Request) -> Response:
    session = session_of(request)
    if session is not None:
        console_of(request).sessions.drop(session.id)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def make_app(console: Console) -> Starlette:
    """The console's ASGI application."""
    routes = [
        Route("/healthz", healthz),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        *pages.ROUTES,
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Guard)])
    app.state.console = console
    return app
