"""A playbook file's YAML → plain Python values, remembering where every key and item sits.

Bounded safe loading (see :mod:`halo_automate.core.yamlsafe`): no aliases, no tags beyond
YAML's plain ones, duplicate keys refused, nesting, value count and number length capped while
reading, so hostile input costs bounded time and memory. :class:`Source` keeps each key's
``line:col`` and collects problems as ``file:line:col: message`` lines (at most
:data:`MAX_PROBLEMS`, each clipped to one line of :data:`MAX_PROBLEM_CHARS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from halo_automate.core.conditions import Path
from halo_automate.core.yamlsafe import BoundedLoader, YamlProblem
from halo_automate.errors import one_line

MAX_FILE_BYTES = 1_048_576
MAX_DEPTH = 50
MAX_YAML_DEPTH = 200  # refused while scanning/composing, before any recursion limit
MAX_NODES = 10_000  # YAML values in one file (bounds load time: up to ~90 us per value)
MAX_NUMBER_CHARS = 64  # longer integers are refused (int() of 1:1:1... is quadratic)
MAX_PROBLEMS = 50
MAX_PROBLEM_CHARS = 500


class PlaybookLoader(BoundedLoader):
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
class Source:
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


def _read_yaml(text: str, src: Source) -> object:
    loader = PlaybookLoader(text)
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


def _to_python(
    loader: PlaybookLoader, node: yaml.Node, path: Path, src: Source, depth: int
) -> object:
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
    loader: PlaybookLoader, node: yaml.MappingNode, path: Path, src: Source, depth: int
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


def parse_text(text: str, src: Source) -> object:
    """The YAML text as Python values (None when unreadable: the problem is in ``src``)."""
    try:
        return _read_yaml(text, src)
    except YamlProblem as e:
        src.add_at(e.mark, e.message)
    except yaml.MarkedYAMLError as e:
        problem = " ".join(str(e.problem or e).split())
        if "'\\t'" in problem:
            problem += "; indent with spaces, not tabs"
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
