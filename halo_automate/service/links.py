"""Links to the web console: where a notification or the CLI points a reviewer.

A run's page is ``<base>/runs/RUN_ID`` and the queue ``<base>/approvals`` (the console's
routes, issue 16). The base is, first found: ``notify.console_url`` (set it when the console
is reached through a reverse proxy or another name), the web console's ``web.public_url``,
or ``http://`` + its ``web.listen`` address. No base, no link: messages then say the
``halo-automate approve`` command only.
"""

from __future__ import annotations

from typing import Any

from halo_automate.config import Settings


def console_base(settings: Settings) -> str | None:
    """The web console's base URL as a reviewer reaches it, if one is configured."""
    if settings.notify.console_url:
        return settings.notify.console_url.rstrip("/")
    web: Any = getattr(settings, "web", None)  # the console's own section, when configured
    public = getattr(web, "public_url", None)
    if public:
        return str(public).rstrip("/")
    listen = getattr(web, "listen", None)
    if listen:
        return f"http://{listen}"
    return None


def run_link(base: str | None, run_id: str) -> str | None:
    """The console page of run ``run_id`` (None without a console)."""
    return None if base is None else f"{base}/runs/{run_id}"
