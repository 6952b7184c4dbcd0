"""A bounded safe YAML loader shared by the playbook and config readers.

YAML's safe loader still lets hostile text cost unbounded time or memory: aliases expand
("billion laughs"), deep flow nesting makes the reader quadratic, and a document can hold
millions of values. :class:`BoundedLoader` refuses aliases outright and caps depth and value
count *while it reads*; each refusal is a :class:`YamlProblem` carrying the position, which
callers turn into their own ``file:line:column`` error.
"""

from __future__ import annotations

from typing import Any

import yaml


class YamlProblem(yaml.MarkedYAMLError):
    """A refusal at a position in the text."""

    def __init__(self, mark: Any, message: str) -> None:
        super().__init__(problem=message, problem_mark=mark)
        self.mark = mark
        self.message = message


class BoundedLoader(yaml.SafeLoader):
    """Safe loading with no aliases, at most ``max_nodes`` values, ``max_depth`` levels.

    Subclasses set the limits and the wording (``alias_message``, ``nodes_message``,
    ``depth_message``) for their kind of file.
    """

    max_depth = 50
    max_nodes = 10_000
    alias_message = "YAML aliases (*name) are not allowed"
    nodes_message = "more than {max_nodes} values"
    depth_message = "nested more than {max_depth} levels deep"

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def _too_deep(self) -> str:
        return self.depth_message.format(max_depth=self.max_depth)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            raise YamlProblem(event.start_mark, self.alias_message)
        self._nodes += 1
        if self._nodes > self.max_nodes:
            raise YamlProblem(event.start_mark, self.nodes_message.format(max_nodes=self.max_nodes))
        if self._depth >= self.max_depth:
            raise YamlProblem(event.start_mark, self._too_deep())
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level >= self.max_depth:
            raise YamlProblem(self.get_mark(), self._too_deep())
        super().fetch_flow_collection_start(token_class)
