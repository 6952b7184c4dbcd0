"""Playbook YAML → a frozen, validated :class:`Playbook`; every problem is ``file:line:col``.

Loading is strict: the YAML is read by :mod:`halo_automate.core.playbook_yaml` (bounded, safe,
positions remembered), so each problem points at the offending key; at most
:data:`~halo_automate.core.playbook_yaml.MAX_PROBLEMS` problems are listed, each on one line.
Field names, operators, filter names, regexes, templates, durations and the schedule are all
checked here; each ``actions`` entry is read and checked by its kind
(:mod:`halo_automate.core.actions.registry`). Whether a status or team *name* exists is only
known from Halo's lookups, so that is checked when planning.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path as FilePath
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from halo_automate.core.actions.base import PlaybookAction
from halo_automate.core.actions.registry import ACTION_KINDS
from halo_automate.core.approval import ApprovalPolicy, NotifyRule
from halo_automate.core.conditions import Node, Path, Problem, parse_where
from halo_automate.core.group_rules import Keys, group_problems
from halo_automate.core.groups import GroupSpec, Keep
from halo_automate.core.incremental import parse_sweep
from halo_automate.core.instance_names import instances_problems
from halo_automate.core.lifecycle import LifecycleStep, parse_steps, problems_with_actions
from halo_automate.core.playbook_yaml import MAX_FILE_BYTES, MAX_PROBLEMS, Source, parse_text
from halo_automate.core.schedule import Schedule, parse_schedule
from halo_automate.core.selection import check_select
from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import PlaybookError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ACTION_ITEM = (
    "Input should be a valid dictionary or instance of Action"  # pydantic's wording, kept
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Limits(_Model):
    """``limits``: refuse a plan with more changed tickets than ``max_changes``; a scheduled
    playbook refused ``pause_after_refusals`` times in a row is paused (0: never)."""

    max_changes: int = Field(100, ge=1)
    pause_after_refusals: int = Field(3, ge=0)


class Expect(_Model):
    """``expect``: refuse a plan whose matched count is outside ``min``..``max``."""

    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Expect:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"expect.min ({self.min}) is larger than expect.max ({self.max})")
        return self


class PlaybookFile(_Model):
    """The top-level keys of a playbook file (the YAML schema); each ``actions`` entry is one
    key of :data:`~halo_automate.core.actions.registry.ACTION_KINDS`, read by its kind."""

    name: str | None = None
    description: str = ""
    schedule: str | None = None
    triggers: list[Literal["webhook"]] = Field(default_factory=list)
    mode: Literal["apply", "preview"] = "apply"
    select: dict[str, Any] = Field(default_factory=dict)
    where: dict[str, Any] | None = None
    actions: list[Any] = Field(min_length=1)
    lifecycle: list[Any] | None = None
    """Warn-then-close steps instead of ``actions`` (:mod:`halo_automate.core.lifecycle`)."""
    limits: Limits = Field(default_factory=Limits)
    expect: Expect | None = None
    halo_rules: bool = False
    instances: list[str] | None = None
    approval: ApprovalPolicy | None = None
    notify: NotifyRule | None = None
    full_sweep: str | None = None
    group: GroupSpec | None = None
    """Duplicate groups: the actions act on each group's duplicates (core/groups.py)."""
    keep: Keep = "oldest"
    irreversible: bool = False
    """Said by the author of a playbook with an action that cannot be undone (a merge)."""

    @field_validator("full_sweep")
    @classmethod
    def _check_sweep(cls, value: str | None) -> str | None:
        if value is not None:
            parse_sweep(value)  # a ValueError names the accepted forms
        return value


