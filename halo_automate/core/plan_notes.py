"""Lines a preview adds for the powers of issue 18: groups, e-mails a run sends, custom
field reads.

* **Groups.** A ``group:`` playbook's plan lists each group: the survivor it keeps, the
  duplicates the actions change and the key they share (why they grouped); a playbook that
  cannot be undone (a merge) says so on every group.

* **E-mails.** Every planned action whose body has ``sendemail: true`` e-mails the ticket's
  user (a ``note`` or ``close`` with ``email: true``, a ``lifecycle:`` step). The preview says
  how many a run sends, and that undo cannot unsend them.
* **Custom fields.** Ticket lists do not carry ``customfields``: planning read each listed
  ticket once (``GET /api/Tickets/{id}``) and apply reads each ticket it changes again for
  its stale check (one request each, counted in the apply estimate by
  :func:`~halo_automate.core.plan.requests_needed`).

Pure: derived from the plan alone.
"""

from __future__ import annotations

from halo_automate.core.changes import Plan
from halo_automate.core.customfields import is_plan_field
from halo_automate.sanitize import clean_text

_SHOWN_IDS = 12


def emails(plan: Plan) -> int:
    """How many e-mails applying the plan sends to customers."""
    return sum(1 for c in plan.changes for a in c.actions if a.body.get("sendemail") is True)


def custom_field_tickets(plan: Plan) -> int:
    """How many tickets the plan changes custom fields of."""
    return sum(1 for c in plan.changes if any(is_plan_field(n) for n in c.fields))


def notes(plan: Plan) -> list[str]:
    """The preview's lines about e-mails and custom field reads (none when neither applies)."""
    lines: list[str] = []
    sent = emails(plan)
    if sent:
        lines.append(
            f"E-mails: applying sends {sent} e-mail(s) to customers; e-mails cannot be unsent "
            "(undo deletes the actions, not the e-mails)"
        )
    custom = custom_field_tickets(plan)
    if custom:
        lines.append(
            f"Custom fields: {custom} ticket(s) change custom fields; ticket lists do not "
            f"carry them, so planning read each of the {plan.scanned} listed ticket(s) once "
            f"and apply reads each of the {custom} again (1 request each, counted above); "
            "each write sends the ticket's whole custom field array"
        )
    return lines


def group_lines(plan: Plan, max_rows: int = 50) -> list[str]:
    """One line per group (at most ``max_rows``), then the total; none without groups."""
    if not plan.groups:
        return []
    never = "; cannot be undone" if plan.irreversible else ""
    lines = []
    for group in plan.groups[:max_rows]:
        ids = ", ".join(f"#{m}" for m in group.members[:_SHOWN_IDS])
        more = len(group.members) - _SHOWN_IDS
        ids += f" and {more} more" if more > 0 else ""
        lines.append(
            clean_text(
                f"Group: keep #{group.survivor} {group.survivor_summary[:60]!r}; duplicates "
                f"{ids} ({group.key}){never}"
            )
        )
    hidden = len(plan.groups) - max_rows
    if hidden > 0:
        lines.append(f"… and {hidden} more group(s)")
    members = sum(len(g.members) for g in plan.groups)
    lines.append(
        f"Groups: {len(plan.groups)}, with {members} duplicate(s) of {len(plan.groups)} "
        f"survivor(s){' (a merge cannot be undone)' if plan.irreversible else ''}"
    )
    return lines
