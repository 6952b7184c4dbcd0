"""A playbook's ``approval:`` and ``notify:`` keys, and the pure rules they stand for.

Issue 16: a bulk change can wait for a second person. ``approval`` says when a plan waits
(``required: true``, or ``above: N`` changed tickets), how long it may wait (``expires``) and
whether the person who approves must be another than the one who planned
(``approver_must_differ``). ``notify`` says which run events are sent to which of the
config's channels (the channels themselves are in the config, :mod:`halo_automate.config.notify`).

Pure: the journal keeps what waits (:mod:`halo_automate.store.approvals`), the engine decides
(:mod:`halo_automate.engine.approvals`); this module only reads the keys and answers
"does this plan need approval" and "is this approver the planner".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from halo_automate.core.schedule import parse_duration

Event = Literal[
    "awaiting_approval",
    "approved",
    "rejected",
    "expired",
    "succeeded",
    "failed",
    "refused",
    "partial",
    "interrupted",
    "paused",
]
"""What a notification can be about: a run's ending, a decision on a waiting plan, or a
playbook paused by the runaway guard."""
EVENTS: tuple[str, ...] = get_args(Event)
DEFAULT_EVENTS: tuple[Event, ...] = ("awaiting_approval", "failed", "refused", "partial", "paused")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ApprovalPolicy(_Model):
    """``approval:`` of a playbook: ``required: true`` or ``above: N`` (not both)."""

    required: bool = False
    above: int | None = Field(None, ge=0)
    expires: str = "24h"
    approver_must_differ: bool = False

    @field_validator("expires")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # ValueError: pydantic reports it at approval.expires
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> ApprovalPolicy:
        if self.required and self.above is not None:
            raise ValueError("approval: give required: true or above: N, not both")
        if not self.required and self.above is None:
            raise ValueError("approval: say when a plan waits: required: true or above: N")
        return self

    @property
    def expires_after(self) -> timedelta:
        return parse_duration(self.expires)


class NotifyRule(_Model):
    """``notify:`` of a playbook: which events go to which configured channels."""

    on: tuple[Event, ...] = DEFAULT_EVENTS
    channels: tuple[str, ...] = Field(min_length=1)

    @field_validator("on", "channels", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value


def needs_approval(policy: ApprovalPolicy | None, changes: int, irreversible: bool = False) -> bool:
    """Does a plan of ``changes`` changed tickets wait for approval under ``policy``?
    A plan that changes nothing never waits (there is nothing to approve); one that cannot
    be undone (a merge) always waits when there is a policy, whatever ``above`` says."""
    if policy is None or changes == 0:
        return False
    if policy.required or irreversible:
        return True
    return policy.above is not None and changes > policy.above


def person(who: str) -> str:
    """The person in a journal's ``started_by`` (``user@host pid N``) or an approver name:
    the user part, lower-cased, so ``alice@desk pid 7`` and ``Alice`` are one person."""
    return who.strip().split("@", 1)[0].split(" ", 1)[0].casefold()


def same_person(planner: str, approver: str) -> bool:
    return person(planner) == person(approver)