class Playbook(BaseModel):
    """A loaded, validated playbook (frozen)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str
    description: str
    schedule: Schedule | None
    mode: Literal["apply", "preview"]
    triggers: tuple[str, ...] = ()  # "webhook": also run on Halo's webhooks (service.webhooks)
    select: dict[str, Any]
    where: Node | None
    actions: tuple[PlaybookAction, ...]
    limits: Limits
    expect: Expect | None
    halo_rules: bool
    approval: ApprovalPolicy | None = None
    notify: NotifyRule | None = None
    path: str
    source_hash: str
    name_location: str
    instances: tuple[str, ...] | None = None
    """The config instances it may run on (None: all; see core/instance_scope.py)."""
    source: str = ""
    """The playbook's text (sha256 of its UTF-8 is ``source_hash``); plans carry it."""
    lifecycle: tuple[LifecycleStep, ...] = ()
    """Warn-then-close steps; ``actions`` then holds each step's action, in order."""
    full_sweep: str | None = None  # incremental runs: how often to read in full (None: config)
    group: GroupSpec | None = None
    keep: Keep = "oldest"
    irreversible: bool = False


# ---------------------------------------------------------------- pydantic errors


def _model_at(loc: Path, root: type[BaseModel] | None = PlaybookFile) -> type[BaseModel] | None:
    """The model that holds the keys at ``loc`` (list indexes skipped)."""
    model = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        model = _model_in(info.annotation) if info is not None else None
    return model


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _pydantic_problems(
    error: ValidationError,
    src: Source,
    root: type[BaseModel] | None = PlaybookFile,
    prefix: Path = (),
) -> None:
    for count, err in enumerate(error.errors()):
        inner: Path = tuple(err["loc"])
        loc: Path = (*prefix, *inner)
        if err["type"] == "extra_forbidden":
            model = _model_at(inner[:-1], root)
            allowed = list(model.model_fields) if model is not None else []
            key = str(loc[-1])
            hint = did_you_mean(key, allowed) if count < MAX_PROBLEMS else ""  # bounded cost
            src.add(loc, f"unknown key '{key}'{hint}")
            continue
        dotted = ".".join(str(p) for p in loc)
        if err["type"] == "missing":
            src.add(loc[:-1], f"missing key '{dotted}'")
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            src.add(loc, f"{dotted}: {message}" if dotted else message)


# ---------------------------------------------------------------- actions


def _parse_actions(raw: object, src: Source) -> list[PlaybookAction] | None:
    """Each ``actions`` entry read by its kind; None when any entry has a problem."""
    if not isinstance(raw, list):
        return None  # PlaybookFile reports it
    actions: list[PlaybookAction] = []
    for i, item in enumerate(raw):
        action = _parse_action(item, ("actions", i), src)
        if action is not None:
            actions.append(action)
    return actions if len(actions) == len(raw) else None


def _parse_action(item: object, path: Path, src: Source) -> PlaybookAction | None:
    if not isinstance(item, dict):
        src.add(path, f"{'.'.join(str(p) for p in path)}: {_ACTION_ITEM}")
        return None
    unknown = [key for key in item if key not in ACTION_KINDS]
    for key in unknown:
        hint = did_you_mean(key, list(ACTION_KINDS)) or f" (actions: {', '.join(ACTION_KINDS)})"
        src.add((*path, key), f"unknown key '{key}'{hint}")
    given = [key for key, value in item.items() if key in ACTION_KINDS and value is not None]
    parsed: list[PlaybookAction] = []
    for key in given:
        kind = ACTION_KINDS[key]
        try:
            parsed.append(PlaybookAction(kind, kind.parse(item[key])))
        except ValidationError as e:
            _pydantic_problems(e, src, kind.model(), (*path, key))
    if unknown or len(parsed) != len(given):
        return None
    if len(given) != 1:
        dotted = ".".join(str(p) for p in path)
        names = ", ".join(ACTION_KINDS)
        src.add(path, f"{dotted}: an action is exactly one of {names} (got {len(given)})")
        return None
    return parsed[0]


