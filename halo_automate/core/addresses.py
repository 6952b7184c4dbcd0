"""Which hosts are this machine: the one rule behind every "loopback only" default.

The Halo ``base_url`` may be plain ``http`` only on loopback (:mod:`halo_automate.config`),
the daemon's health endpoint, its webhook listener, the web console and the sandbox listen
on loopback unless told otherwise. The
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


def split_host_port(text: str, example: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6; an empty host is 127.0.0.1) -> (host, port).
    Every listener's address (health, webhooks, web console) is read here; ValueError names
    the form expected, with ``example``."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"expected host:port, e.g. {example}, not {text!r}")
    return host.removeprefix("[").removesuffix("]") or "127.0.0.1", int(port_text)
