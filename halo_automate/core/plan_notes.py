"""Lines a preview adds for the powers of issue 18: e-mails a run sends, custom field reads.

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