def _check_actions(actions: list[PlaybookAction], src: Source) -> None:
    writers: dict[str, Path] = {}
    for i, action in enumerate(actions):
        path: Path = ("actions", i, action.kind)
        for halo_field, key_path in action.definition.check(action.spec, path, src.add):
            if halo_field in writers:
                first = ".".join(str(p) for p in writers[halo_field])
                src.add(key_path, f"conflicting actions: {halo_field} is also set by {first}")
            else:
                writers[halo_field] = key_path
    if not any(a.definition.changes_ticket for a in actions):
        changing = [k.key for k in ACTION_KINDS.values() if k.changes_ticket]
        src.add(
            ("actions",),
            "a playbook whose actions are only notes would post the note again on every run "
            f"(a note changes nothing the conditions can see); add {_either(changing)}",
        )


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _normalise_actions(data: dict[str, object]) -> None:
    """``- close:`` with no value means ``close: {}`` (all defaults), for such kinds."""
    actions = data.get("actions")
    if isinstance(actions, list):
        for item in actions:
            if not isinstance(item, dict):
                continue
            for key, value in item.items():
                kind = ACTION_KINDS.get(key)
                if value is None and kind is not None and kind.empty_means_defaults:
                    item[key] = {}


# ---------------------------------------------------------------- loading


def _check_raw(data: dict[str, Any], src: Source) -> tuple[Node | None, Schedule | None]:
    where: Node | None = None
    problems: list[Problem] = []
    if isinstance(data.get("where"), dict):
        where, problems = parse_where(data["where"])
    if isinstance(data.get("select"), dict):
        problems += check_select(data["select"])
    for path, message in problems:
        src.add(path, message)
    schedule = None
    if isinstance(data.get("schedule"), str):
        try:
            schedule = parse_schedule(data["schedule"])
        except ValueError as e:
            src.add(("schedule",), f"schedule: {e}")
    name = data.get("name")
    if isinstance(name, str) and not _NAME.match(name):
        src.add(("name",), f"name {name!r}: use letters, digits, '.', '_' or '-' (max 64)")
    instances = data.get("instances")
    if isinstance(instances, list) and all(isinstance(i, str) for i in instances):
        for index, message in instances_problems(instances):
            src.add(("instances",) if index is None else ("instances", index), message)
    return where, schedule


def _validate(data: object, src: Source, source_hash: str) -> Playbook | None:
    if not isinstance(data, dict):
        if not src.problems:
            src.add((), "a playbook is a mapping of keys (name, select, where, actions, ...)")
        return None
    _normalise_actions(data)
    where, schedule = _check_raw(data, src)
    steps = None
    if "lifecycle" in data:  # the steps stand for the actions
        problems_with_actions(data, src.add)
        steps = parse_steps(data["lifecycle"], src.add)
        data = {**data, "actions": [s.action for s in steps or ()] or [None]}
    spec: PlaybookFile | None = None
    try:
        spec = PlaybookFile.model_validate(data)
    except ValidationError as e:
        _pydantic_problems(e, src)
    actions = list(data["actions"]) if steps else _parse_actions(data.get("actions"), src)
    if spec is None or actions is None:
        return None
    if steps is None:
        _check_actions(actions, src)
    unattended = spec.schedule is not None or bool(spec.triggers)
    keys = Keys(spec.group is not None, spec.irreversible, unattended, spec.approval is not None)
    group_problems(keys, actions, steps is not None, src.add)
    name = spec.name or FilePath(src.path).stem
    if spec.name is None and not _NAME.match(name):
        src.add((), f"the file name {name!r} is not a playbook name: add a 'name:' key")
    if src.problems:
        return None
    line, col = src.positions.get(("name",), (1, 1))
    return Playbook(
        name=name,
        description=spec.description,
        schedule=schedule,
        mode=spec.mode,
        triggers=tuple(dict.fromkeys(spec.triggers)),
        select=dict(spec.select),
        where=where,
        actions=tuple(actions),
        limits=spec.limits,
        expect=spec.expect,
        halo_rules=spec.halo_rules,
        instances=None if spec.instances is None else tuple(spec.instances),
        lifecycle=steps or (),
        approval=spec.approval,
        notify=spec.notify,
        full_sweep=spec.full_sweep,
        group=spec.group,
        keep=spec.keep,
        irreversible=spec.irreversible,
        path=src.path,
        source_hash=source_hash,
        name_location=f"{src.path}:{line}:{col}",
    )


