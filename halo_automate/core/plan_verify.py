"""Whether a saved plan document may be applied: what ``apply FILE`` checks before anything.

A plan file comes from outside (a shared folder, a ticket attachment, an editor), so it is
trusted for nothing but naming the tickets to look at. :func:`read_saved_plan` refuses,
each with one PlanError line (exit 2):

* a document of another version (a version-1 file: re-plan it with this version);
* an undo document (``apply`` does not take them: ``halo-automate undo RUN`` derives the undo
  from the journal, which is the record of what was written);
* a playbook whose source does not hash to the recorded hash, that no longer validates, or
  whose name differs from the plan's;
* limits (``max_changes``, ``expect_*``) or ``halo_rules`` that differ from the playbook's:
  the limits that apply are the playbook's own;
* counts that cannot be (more changes than matches, more matches than tickets scanned), a
  ``created_at`` that is not a time, no instance identity;
* ``remove_actions`` in an apply plan (only undo removes actions);
* everything :func:`~halo_automate.core.plan_doc.plan_from_json` refuses (unknown keys such as
  a ``ticket_update``, two entries for one ticket).

What passes is still not written as it is: apply re-derives each change from the playbook
against the ticket as read now (:mod:`halo_automate.core.rederive`). :func:`plan_playbook`
is the same check of the playbook for a plan in memory (``Runner.apply_saved``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from halo_automate.core.changes import PLAN_VERSION, Plan
from halo_automate.core.plan_doc import plan_document, plan_from_document
from halo_automate.core.plan_doc_v1 import VERSION as V1
from halo_automate.core.playbook import Playbook, load_playbook_text
from halo_automate.errors import PlanError, PlaybookError


@dataclass(frozen=True)
class SavedPlan:
    """A verified plan document and the playbook it carries."""

    plan: Plan
    playbook: Playbook


def read_saved_plan(text: str) -> SavedPlan:
    """Verify a saved plan document (see the module docstring); PlanError when it fails."""
    doc = plan_document(text)
    version = doc.get("version")
    if version == V1 and not isinstance(version, bool):
        raise PlanError(
            "this plan was saved by an older halo-automate (plan document version 1, this "
            f"version applies version {PLAN_VERSION}); re-plan it with this version: "
            "halo-automate plan PLAYBOOK --out FILE"
        )
    plan = plan_from_document(doc)
    if plan.mode != "apply":
        undone = plan.undo_of or "RUN"
        raise PlanError(
            f"plan {plan.run_id} is an undo plan; undo plans are not applied from a file: "
            f"use `halo-automate undo {undone}`"
        )
    if not plan.instance_identity:
        raise PlanError(f"plan {plan.run_id} does not say which Halo it was made for; re-plan it")
    _check_counts(plan)
    removing = next((c.ticket_id for c in plan.changes if c.remove_actions), None)
    if removing is not None:
        raise PlanError(
            f"plan {plan.run_id}: the change of ticket {removing} removes actions, which no "
            "playbook does (remove_actions belongs to undo); the document was edited"
        )
    return SavedPlan(plan, plan_playbook(plan))


def _check_counts(plan: Plan) -> None:
    if not len(plan.changes) <= plan.matched <= plan.scanned:
        raise PlanError(
            f"plan {plan.run_id}: {len(plan.changes)} changes, {plan.matched} matched and "
            f"{plan.scanned} scanned cannot be (the document was edited); re-plan it"
        )
    try:
        created = datetime.fromisoformat(plan.created_at)
    except ValueError:
        created = None
    if created is None or created.tzinfo is None:
        raise PlanError(f"plan {plan.run_id}: created_at {plan.created_at!r} is not a UTC time")


def plan_playbook(plan: Plan, *, own_limits: bool = True) -> Playbook:
    """The playbook ``plan`` carries, checked: its source hashes to ``playbook_hash``, it
    validates, it has the plan's name, and (``own_limits``) the plan's limits and
    ``halo_rules`` are its own."""
    edited = "the document was edited or damaged; re-plan it"
    source = plan.playbook_source
    if not source:
        raise PlanError(f"plan {plan.run_id} does not carry its playbook; re-plan it")
    if hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest() != plan.playbook_hash:
        raise PlanError(
            f"plan {plan.run_id}: its playbook does not match the playbook hash; {edited}"
        )
    try:
        playbook = load_playbook_text(source.removeprefix("\ufeff"), f"{plan.playbook}.yaml")
    except PlaybookError as e:
        first = e.problems[0] if e.problems else "invalid"
        raise PlanError(
            f"plan {plan.run_id}: its playbook no longer validates ({first}); re-plan it"
        ) from None
    if playbook.name != plan.playbook:
        raise PlanError(
            f"plan {plan.run_id}: its playbook is named {playbook.name!r}, the plan says "
            f"{plan.playbook!r}; {edited}"
        )
    if own_limits:
        _check_limits(plan, playbook)
    return playbook.model_copy(update={"source_hash": plan.playbook_hash, "source": source})


def _check_limits(plan: Plan, playbook: Playbook) -> None:
    edited = "the document was edited or damaged; re-plan it"
    expect = playbook.expect
    own = {
        "max_changes": playbook.limits.max_changes,
        "expect_min": expect.min if expect else None,
        "expect_max": expect.max if expect else None,
        "halo_rules": playbook.halo_rules,
    }
    said = {
        "max_changes": plan.max_changes,
        "expect_min": plan.expect_min,
        "expect_max": plan.expect_max,
        "halo_rules": plan.halo_rules,
    }
    for key, value in own.items():
        if said[key] != value or type(said[key]) is not type(value):
            raise PlanError(
                f"plan {plan.run_id}: {key} is {said[key]!r} in the plan but {value!r} in its "
                f"playbook; {edited}"
            )
