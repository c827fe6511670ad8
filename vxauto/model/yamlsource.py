"""YAML loading that remembers where every value came from.

Validation errors must name the file, the YAML path and the line, so the loader keeps a map from
path tuples (``("segments", 2, "vni")``) to line numbers next to the plain Python data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vxauto.errors import VxautoError

PathKey = tuple[str | int, ...]


@dataclass
class YamlSource:
    """Data loaded from one YAML file plus the line of each node."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int | None:
        """The line of the deepest known node on `path` (a missing key points at its parent)."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None


def format_path(path: PathKey) -> str:
    """`("segments", 2, "vni")` -> `segments[2].vni`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


# libyaml's parser when available: the inventory of a 128-leaf fabric is read in milliseconds, not seconds.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader that rejects duplicate mapping keys instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first defined on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _record_lines(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _record_lines(value_node, (*path, key_node.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines)


def load_yaml_text(text: str, file: str) -> YamlSource:
    """Parse YAML text; a syntax error becomes a `VxautoError` naming the file and line."""
    loader = _UniqueKeyLoader(text)
    try:
        # One parse: compose the node tree (for line numbers), then construct the data from it.
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise VxautoError.single(file, "", f"YAML error: {exc.problem or exc}", line=line) from None
    except yaml.YAMLError as exc:
        raise VxautoError.single(file, "", f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[PathKey, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return YamlSource(file=file, data=data, lines=lines)


def load_yaml_file(path: Path, required: bool = True) -> YamlSource:
    """Load one YAML file; a missing optional file yields empty data."""
    if not path.exists():
        if required:
            raise VxautoError.single(str(path), "", "file not found")
        return YamlSource(file=str(path), data=None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VxautoError.single(str(path), "", f"cannot read file: {exc}") from None
    return load_yaml_text(text, str(path))
