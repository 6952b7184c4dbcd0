"""The one exception tree of halo_automate.

::

    HaloAutomateError                 base; the CLI maps it to an exit code and one line
    ├── ConfigError                   bad or missing configuration key          (exit 2)
    ├── PlaybookError                 a playbook file is invalid (file:line)    (exit 2)
    ├── PlanError                     a plan cannot be built or read            (exit 2)
    │   └── LookupMissError           a name or id Halo's lookup list lacks
    ├── RefusedError                  a limit or the user refused; nothing written (exit 4)
    ├── StoppedError                  a stop (SIGTERM/SIGINT) ended a run before it wrote (exit 5)
    ├── JournalError                  the journal cannot be read or written     (exit 3)
    │   └── LockedError               another run of the playbook holds the lock (exit 4)
    │       └── LockLostError         this run's lock was taken over: stop before any send
    └── HaloError                     Halo answered badly or not at all         (exit 3)
        ├── HaloAuthError             token refused, or 401/403 after a fresh token
        │   └── HaloPermissionError   403: the application or its agent lacks a permission
        ├── HaloNotFoundError         404
        ├── HaloRateLimitedError      429 that outlasted the retry budget
        ├── HaloUnavailableError      5xx or transport failure after retries
        │   └── WriteOutcomeUnknown   a write may or may not have landed: read back
        ├── HaloRejectedError         400: Halo refused the request, with its message
        └── HaloResponseError         a body that is not what Halo sends (bad JSON, short read)

Every exit code of the program is a member of :class:`ExitCode`; an error carries its own.
httpx exceptions are translated in exactly one place, ``halo.transport.Sender``; nothing
above it ever sees an httpx type.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code the program uses; ``--help`` lists them with their :attr:`meaning`."""

    OK = 0
    BUG = 1
    INVALID = 2
    UNREACHABLE = 3
    REFUSED = 4
    PARTIAL = 5

    @property
    def meaning(self) -> str:
        """What the code tells the caller, in a few words."""
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.BUG: "an unexpected error (a bug): the traceback is shown; "
    "for `plan --exit-code`: the plan has changes; for `test`: an expectation failed",
    ExitCode.INVALID: "invalid input: config, playbook, plan file, run id",
    ExitCode.UNREACHABLE: "Halo, its auth or the journal could not be used",
    ExitCode.REFUSED: "refused by a limit, a lock or the user: nothing was written",
    ExitCode.PARTIAL: "written, but some tickets failed or were skipped, or the run interrupted",
}


PLAN_HAS_CHANGES = ExitCode.BUG
"""``plan --exit-code`` exits 1 when the plan has changes (as ``git diff --exit-code`` does)."""
TEST_FAILED = ExitCode.BUG
"""``test`` exits 1 when an expectation of a playbook test fixture does not hold."""


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

    exit_code: ExitCode = ExitCode.BUG


class ConfigError(HaloAutomateError):
    exit_code = ExitCode.INVALID


class PlaybookError(HaloAutomateError):
    """One or more problems in playbook files; each is ``file:line:column: message``."""

    exit_code = ExitCode.INVALID

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class FixtureError(PlaybookError):
    """One or more problems in a playbook test fixture (``file:line:column: message``)."""


class PlanError(HaloAutomateError):
    exit_code = ExitCode.INVALID


class InstanceMismatchError(PlanError):
    """A saved plan made for another Halo instance than the one ``apply`` targets (refused
    before any request that writes; the message names both identities)."""


class PlanAppliedError(PlanError):
    """A saved plan whose run already wrote (or is still running): never applied twice."""


class LookupMissError(PlanError):
    """A name or id that a Halo lookup list does not contain (the message has a did-you-mean)."""

    def __init__(self, kind: str, value: object, hint: str = "") -> None:
        self.kind = kind
        self.value = value
        super().__init__(f"unknown {kind} {value!r}{hint}")


class LookupAmbiguousError(LookupMissError):
    """A name a lookup list holds under different ids (e.g. a priority whose ``priorityid``
    differs between SLAs, FACTS §9.1): the message names the ids and where each is used."""

    def __init__(self, kind: str, value: object, where: str) -> None:
        self.kind = kind
        self.value = value
        PlanError.__init__(self, f"{kind} {value!r} is ambiguous: {where}")


class RefusedError(HaloAutomateError):
    """Refused by a limit or by the user before anything was written."""

    exit_code = ExitCode.REFUSED


class StoppedError(HaloAutomateError):
    """A stop request (SIGTERM, SIGINT) ended a run while it was still reading or planning:
    nothing was written. The run is journaled ``interrupted``."""

    exit_code = ExitCode.PARTIAL


class JournalError(HaloAutomateError):
    exit_code = ExitCode.UNREACHABLE


class LockedError(JournalError):
    exit_code = ExitCode.REFUSED


class UnknownRunError(JournalError):
    """A run id the journal does not have: the input is wrong (exit 2), the journal is fine."""

    exit_code = ExitCode.INVALID


class LockLostError(LockedError):
    """This run's playbook lock was taken over (a stale heartbeat): it must not send again.

    Raised by the fence before every send; the run journals nothing further and leaves its
    pending rows to the new holder's recovery."""


class HaloError(HaloAutomateError):
    """Halo answered with an error or not at all.

    ``endpoint`` is ``METHOD /api/Path``; ``status`` the HTTP status when there was one.
    """

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None) -> None:
        self.message = message
        self.endpoint = endpoint
        self.status = status
        prefix = f"{endpoint}: " if endpoint else ""
        code = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"{prefix}{code}{message}")


class HaloAuthError(HaloError):
    pass


class HaloPermissionError(HaloAuthError):
    """403 (FACTS.md §9.3): the API application's permissions or its agent's role do not
    allow ``endpoint``; ``permission`` is what to grant (the message names both)."""

    def __init__(self, message: str, *, endpoint: str, permission: str) -> None:
        self.permission = permission
        super().__init__(message, endpoint=endpoint, status=403)


class HaloNotFoundError(HaloError):
    pass


class HaloRateLimitedError(HaloError):
    pass


class HaloUnavailableError(HaloError):
    pass


class WriteOutcomeUnknown(HaloUnavailableError):
    """A write may or may not have landed (500, timeout, dropped connection): read back."""


class HaloRejectedError(HaloError):
    pass


class HaloResponseError(HaloError):
    pass
