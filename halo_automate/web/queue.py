"""The approvals queue: plans waiting for a person, each with its diff; approve or reject.

Built on :mod:`halo_automate.engine.approvals` (the rules are all there: who may approve,
what an expired plan means, applying a plan at most once). The approver is the logged-in
user. Approving then applies the plan at once: in the daemon, by queueing its approvals
check on its one worker (the apply is then one of the daemon's runs: in flight, counted,
announced); served alone with a Halo client, by ``Runner.apply_approved`` in a job of the
console's; without a client the plan stays approved for the daemon or ``halo-automate
approve RUN_ID --apply``. The browser is sent to the waiting run's page,
which shows the decision and links the run that applied it.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from halo_automate.core.approval import same_person
from halo_automate.core.plan_notes import group_lines
from halo_automate.engine import approvals
from halo_automate.errors import HaloAutomateError
from halo_automate.store.approvals import ApprovalRow
from halo_automate.web.console import Console
from halo_automate.web.context import console_of, form_of, render, user_of
from halo_automate.web.views import ChangeLine, change_lines, read_plan

DIFF_LINES = 20
"""Lines of a plan's diff shown in the queue; the run page has them all."""


@dataclass(frozen=True)
class Queued:
    """One waiting plan as the queue shows it."""

    waiting: approvals.WaitingApproval
    lines: list[ChangeLine]
    more: int
    own: bool
    """The logged-in user planned it, and its playbook wants another approver."""
    groups: tuple[str, ...] = ()
    """A ``group:`` plan's groups (survivor, duplicates, key; "cannot be undone" for a merge)."""


def waiting_count(console: Console) -> int:
    return len(approvals.waiting(console.journal, console.now()))


def paused(console: Console) -> list[str]:
    """The paused playbooks (the runaway guard), by name."""
    return sorted({row.playbook for row in console.journal.paused_playbooks()})


def decision_of(console: Console, run_id: str) -> ApprovalRow | None:
    """The approvals row of run ``run_id`` (its run page shows the decision)."""
    return console.journal.approval(run_id)


def _queued(console: Console, user: str) -> list[Queued]:
    out = []
    for waiting in approvals.waiting(console.journal, console.now()):
        plan = read_plan(console.journal.plan_json(waiting.run_id))
        lines = [line for change in plan.changes for line in change_lines(change)] if plan else []
        own = waiting.approver_must_differ and same_person(waiting.requested_by, user)
        groups = tuple(group_lines(plan, DIFF_LINES)) if plan else ()
        more = max(0, len(lines) - DIFF_LINES)
        out.append(Queued(waiting, lines[:DIFF_LINES], more, own, groups))
    return out


def queue_page(request: Request) -> Response:
    console = console_of(request)
    decided = [r for r in console.journal.approvals() if r.state != "waiting"][-10:]
    context = {
        "queued": _queued(console, user_of(request)),
        "decided": list(reversed(decided)),
        "can_apply": console.runner is not None,
        "nav": "approvals",
    }
    return render(request, "approvals.html", context)


def approve(request: Request) -> Response:
    console, run_id, user = console_of(request), request.path_params["run_id"], user_of(request)
    try:
        approvals.approve(console.journal, run_id, user, console.now())
    except HaloAutomateError as e:
        return _refused(request, "Approval refused", str(e))
    if console.approvals_check is not None:  # the daemon's: applied as its run, announced
        console.jobs.submit(
            f"approvals check after {user} approved {run_id}", console.approvals_check
        )
    elif console.runner is not None:
        runner = console.runner
        console.jobs.start(
            run_id,
            f"applying the plan approved by {user}",
            lambda: runner.apply_approved(run_id, confirm=None),
        )
    return RedirectResponse(f"/runs/{run_id}", 303)


def reject(request: Request) -> Response:
    console, run_id, user = console_of(request), request.path_params["run_id"], user_of(request)
    reason = form_of(request).get("reason", "")
    try:
        approvals.reject(console.journal, run_id, user, reason, console.now())
    except HaloAutomateError as e:
        return _refused(request, "Rejection refused", str(e))
    return RedirectResponse(f"/runs/{run_id}", 303)


def _refused(request: Request, title: str, text: str) -> Response:
    context = {"title": title, "text": text, "link": "/approvals"}
    return render(request, "message.html", context, status=409)


ROUTES = [
    Route("/approvals", queue_page),
    Route("/approvals/{run_id}/approve", approve, methods=["POST"]),
    Route("/approvals/{run_id}/reject", reject, methods=["POST"]),
]
