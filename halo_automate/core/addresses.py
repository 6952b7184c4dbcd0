"""Which hosts are this machine: the one rule behind every "loopback only" default.

The Halo ``base_url`` may be plain ``http`` only on loopback (:mod:`halo_automate.config`),
the daemon's health endpoint and the sandbox listen on loopback unless told otherwise. The
rule lives here, in the pure core with no third-party import, so the sandbox command can use it
without loading the config models (pydantic is most of a sandbox process's start-up time).
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
