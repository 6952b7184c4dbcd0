"""Playbook YAML → a frozen, validated :class:`Playbook`; every problem is ``file:line:col``.

Loading is strict: the YAML is read with a safe loader that refuses aliases (no expansion
bombs), duplicate keys, files over 1 MB, more than :data:`MAX_NODES` values, nesting deeper
than :data:`MAX_YAML_DEPTH` (checked while scanning: deep flow nesting makes PyYAML's scanner
quadratic) and over-long numbers, and remembers where every key and list item sits, so each
problem points at the offending key; at most :data:`MAX_PROBLEMS` problems are listed, each on
one line. Field names, operators, filter names, regexes, templates, durations and the schedule
are all checked here; whether a status or team *name* exists is only known from Halo's
lookups, so that is checked when planning.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Literal, TypeAlias, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from halo_automate.core.conditions import Node, Path, Problem, parse_where
from halo_automate.core.fields import ticket_fields, ticket_list_fields
from halo_automate.core.schedule import Schedule, parse_schedule
from halo_automate.core.selection import check_select
from halo_automate.core.suggest import did_you_mean
from halo_automate.core.yamlsafe import BoundedLoader, YamlProblem
from halo_automate.errors import PlaybookError, one_line

MAX_FILE_BYTES = 1_048_576
MAX_DEPTH = 50
MAX_YAML_DEPTH = 200  # refused while scanning/composing, before any recursion limit
MAX_NODES = 10_000  # YAML values in one file (bounds load time: up to ~90 us per value)
MAX_NUMBER_CHARS = 64  # longer integers are refused (int() of 1:1:1... is quadratic)
MAX_PROBLEMS = 50
MAX_PROBLEM_CHARS = 500
CATEGORY_FIELDS = ("category_1", "category_2", "category_3", "category_4")
TEMPLATE_VARIABLES = ("playbook", "run_id", "ticket.<field>")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# `set` keys that take a name and resolve through the lookups -> the Halo fields they write.
SET_NAMES: dict[str, tuple[str, ...]] = {
    "status": ("status_id",),
    "team": ("team_id", "team"),
    "agent": ("agent_id",),
    "priority": ("priority_id",),
    "tickettype": ("tickettype_id",),
    **{name: (name,) for name in CATEGORY_FIELDS},
}
_SET_VALUE_KINDS: dict[str, type | tuple[type, ...]] = {
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "string": str,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Limits(_Model):
    """``limits``: refuse a plan with more changed tickets than ``max_changes``."""

    max_changes: int = Field(100, ge=1)


class Expect(_Model):
    """``expect``: refuse a plan whose matched count is outside ``min``..``max``."""

    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Expect:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"expect.min ({self.min}) is larger than expect.max ({self.max})")
        return self


class CloseSpec(_Model):
    """``close``: an action with an outcome and the closed status, plus an optional note."""

    status: str = "Closed"
    note: str | None = None
    outcome: str | None = None
    private: bool = True
    email: bool = False


class NoteSpec(_Model):
    """``note``: a note action, posted only on tickets that get another change."""

    text: str = Field(min_length=1)
    private: bool = True
    outcome: str | None = None


class RecategorizeSpec(_Model):
    """``recategorize``: replace retired category values (and optionally empty ones)."""

    field: Literal["category_1", "category_2", "category_3", "category_4"]
    map: dict[str, str] = Field(default_factory=dict)
    empty: str | None = None


class Action(_Model):
    """One entry of ``actions``: exactly one of its keys."""

    set: dict[str, Any] | None = None
    close: CloseSpec | None = None
    note: NoteSpec | None = None
    recategorize: RecategorizeSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            names = ", ".join(type(self).model_fields)
            raise ValueError(f"an action is exactly one of {names} (got {len(given)})")
        return self

    @property
    def kind(self) -> str:
        """Which key this action uses."""
        return next(n for n in type(self).model_fields if getattr(self, n) is not None)


class PlaybookFile(_Model):
    """The top-level keys of a playbook file (the YAML schema)."""

    name: str | None = None
    description: str = ""
    schedule: str | None = None
    mode: Literal["apply", "preview"] = "apply"
    select: dict[str, Any] = Field(default_factory=dict)
    where: dict[str, Any] | None = None
    actions: list[Action] = Field(min_length=1)
    limits: Limits = Field(default_factory=Limits)
    expect: Expect | None = None
    halo_rules: bool = False


class Playbook(BaseModel):
    """A loaded, validated playbook (frozen)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str
    description: str
    schedule: Schedule | None
    mode: Literal["apply", "preview"]
    select: dict[str, Any]
    where: Node | None
    actions: tuple[Action, ...]
    limits: Limits
    expect: Expect | None
    halo_rules: bool
    path: str
    source_hash: str
    name_location: str


