"""The console's pages: overview, a run, its undo, history, a playbook (approvals: :mod:`.queue`).

Each route is a plain function of the request (Starlette runs it on a worker thread, so the
journal's blocking reads are fine) that reads the :class:`~halo_automate.web.console.Console`
and renders a template. Only POST routes act, and the guard (:mod:`.app`) has checked their
CSRF token before they run. A run the console starts (an undo) is queued as a job and the
browser is sent to the run's page, which follows it.
"""

from __future__ import annotations

import hashlib
import json

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from halo_automate.core.changes import Plan
from halo_automate.core.outcome import RunStatus
from halo_automate.core.plan_doc import plan_to_dict
from halo_automate.engine.undo import build_undo_plan, category_levels, undo_warnings
from halo_automate.errors import HaloAutomateError
from halo_automate.store.listing import count_runs, playbook_names, runs_page
from halo_automate.web import queue
from halo_automate.web.context import console_of, form_of, render, user_of
from halo_automate.web.views import Page, change_lines, run_view

RUN_STATUSES = tuple(status.value for status in RunStatus)


def overview(request: Request) -> Response:
    console = console_of(request)
    rows = console.playbook_rows()
    context = {
        "instances": [
            {
                "name": name,
                "host": halo.host,
                "identity": halo.identity,
                "selected": name == console.settings.instance_name,
            }
            for name, halo in sorted(console.settings.instances.items())
        ],
        "rows": rows,
        "problems": [p for row in rows for p in row.file.problems],
        "budget": console.budget(),
        "served_by_daemon": console.service is not None,
        "waiting": queue.waiting_count(console),
        "paused": queue.paused(console),
        "halo_problem": console.halo_problem,
        "recent": console.journal.runs(limit=10),
    }
    return render(request, "overview.html", context)


def run_page(request: Request) -> Response:
    console, run_id = console_of(request), request.path_params["run_id"]
    run = console.journal.run(run_id)
    if run is None:
        job = console.jobs.get(run_id)
        if job is None:
            return render(
                request,
                "message.html",
                {"title": "No such run", "text": f"The journal has no run {run_id}."},
                status=404,
            )
        return render(request, "job.html", {"job": job})
    view = run_view(run, console.journal.changes(run_id), console.journal.plan_json(run_id))
    q = request.query_params
    text, client, field = q.get("q", "").strip(), q.get("client", ""), q.get("field", "")
    shown = view.filtered(text, client, field)
    page = Page.of(q.get("page"), console.web.page_size * 4, len(shown))
    context = {
        "run": run,
        "view": view,
        "lines": shown[page.offset : page.offset + page.size],
        "page": page,
        "filters": {"q": text, "client": client, "field": field},
        "job": console.jobs.get(run_id),
        "undos": console.journal.runs(limit=5, undo_of=run_id),
        "approval": queue.decision_of(console, run_id),
        "can_undo": run.status in ("succeeded", "partial") and run.counts.done > 0,
    }
    return render(request, "run.html", context)


def _fingerprint(plan: Plan) -> str:
    """What the undo preview showed, so the confirmation applies that and nothing else."""
    changes = plan_to_dict(plan)["changes"]
    return hashlib.sha256(json.dumps(changes, sort_keys=True).encode()).hexdigest()


def undo_preview(request: Request) -> Response:
    console, run_id = console_of(request), request.path_params["run_id"]
    try:
        plan = build_undo_plan(console.journal, run_id, now=console.now())
    except HaloAutomateError as e:
        return render(
            request, "message.html", {"title": "Nothing to undo", "text": str(e)}, status=409
        )
    warnings: list[str] = []
    levels = category_levels(plan)
    if levels:
        try:
            lookups = console.need_runner().client.lookups([f"category_{n}" for n in levels])
            warnings = undo_warnings(plan, lookups)
        except HaloAutomateError as e:
            warnings = [f"could not check the categories with Halo: {e}"]
    lines = [line for change in plan.changes for line in change_lines(change)]
    context = {
        "run_id": run_id,
        "plan": plan,
        "lines": lines,
        "warnings": warnings,
        "fingerprint": _fingerprint(plan),
        "halo_problem": console.halo_problem,
    }
    return render(request, "undo.html", context)


def undo_confirm(request: Request) -> Response:
    console, run_id = console_of(request), request.path_params["run_id"]
    try:
        runner = console.need_runner()
        plan = build_undo_plan(console.journal, run_id, now=console.now())
    except HaloAutomateError as e:
        return render(
            request, "message.html", {"title": "Undo refused", "text": str(e)}, status=409
        )
    if form_of(request).get("fingerprint") != _fingerprint(plan):
        text = "What the undo would do changed since you saw it; review the preview again."
        return render(
            request,
            "message.html",
            {"title": "Undo refused", "text": text, "link": f"/runs/{run_id}/undo"},
            status=409,
        )
    user = user_of(request)
    console.jobs.start(
        plan.run_id,
        f"undo of {run_id} by {user}",
        lambda: runner.apply_saved(plan, confirm=None, trigger="undo"),
    )
    return RedirectResponse(f"/runs/{plan.run_id}", 303)


def history(request: Request) -> Response:
    console, q = console_of(request), request.query_params
    playbook = q.get("playbook") or None
    status = q.get("status") if q.get("status") in RUN_STATUSES else None
    total = count_runs(console.journal, playbook, status)
    page = Page.of(q.get("page"), console.web.page_size, total)
    runs = runs_page(
        console.journal, offset=page.offset, limit=page.size, playbook=playbook, status=status
    )
    context = {
        "runs": runs,
        "page": page,
        "playbook": playbook or "",
        "status": status or "",
        "playbooks": playbook_names(console.journal),
        "statuses": RUN_STATUSES,
    }
    return render(request, "history.html", context)


def playbook_page(request: Request) -> Response:
    console = console_of(request)
    file = console.playbook_file(request.path_params["file_name"])
    if file is None:
        return render(
            request,
            "message.html",
            {
                "title": "No such playbook",
                "text": "No playbook file of that name in the playbooks folder.",
            },
            status=404,
        )
    try:
        source = file.path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        source = f"(cannot read {file.path.name}: {e.strerror})"
    runs = console.journal.runs(limit=10, playbook=file.name)
    return render(request, "playbook.html", {"file": file, "source": source, "runs": runs})


ROUTES = [
    Route("/", overview),
    Route("/runs/{run_id}", run_page),
    Route("/runs/{run_id}/undo", undo_preview, methods=["GET"]),
    Route("/runs/{run_id}/undo", undo_confirm, methods=["POST"]),
    Route("/history", history),
    Route("/playbooks/{file_name}", playbook_page),
    *queue.ROUTES,
]
