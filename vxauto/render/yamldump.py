"""Dump configuration data as YAML in the layout the vendor documents show.

Two kinds of strings need marking: `Quoted` values come from the intent (names, addresses, route targets)
and are single-quoted so that no YAML reader takes a name, RT or MAC for a number or boolean; `Switch` is an
NVUE on/off keyword, written bare (`enable: on`) as NVIDIA's own examples do.
"""

from __future__ import annotations

from typing import Any

import yaml


class Quoted(str):
    """A string from the intent, always single-quoted."""


class DoubleQuoted(str):
    """A string written in double quotes (netplan(5)'s examples quote addresses so)."""


class Switch(str):
    """An NVUE `on`/`off` keyword, written bare."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Sequences inside mappings are indented under their key (`addresses:\n  - ...`), as in netplan(5).
        super().increase_indent(flow, False)


# libyaml's emitter is some fifty times faster than the Python one but writes a sequence inside a mapping
# at its key's indentation: good for data without lists (NVUE), not for netplan's layout.
_FastDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _quoted(dumper: yaml.SafeDumper, value: Quoted) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="'")


def _double(dumper: yaml.SafeDumper, value: DoubleQuoted) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')


def _switch(dumper: yaml.SafeDumper, value: Switch) -> yaml.ScalarNode:
    # Tagged as a YAML 1.1 boolean so the emitter writes it plain; the text stays "on"/"off".
    return dumper.represent_scalar("tag:yaml.org,2002:bool", str(value))


for _dumper in (_Dumper, _FastDumper):
    _dumper.add_representer(Quoted, _quoted)
    _dumper.add_representer(DoubleQuoted, _double)
    _dumper.add_representer(Switch, _switch)

ON, OFF = Switch("on"), Switch("off")


def dump(data: Any, indent_sequences: bool = True) -> str:
    """YAML text of `data`; `indent_sequences=False` allows the fast emitter (lists at their key's indent)."""
    return yaml.dump(data, Dumper=_Dumper if indent_sequences else _FastDumper, sort_keys=False,
                     default_flow_style=False, width=1_000_000, allow_unicode=True)


def with_comments(text: str, comments: dict[str, str], indent: int) -> str:
    """Put a `# comment` line above the first mapping key `key:` at `indent` spaces, for each item of `comments`
    (PyYAML writes no comments; these say which link or segment a block is for)."""
    lines = text.splitlines(keepends=True)
    pad = " " * indent
    out: list[str] = []
    for line in lines:
        key = line[indent:].split(":", 1)[0] if line.startswith(pad) and line[indent] != " " else None
        if key is not None and key in comments:
            out.append(f"{pad}# {comments.pop(key)}\n")
        out.append(line)
    return "".join(out)