# ---------------------------------------------------------------- templates

TemplatePieces: TypeAlias = tuple[tuple[str, str | None], ...]


def parse_template(text: str) -> TemplatePieces:
    """Split a note template into (literal, variable) pieces; ValueError names the problem."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise ValueError(f"bad template {text!r}: {e} (write {{{{ and }}}} for braces)") from e
    pieces: list[tuple[str, str | None]] = []
    for literal, variable, spec, conversion in parsed:
        if variable is not None:
            if spec or conversion:
                raise ValueError(f"template variable {{{variable}}} takes no format or conversion")
            _check_variable(variable)
        pieces.append((literal, variable))
    return tuple(pieces)


def _check_variable(variable: str) -> None:
    if variable in ("playbook", "run_id"):
        return
    if variable.startswith("ticket."):
        name = variable.removeprefix("ticket.")
        if name not in ticket_list_fields():
            hint = did_you_mean(name, ticket_list_fields())
            raise ValueError(f"unknown ticket field in template {{{variable}}}{hint}")
        return
    hint = did_you_mean(variable, ["playbook", "run_id", "ticket.summary"])
    raise ValueError(
        f"unknown template variable {{{variable}}}{hint}: use {{playbook}}, {{run_id}} or "
        "{ticket.<field>}"
    )


def render_template(
    pieces: TemplatePieces, *, playbook: str, run_id: str, ticket: Mapping[str, Any]
) -> str:
    """Fill a parsed template; a missing or null ticket field renders as ''."""
    out: list[str] = []
    for literal, variable in pieces:
        out.append(literal)
        if variable == "playbook":
            out.append(playbook)
        elif variable == "run_id":
            out.append(run_id)
        elif variable is not None:
            value = ticket.get(variable.removeprefix("ticket."))
            out.append("" if value is None else str(value))
    return "".join(out)


# ---------------------------------------------------------------- YAML with positions


class _Loader(BoundedLoader):
    """Bounded safe loading (see yamlsafe): no aliases (no billion-laughs expansion), nesting
    and size capped while reading, so hostile input costs bounded time and memory."""

    max_depth = MAX_YAML_DEPTH
    max_nodes = MAX_NODES
    alias_message = "YAML aliases (*name) are not allowed in playbooks"
    nodes_message = (
        "more than {max_nodes} YAML values (playbooks are far smaller: is this the right file?)"
    )
    depth_message = "YAML is nested too deeply (more than {max_depth} levels)"


@dataclass
class _Source:
    """A file being loaded: where each key/item is, and the problems found so far."""

    path: str
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    problems: list[tuple[tuple[int, int], str]] = field(default_factory=list)

    def locate(self, path: Path) -> tuple[int, int]:
        for end in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:end]))
            if found is not None:
                return found
        return (1, 1)

    def add(self, path: Path, message: str) -> None:
        self.problems.append((self.locate(path), message))

    def add_at(self, mark: yaml.Mark | None, message: str) -> None:
        where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        self.problems.append((where, message))

    def formatted(self) -> list[str]:
        ordered = sorted(self.problems, key=lambda p: p[0])
        lines = [
            f"{self.path}:{line}:{col}: {_clip(one_line(message))}"
            for (line, col), message in ordered
        ]
        if len(lines) <= MAX_PROBLEMS:
            return lines
        (line, col), _ = ordered[MAX_PROBLEMS]
        more = len(lines) - MAX_PROBLEMS
        return [*lines[:MAX_PROBLEMS], f"{self.path}:{line}:{col}: ... and {more} more problems"]


def _clip(message: str) -> str:
    """A problem quoting a huge value is cut, not printed whole."""
    if len(message) <= MAX_PROBLEM_CHARS:
        return message
    return message[: MAX_PROBLEM_CHARS - 4] + " ..."


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _read_yaml(text: str, src: _Source) -> object:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        src.positions[()] = _mark(node)
        return _to_python(loader, node, (), src, 0)
    finally:
        loader.dispose()


_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")
)


def _to_python(loader: _Loader, node: yaml.Node, path: Path, src: _Source, depth: int) -> object:
    if depth > MAX_DEPTH:
        raise YamlProblem(node.start_mark, f"nested more than {MAX_DEPTH} levels deep")
    if node.tag not in _TAGS:
        raise YamlProblem(node.start_mark, f"YAML tag {node.tag!r} is not allowed in playbooks")
    if isinstance(node, yaml.MappingNode):
        return _mapping(loader, node, path, src, depth)
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            src.positions[(*path, i)] = _mark(item)
            items.append(_to_python(loader, item, (*path, i), src, depth + 1))
        return items
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value  # dates stay text; conditions parse them as Halo dates
    if node.tag == "tag:yaml.org,2002:int" and len(str(node.value)) > MAX_NUMBER_CHARS:
        raise YamlProblem(node.start_mark, f"number longer than {MAX_NUMBER_CHARS} characters")
    return loader.construct_object(node)


def _mapping(
    loader: _Loader, node: yaml.MappingNode, path: Path, src: _Source, depth: int
) -> dict[str, object]:
    out: dict[str, object] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise YamlProblem(key_node.start_mark, "a key must be plain text")
        key = str(key_node.value)
        key_path = (*path, key)
        if key in out:
            first = src.positions[key_path][0]
            src.add_at(key_node.start_mark, f"duplicate key '{key}' (first given on line {first})")
            continue
        src.positions[key_path] = _mark(key_node)
        out[key] = _to_python(loader, value_node, key_path, src, depth + 1)
    return out


def _parse_text(text: str, src: _Source) -> object:
    try:
        return _read_yaml(text, src)
    except YamlProblem as e:
        src.add_at(e.mark, e.message)
    except yaml.MarkedYAMLError as e:
        problem = " ".join(str(e.problem or e).split())
        src.add_at(e.problem_mark or e.context_mark, f"YAML: {problem}")
    except yaml.reader.ReaderError as e:  # a character YAML cannot read (said at 1:1)
        pos = max(0, min(e.position, len(text)))
        line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        what, _, why = str(e).splitlines()[0].partition(": ")
        src.add_at(None, f"YAML: {what} at line {line}, column {col}: {why}")
    except yaml.YAMLError as e:
        src.add_at(None, "YAML: " + " ".join(str(e).split()))
    except RecursionError:
        src.add_at(None, "YAML is nested too deeply")
    return None


# ---------------------------------------------------------------- pydantic errors


def _model_at(loc: Path) -> type[BaseModel] | None:
    """The model that holds the keys at ``loc`` (list indexes skipped)."""
    model: type[BaseModel] | None = PlaybookFile
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


def _pydantic_problems(error: ValidationError, src: _Source) -> None:
    for count, err in enumerate(error.errors()):
        loc: Path = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            model = _model_at(loc[:-1])
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


# ---------------------------------------------------------------- action checks


def _check_actions(actions: list[Action], src: _Source) -> None:
    writers: dict[str, Path] = {}
    for i, action in enumerate(actions):
        path: Path = ("actions", i, action.kind)
        for halo_field, key_path in _action_writes(action, path, src):
            if halo_field in writers:
                first = ".".join(str(p) for p in writers[halo_field])
                src.add(key_path, f"conflicting actions: {halo_field} is also set by {first}")
            else:
                writers[halo_field] = key_path
    if all(a.kind == "note" for a in actions):
        src.add(
            ("actions",),
            "a playbook whose actions are only notes would post the note again on every run "
            "(a note changes nothing the conditions can see); add set, close or recategorize",
        )


def _action_writes(action: Action, path: Path, src: _Source) -> list[tuple[str, Path]]:
    if action.set is not None:
        return _check_set(action.set, path, src)
    if action.close is not None:
        _check_template(action.close.note, (*path, "note"), src)
        return [("status_id", path)]
    if action.note is not None:
        _check_template(action.note.text, (*path, "text"), src)
        return []
    assert action.recategorize is not None
    _check_recategorize(action.recategorize, path, src)
    return [(action.recategorize.field, path)]


def _check_template(text: str | None, path: Path, src: _Source) -> None:
    if text is not None:
        try:
            parse_template(text)
        except ValueError as e:
            src.add(path, str(e))


def _check_set(values: Mapping[str, Any], path: Path, src: _Source) -> list[tuple[str, Path]]:
    if not values:
        src.add(path, "'set' needs at least one field")
    writes: list[tuple[str, Path]] = []
    for name, value in values.items():
        key_path = (*path, name)
        problem = _set_problem(name, value)
        if problem:
            src.add(key_path, problem)
        writes.extend((halo_field, key_path) for halo_field in SET_NAMES.get(name, (name,)))
    return writes


def _set_problem(name: str, value: object) -> str | None:
    if name in SET_NAMES:
        ok = isinstance(value, str) and value != ""
        if not name.startswith("category_"):
            ok = ok or (isinstance(value, int) and not isinstance(value, bool))
        return None if ok else f"set {name}: give a name, not {value!r}"
    if name == "id" or name.startswith("_"):
        return f"set {name}: '{name}' is not ticket state and cannot be set by a playbook"
    halo_type = ticket_fields().get(name)
    if halo_type is None:
        hint = did_you_mean(name, [*SET_NAMES, *ticket_fields()])
        return f"set: unknown ticket field '{name}'{hint}"
    if name not in ticket_list_fields():
        return (
            f"set {name}: ticket lists do not show '{name}', so a plan could not tell whether a "
            "ticket already holds the value (the change would repeat on every run)"
        )
    wanted = _SET_VALUE_KINDS.get(halo_type)
    bad_bool = isinstance(value, bool) and halo_type != "boolean"
    if value is None or bad_bool or (wanted is not None and not isinstance(value, wanted)):
        return f"set {name}: {value!r} is not a {halo_type} value"
    return None


def _check_recategorize(spec: RecategorizeSpec, path: Path, src: _Source) -> None:
    if not spec.map and spec.empty is None:
        src.add(path, "recategorize needs a 'map' of old -> new values, or 'empty'")
    for old, new in spec.map.items():
        key_path = (*path, "map", old)
        if old == "":
            src.add(key_path, "map an empty value with 'empty:', not an empty key")
        elif old == new:
            src.add(key_path, f"recategorize maps {old!r} to itself")
        elif new in spec.map and spec.map[new] != new:
            src.add(key_path, f"{new!r} is both a target and a key of the map (chained remap)")
        if new == "":
            src.add(key_path, f"recategorize maps {old!r} to an empty value")
    if spec.empty == "":
        src.add((*path, "empty"), "'empty' needs a category value")
    elif spec.empty is not None and spec.empty in spec.map:
        src.add((*path, "empty"), f"{spec.empty!r} is both the empty target and a map key")


# ---------------------------------------------------------------- loading


def _normalise_actions(data: dict[str, object]) -> None:
    """``- close:`` with no value means ``close: {}`` (all defaults)."""
    actions = data.get("actions")
    if isinstance(actions, list):
        for item in actions:
            if isinstance(item, dict) and "close" in item and item["close"] is None:
                item["close"] = {}


def _check_raw(data: dict[str, Any], src: _Source) -> tuple[Node | None, Schedule | None]:
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
    return where, schedule


def _validate(data: object, src: _Source, source_hash: str) -> Playbook | None:
    if not isinstance(data, dict):
        if not src.problems:
            src.add((), "a playbook is a mapping of keys (name, select, where, actions, ...)")
        return None
    _normalise_actions(data)
    where, schedule = _check_raw(data, src)
    try:
        spec = PlaybookFile.model_validate(data)
    except ValidationError as e:
        _pydantic_problems(e, src)
        return None
    _check_actions(spec.actions, src)
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
        select=dict(spec.select),
        where=where,
        actions=tuple(spec.actions),
        limits=spec.limits,
        expect=spec.expect,
        halo_rules=spec.halo_rules,
        path=src.path,
        source_hash=source_hash,
        name_location=f"{src.path}:{line}:{col}",
    )


def load_playbook_text(text: str, path: str = "<playbook>") -> Playbook:
    """Validate playbook YAML text; raise PlaybookError listing every problem."""
    src = _Source(path)
    raw = text.encode("utf-8")
    if len(raw) > MAX_FILE_BYTES:
        raise PlaybookError([f"{path}:1:1: file is larger than 1 MB ({len(raw)} bytes)"])
    data = _parse_text(text, src)
    playbook = _validate(data, src, hashlib.sha256(raw).hexdigest())
    if playbook is None:
        raise PlaybookError(src.formatted())
    return playbook


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
    # The hash is of the file's bytes, whatever the encoding details.
    return playbook.model_copy(update={"source_hash": hashlib.sha256(raw).hexdigest()})


def playbook_files(paths_or_dir: str | FilePath | Iterable[str | FilePath]) -> list[FilePath]:
    """Expand a directory (``*.yaml``, ``*.yml``, sorted) or a list of paths."""
    items = [paths_or_dir] if isinstance(paths_or_dir, str | FilePath) else list(paths_or_dir)
    files: list[FilePath] = []
    for item in items:
        p = FilePath(item)
        if p.is_dir():
            files.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
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