def load_playbook_text(text: str, path: str = "<playbook>") -> Playbook:
    """Validate playbook YAML text; raise PlaybookError listing every problem."""
    src = Source(path)
    raw = text.encode("utf-8")
    if len(raw) > MAX_FILE_BYTES:
        raise PlaybookError([f"{path}:1:1: file is larger than 1 MB ({len(raw)} bytes)"])
    data = parse_text(text, src)
    playbook = _validate(data, src, hashlib.sha256(raw).hexdigest())
    if playbook is None:
        raise PlaybookError(src.formatted())
    return playbook.model_copy(update={"source": text})


def load_playbook(path: str | FilePath) -> Playbook:
    """Load and validate one playbook file; raise PlaybookError (``file:line:col: ...``)."""
    where = str(path)
    try:
        size = FilePath(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise PlaybookError([f"{where}:1:1: file is larger than 1 MB ({size} bytes)"])
        with open(path, "rb") as f:  # bounded: a FIFO or /dev/zero reports size 0
            raw = f.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise PlaybookError([f"{where}:1:1: file is larger than 1 MB"])
    except OSError as e:
        raise PlaybookError([f"{where}:1:1: cannot read: {e.strerror or e}"]) from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PlaybookError([f"{where}:1:1: not UTF-8 text ({e.reason})"]) from e
    playbook = load_playbook_text(text, where)
    # The hash is of the file's bytes, and the source is those bytes as text (a BOM kept).
    source = raw.decode("utf-8")
    return playbook.model_copy(
        update={"source_hash": hashlib.sha256(raw).hexdigest(), "source": source}
    )


FIXTURE_SUFFIXES = (".test.yaml", ".test.yml")
"""Playbook test fixtures (``NAME.test.yaml``, :mod:`halo_automate.core.fixture_file`) may sit
beside playbooks; a directory's playbooks never include them."""


def playbook_files(paths_or_dir: str | FilePath | Iterable[str | FilePath]) -> list[FilePath]:
    """Expand a directory (``*.yaml``, ``*.yml``, sorted, not fixtures) or a list of paths."""
    items = [paths_or_dir] if isinstance(paths_or_dir, str | FilePath) else list(paths_or_dir)
    files: list[FilePath] = []
    for item in items:
        p = FilePath(item)
        if p.is_dir():
            found = [*p.glob("*.yaml"), *p.glob("*.yml")]
            files.extend(sorted(f for f in found if not f.name.endswith(FIXTURE_SUFFIXES)))
        else:
            files.append(p)
    return files


def load_playbooks(
    paths_or_dir: str | FilePath | Iterable[str | FilePath],
) -> tuple[list[Playbook], list[str]]:
    """Load every playbook; return the valid ones and the problems of the others.

    A name used by two files is a problem for the second (it is left out).
    """
    playbooks: list[Playbook] = []
    problems: list[str] = []
    for _, playbook, found in each_playbook(playbook_files(paths_or_dir)):
        problems.extend(found)
        if playbook is not None:
            playbooks.append(playbook)
    return playbooks, problems


def each_playbook(
    paths: Iterable[FilePath], load: Callable[[FilePath], Playbook] = load_playbook
) -> Iterable[tuple[FilePath, Playbook | None, list[str]]]:
    """Each file in order with its playbook (None when left out) and its problems.

    ``load`` reads one file (the daemon's keeps a broken file's previous good version). A
    name already used by an earlier file is a problem of the later one, which is left out.
    """
    by_name: dict[str, Playbook] = {}
    for path in paths:
        try:
            playbook = load(path)
        except PlaybookError as e:
            yield path, None, e.problems
            continue
        first = by_name.get(playbook.name)
        if first is None:
            by_name[playbook.name] = playbook
            yield path, playbook, []
            continue
        used = f"playbook name '{playbook.name}' is already used by {first.path}"
        yield path, None, [f"{playbook.name_location}: {used}"]
