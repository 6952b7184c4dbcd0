"""The sandbox's fixed reference data: lookups, clients, retired categories (see notes/seed.md).

Every name and id here is part of a contract with the example playbooks and their tests;
change them only together.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

CLOSED_STATUS: Final = 9
SPAM_STATUS: Final = 21
UNKNOWN_CLIENT: Final = 13
API_AGENT: Final = 1

# (id, name, shortname, type, colour). ``type`` is the sandbox's guess (0 open, 1 waiting,
# 2 resolved, 3 closed): real Halo uses an int there whose meanings are not documented.
_STATUSES = (
    (1, "New", "New", 0, "#2f80ed"),
    (2, "In Progress", "InProg", 0, "#27ae60"),
    (3, "Action Required", "ActReq", 0, "#eb5757"),
    (4, "Waiting on Customer", "WaitCust", 1, "#f2c94c"),
    (8, "Resolved", "Resolved", 2, "#6fcf97"),
    (9, "Closed", "Closed", 3, "#828282"),
    (21, "Suspected Spam", "Spam", 0, "#9b51e0"),
)
STATUSES: Final[list[dict[str, Any]]] = [
    {"id": i, "name": n, "shortname": s, "type": t, "sequence": seq, "colour": c}
    for seq, (i, n, s, t, c) in enumerate(_STATUSES, start=1)
]

TICKET_TYPES: Final[list[dict[str, Any]]] = [
    {
        "id": i,
        "name": n,
        "group_id": 1,
        "group_name": "Support",
        "use": "ticket",
        "sequence": i,
        "visible": True,
        "cancreate": True,
        "agentscanselect": True,
    }
    for i, n in ((1, "Incident"), (2, "Problem"), (3, "Change Request"), (4, "Service Request"))
]

# SLAs and their priorities. Real Halo serves ``/api/Priority`` as one ``Policy`` row per
# (SLA, priority): ``id`` a GUID string, the priority's integer in ``priorityid``, the SLA in
# ``slaid`` (FACTS.md §9.1: SW2 ``Policy``; the HC live sweep saw 16 such rows). The same
# priority name appears once per SLA with the same ``priorityid``.
SLAS: Final[list[dict[str, Any]]] = [
    {"id": 1, "name": "Standard SLA"},
    {"id": 2, "name": "Premium SLA"},
]
_PRIORITY_ROWS = (
    (1, "Critical", "#d32f2f", 4, 1),
    (2, "High", "#f57c00", 8, 2),
    (3, "Medium", "#fbc02d", 24, 4),
    (4, "Low", "#388e3c", 72, 8),
)
PRIORITY_IDS: Final[dict[int, str]] = {i: n for i, n, *_ in _PRIORITY_ROWS}
"""priorityid -> name (what a ticket's ``priority_id`` refers to)."""


def policy_guid(slaid: int, priorityid: int) -> str:
    """The stable GUID of one (SLA, priority) row."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"halo-sandbox/policy/{slaid}/{priorityid}"))


PRIORITIES: Final[list[dict[str, Any]]] = [
    {
        "id": policy_guid(sla["id"], i),
        "slaid": sla["id"],
        "priorityid": i,
        "name": n,
        "colour": c,
        "fixtime": fix * (2 if sla["id"] == 1 else 1),
        "fixunits": "h",
        "responsetime": response,
        "responseunits": "h",
        "ishidden": False,
    }
    for sla in SLAS
    for i, n, c, fix, response in _PRIORITY_ROWS
]

TEAMS: Final[list[dict[str, Any]]] = [
    {
        "id": i,
        "name": n,
        "department_id": 1,
        "department_name": "Support",
        "inactive": False,
        "forrequests": True,
        "foropps": False,
        "forprojects": i == 4,
        "sequence": i,
    }
    for i, n in ((1, "Service Desk"), (2, "Second Line"), (3, "Field Engineering"), (4, "Projects"))
]

OUTCOMES: Final[list[dict[str, Any]]] = [
    {"id": i, "outcome": n, "buttonname": b, "newstatus": s, "hidefromuser": h}
    for i, n, b, s, h in (
        (1, "Reply to User", "Reply", 0, False),
        (7, "Internal Note", "Note", 0, True),
        (9, "Close Ticket", "Close", CLOSED_STATUS, False),
        (12, "Status Change", "Change Status", 0, True),
    )
]

# (id, name, team_id); id 1 is the agent the API application logs in as.
_AGENTS = (
    (1, "API User", 1),
    (2, "Alice Morgan", 1),
    (3, "Ben Carter", 1),
    (4, "Chloe Davies", 1),
    (5, "Daniel Evans", 2),
    (6, "Ella Foster", 2),
    (7, "Farid Khan", 3),
    (8, "Grace Hughes", 3),
    (9, "Hannah Lee", 4),
)
_TEAM_NAMES = {t["id"]: t["name"] for t in TEAMS}
AGENTS: Final[list[dict[str, Any]]] = [
    {
        "id": i,
        "name": n,
        "email": f"{n.lower().replace(' ', '.')}@msp.example",
        "team": _TEAM_NAMES[team],
        "team_id": team,
        "initials": "".join(p[0] for p in n.split()),
        "isdisabled": False,
        "is_agent": True,
    }
    for i, n, team in _AGENTS
]
AGENTS_BY_TEAM: Final[dict[int, list[int]]] = {
    t["id"]: [a for a, _, team in _AGENTS if team == t["id"] and a != API_AGENT] for t in TEAMS
}

CATEGORY_VALUES: Final = (
    "Hardware>Laptop",
    "Hardware>Desktop",
    "Hardware>Printer",
    "Hardware>Phone",
    "Software>Microsoft 365",
    "Software>Line of Business",
    "Software>Antivirus",
    "Network>Wi-Fi",
    "Network>VPN",
    "Network>Firewall",
    "Accounts>Password Reset",
    "Accounts>New Starter",
    "Accounts>Leaver",
    "Email>Exchange Online",
    "Email>Spam and Phishing",
)
CATEGORY2_VALUES: Final = ("Urgent Callback", "Scheduled Visit")
CATEGORIES: Final[list[dict[str, Any]]] = [
    {"id": i, "value": v, "category_name": v, "type_id": 1, "category_group_id": 0}
    for i, v in enumerate(CATEGORY_VALUES, start=1)
] + [
    {"id": i, "value": v, "category_name": v, "type_id": 2, "category_group_id": 0}
    for i, v in enumerate(CATEGORY2_VALUES, start=len(CATEGORY_VALUES) + 1)
]

RETIRED_CATEGORIES: Final[dict[str, str]] = {
    "Hardware>Fax": "Hardware>Printer",
    "Software>Office 2016": "Software>Microsoft 365",
    "Email>Exchange On-Premises": "Email>Exchange Online",
    "Network>Dial-up": "Network>VPN",
}
UNCATEGORISED_FIX: Final = "Software>Line of Business"

# (id, name, email domain)
CLIENT_ROWS: Final = (
    (1, "Contoso Ltd", "contoso.example"),
    (2, "Northwind Traders", "northwind.example"),
    (3, "Fabrikam Inc", "fabrikam.example"),
    (4, "Adventure Works", "adventure-works.example"),
    (5, "Tailspin Toys", "tailspintoys.example"),
    (6, "Wingtip Toys", "wingtiptoys.example"),
    (7, "Litware Inc", "litware.example"),
    (8, "Proseware", "proseware.example"),
    (9, "Woodgrove Bank", "woodgrovebank.example"),
    (10, "Alpine Ski House", "alpineskihouse.example"),
    (11, "Promo Print Co", "promoprint.example"),
    (12, "Blue Yonder Airlines", "blueyonder.example"),
    (UNKNOWN_CLIENT, "Unknown Senders", ""),
)
CONTOSO: Final = 1
WOODGROVE: Final = 9
PROMO_PRINT: Final = 11

# GET /api/InstanceInfo (FACTS.md §9.8: ``app_version``, ``database_version``, ``hosted_group``).
INSTANCE_INFO: Final[dict[str, Any]] = {
    "app_version": "2.216.1",
    "database_version": "2.216.1",
    "hosted_group": "stable",
    "instance_name": "sandbox",
}

# GET /api/Lookup?lookupid=N: Halo's generic lookup lists (HaloAPI's Connect-HaloAPI reads
# lookupid 11 on connect, FACTS.md §9.6). Rows are {id, name, lookupid}.
LOOKUP_LISTS: Final[dict[int, list[dict[str, Any]]]] = {
    11: [{"id": i, "name": n, "lookupid": 11} for i, n in ((1, "Europe/London"), (2, "UTC"))],
    17: [{"id": i, "name": n, "lookupid": 17} for i, n in ((1, "Email"), (2, "Phone"))],
}

# Ticket-type field settings (FACTS.md §9.4; SW2 ``RequestTypeField.fieldinfo.mandatory``).
# Which fields a type requires is a sandbox option (none by default); these are the labels
# Halo names them by in its refusal ("Details and Category were required", HaloAPI #21).
FIELD_LABELS: Final[dict[str, str]] = {
    "details": "Details",
    "category_1": "Category",
    "category_2": "Category 2",
    "user_id": "User",
    "agent_id": "Agent",
    "summary": "Summary",
}
CAB_MESSAGE: Final = "CODE:APP03/2 Please select the CAB members to approve"
