"""What every route reads of a request: the console, the session and its user, the checked
form, and :func:`render` (a page with the user and the CSRF token every form needs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from halo_automate.web.auth import Session
from halo_automate.web.console import Console
from halo_automate.web.views import show_value, when

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["value"] = show_value


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def session_of(request: Request) -> Session | None:
    found: Session | None = getattr(request.state, "session", None)
    return found


def user_of(request: Request) -> str:
    session = session_of(request)
    if session is None or session.user is None:  # the guard lets no such request through
        raise PermissionError("no logged-in user")
    return session.user


def form_of(request: Request) -> dict[str, str]:
    form: dict[str, str] = getattr(request.state, "form", {})
    return form


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A page: ``template`` with ``context`` plus the user and the CSRF token of the session."""
    session = session_of(request)
    base = {"user": session.user if session else None, "csrf": session.csrf if session else ""}
    return TEMPLATES.TemplateResponse(
        request, template, {**base, **context}, status_code=status, headers=headers
    )
