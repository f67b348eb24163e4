"""Load YAML and remember the line of every value, so schema errors can point at file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

Location = tuple[str | int, ...]


class YamlDocument:
    """Parsed YAML plus a map from each value's path (('analysis', 'window'), ('steps', 0)) to its line."""

    def __init__(self, data: Any, lines: dict[Location, int], source: str) -> None:
        self.data = data
        self.lines = lines
        self.source = source

    def where(self, loc: Location) -> str:
        """'file:line' for the deepest known prefix of loc (a missing field points at its parent)."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return f"{self.source}:{line}"
        return self.source


def _walk(node: yaml.Node, loc: Location, lines: dict[Location, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[loc + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, loc + (key,), lines)
            lines[loc + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, loc + (index,), lines)


def parse_yaml(text: str, source: str) -> YamlDocument:
    """Parse one YAML document; a syntax error raises ValueError naming source:line:column."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ValueError(f"{position}: not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML: {exc}") from exc
    lines: dict[Location, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return YamlDocument(data, lines, source)


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse a YAML file."""
    return parse_yaml(path.read_text(encoding="utf-8"), str(path))


def dotted(loc: Location) -> str:
    """A field path as a user writes it: analysis.window, steps[1]."""
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[") or "(top level)"


def plain_message(error: Mapping[str, Any], default: str | None = None) -> str:
    """One pydantic error in the lab's words: missing and unknown fields said plainly, else default or pydantic's."""
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return default or str(error["msg"]).removeprefix("Value error, ")
