"""The one exception tree of halo_automate.

::

    HaloAutomateError                 base; the CLI maps it to an exit code and one line
    ├── ConfigError                   bad or missing configuration key          (exit 2)
    ├── PlaybookError                 a playbook file is invalid (file:line)    (exit 2)
    ├── PlanError                     a plan cannot be built or read            (exit 2)
    ├── RefusedError                  a limit or the user refused; nothing written (exit 4)
    ├── JournalError                  the journal cannot be read or written     (exit 3)
    │   └── LockedError               another run of the playbook holds the lock
    └── HaloError                     Halo answered badly or not at all         (exit 3)
        ├── HaloAuthError             token refused, or 401/403 after a fresh token
        ├── HaloNotFoundError         404
        ├── HaloRateLimitedError      429 that outlasted the retry budget
        ├── HaloUnavailableError      5xx or transport failure after retries
        ├── HaloRejectedError         400: Halo refused the request, with its message
        └── HaloResponseError         a body that is not what Halo sends (bad JSON, short read)

httpx exceptions are translated in exactly one place, ``halo.client``; nothing above it
ever sees an httpx type.
"""

from __future__ import annotations

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127]} | {
    10: "\\n",
    13: "\\r",
    9: "\\t",
    0x85: "\\x85",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def one_line(text: str) -> str:
    """Escape control and line-break characters (from keys or values quoted in a message),
    so every problem the CLI prints stays on one line."""
    return text.translate(_CONTROL)


class HaloAutomateError(Exception):
    """Base of every error halo_automate raises on purpose."""

    exit_code = 1


class ConfigError(HaloAutomateError):
    exit_code = 2


class PlaybookError(HaloAutomateError):
    """One or more problems in playbook files; each is ``file:line:column: message``."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class PlanError(HaloAutomateError):
    exit_code = 2


class RefusedError(HaloAutomateError):
    """Refused by a limit or by the user before anything was written."""

    exit_code = 4


class JournalError(HaloAutomateError):
    exit_code = 3


class LockedError(JournalError):
    exit_code = 4


class HaloError(HaloAutomateError):
    """Halo answered with an error or not at all.

    ``endpoint`` is ``METHOD /api/Path``; ``status`` the HTTP status when there was one.
    """

    exit_code = 3

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None) -> None:
        self.message = message
        self.endpoint = endpoint
        self.status = status
        prefix = f"{endpoint}: " if endpoint else ""
        code = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"{prefix}{code}{message}")


class HaloAuthError(HaloError):
    pass


class HaloNotFoundError(HaloError):
    pass


class HaloRateLimitedError(HaloError):
    pass


class HaloUnavailableError(HaloError):
    pass


class HaloRejectedError(HaloError):
    pass


class HaloResponseError(HaloError):
    pass
