"""The built-in sample of Halo's lookup lists that playbook test fixtures fall back on.

A fixture (:mod:`halo_automate.core.fixture_file`) may give any lookup list itself; every list
it leaves out comes from here, so a fixture names only what its playbook cares about. The
names and ids are the sandbox's (``sandbox/reference.py``), so a fixture written against the
sandbox reads the same here; the runtime never imports the sandbox, hence this small copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

Rows = Sequence[Mapping[str, Any]]


def _named(pairs: Sequence[tuple[int, str]], key: str = "name") -> list[dict[str, Any]]:
    return [{"id": i, key: n} for i, n in pairs]


_CATEGORY_1 = (
    "Hardware>Laptop", "Hardware>Desktop", "Hardware>Printer", "Hardware>Phone",
    "Software>Microsoft 365", "Software>Line of Business", "Software>Antivirus",
    "Network>Wi-Fi", "Network>VPN", "Network>Firewall", "Accounts>Password Reset",
    "Accounts>New Starter", "Accounts>Leaver", "Email>Exchange Online",
    "Email>Spam and Phishing",
)  # fmt: skip

SAMPLE_LOOKUPS: Mapping[str, Rows] = MappingProxyType(
    {
        "statuses": _named(
            [
                (1, "New"),
                (2, "In Progress"),
                (3, "Action Required"),
                (4, "Waiting on Customer"),
                (8, "Resolved"),
                (9, "Closed"),
                (21, "Suspected Spam"),
            ]
        ),
        "ticket_types": _named(
            [(1, "Incident"), (2, "Problem"), (3, "Change Request"), (4, "Service Request")]
        ),
        "teams": _named(
            [(1, "Service Desk"), (2, "Second Line"), (3, "Field Engineering"), (4, "Projects")]
        ),
        "agents": _named(
            [
                (1, "API User"),
                (2, "Alice Morgan"),
                (3, "Ben Carter"),
                (4, "Chloe Davies"),
                (5, "Daniel Evans"),
                (6, "Ella Foster"),
                (7, "Farid Khan"),
                (8, "Grace Hughes"),
                (9, "Hannah Lee"),
            ]
        ),
        "priorities": [
            {"priorityid": i, "name": n, "slaid": sla}
            for sla in (1, 2)
            for i, n in ((1, "Critical"), (2, "High"), (3, "Medium"), (4, "Low"))
        ],
        "outcomes": _named(
            [
                (1, "Reply to User"),
                (7, "Internal Note"),
                (9, "Close Ticket"),
                (12, "Status Change"),
            ],
            key="outcome",
        ),
        "clients": _named(
            [
                (1, "Contoso Ltd"),
                (2, "Northwind Traders"),
                (3, "Fabrikam Inc"),
                (4, "Adventure Works"),
                (5, "Tailspin Toys"),
                (6, "Wingtip Toys"),
                (7, "Litware Inc"),
                (8, "Proseware"),
                (9, "Woodgrove Bank"),
                (10, "Alpine Ski House"),
                (11, "Promo Print Co"),
                (12, "Blue Yonder Airlines"),
                (13, "Unknown Senders"),
            ]
        ),
        "category_1": _named(list(enumerate(_CATEGORY_1, start=1)), key="value"),
        "category_2": _named([(16, "Urgent Callback"), (17, "Scheduled Visit")], key="value"),
        "category_3": [],
        "category_4": [],
    }
)
"""Lookup kind -> rows as Halo serves them (each kind's id and name keys)."""
