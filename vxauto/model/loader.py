"""Read an inventory directory into validated intent objects.

The directory is a Nornir SimpleInventory (`hosts.yaml`, `groups.yaml`, `defaults.yaml`) plus
`fabric.yaml` for the fabric-wide intent (fabric settings, tenants, segments). Host `data` is resolved
with Nornir's own precedence: the host, then its groups in order (depth first), then the defaults.
Every value remembers the file and YAML path it came from, so errors point at the right line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vxauto.errors import Problem, VxautoError
from vxauto.model.schema import (
    DESCRIPTION_PATTERN,
    INTERFACE_PATTERN,
    MAC_PATTERN,
    NAME_PATTERN,
    FabricIntent,
    HostIntent,
)
from vxauto.model.yamlsource import PathKey, YamlSource, format_path, load_yaml_file

# Host data keys for other tools (Ansible variables, site extensions) must say so with a prefix; any
# other unknown key under `data:` is treated as a typo of a vxauto field and rejected.
FOREIGN_DATA_PREFIXES = ("x_", "ansible_")

# The keys Nornir's SimpleInventory understands on a host or group; anything else is a typo.
NORNIR_KEYS = frozenset(
    {"hostname", "port", "username", "password", "platform", "groups", "data", "connection_options"}
)


@dataclass(frozen=True)
class Origin:
    """Where a resolved value was written."""

    source: YamlSource
    path: PathKey


@dataclass
class RawInventory:
    directory: Path
    fabric: YamlSource
    hosts: YamlSource
    groups: YamlSource
    defaults: YamlSource


@dataclass
class ResolvedHost:
    name: str
    values: dict[str, Any]
    origins: dict[str, Origin] = field(default_factory=dict)

    def origin_of(self, loc: tuple[str | int, ...]) -> tuple[YamlSource, PathKey]:
        """Map a pydantic error location inside this host back to a file and YAML path."""
        if loc and loc[0] == "data" and len(loc) > 1 and f"data.{loc[1]}" in self.origins:
            origin = self.origins[f"data.{loc[1]}"]
            return origin.source, (*origin.path, *loc[2:])
        if loc and str(loc[0]) in self.origins:
            origin = self.origins[str(loc[0])]
            return origin.source, (*origin.path, *loc[1:])
        origin = self.origins["__host__"]
        return origin.source, (*origin.path, *loc)


def read_inventory(directory: Path) -> RawInventory:
    if not directory.is_dir():
        raise VxautoError.single(str(directory), "", "inventory directory not found")
    return RawInventory(
        directory=directory,
        fabric=load_yaml_file(directory / "fabric.yaml"),
        hosts=load_yaml_file(directory / "hosts.yaml"),
        groups=load_yaml_file(directory / "groups.yaml", required=False),
        defaults=load_yaml_file(directory / "defaults.yaml", required=False),
    )


def problems_from_validation(
    error: ValidationError, locate: Any, default_source: YamlSource, prefix: PathKey = ()
) -> list[Problem]:
    """Turn pydantic errors into Problems naming file, YAML path, line and value."""
    problems = []
    for detail in error.errors(include_url=False):
        loc = tuple(part for part in detail["loc"] if not _is_union_tag(part))
        source, path = locate(loc) if locate else (default_source, (*prefix, *loc))
        value = detail.get("input")
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message, value = "unknown field", None
        elif detail["type"] == "missing":
            message, value = "required field is missing", None
        elif detail["type"] == "string_pattern_mismatch":
            pattern = (detail.get("ctx") or {}).get("pattern", "")
            message = PATTERN_MESSAGES.get(pattern, message)
        if isinstance(value, dict | list):
            value = None
        problems.append(Problem(source.file, format_path(path), message, value, source.line_of(path)))
    return problems


PATTERN_MESSAGES = {
    NAME_PATTERN: "must be 1-32 characters: letters, digits, '_', '.', '-' (no spaces, line breaks or quotes)",
    DESCRIPTION_PATTERN: "may only hold letters, digits, spaces and _ . , : / ( ) @ + = - (no line breaks, "
    "quotes, ';', '!', '#', '{', '}'), 120 characters at most",
    INTERFACE_PATTERN: "is not a valid interface name (letters, digits, _ . / : -; no spaces)",
    MAC_PATTERN: "must be a MAC address like 00:1c:73:00:00:01",
}


def _is_union_tag(part: str | int) -> bool:
    # pydantic adds the union member to the location (`literal['all']`, `Attach`); users never wrote those.
    return isinstance(part, str) and (part.startswith("literal[") or part[:1].isupper())


def _mapping_or_error(source: YamlSource, what: str) -> dict[str, Any]:
    if source.data is None:
        return {}
    if not isinstance(source.data, dict):
        raise VxautoError.single(source.file, "", f"{what} must be a mapping", type(source.data).__name__)
    return source.data


def load_fabric(raw: RawInventory) -> FabricIntent:
    data = _mapping_or_error(raw.fabric, "fabric.yaml")
    try:
        return FabricIntent.model_validate(data)
    except ValidationError as exc:
        raise VxautoError(problems_from_validation(exc, None, raw.fabric)) from None


def _group_chain(name: str, groups: dict[str, Any], raw: RawInventory, seen: tuple[str, ...]) -> list[str]:
    """Depth-first group order as Nornir resolves it (a group's own groups follow it)."""
    if name in seen:
        raise VxautoError.single(raw.groups.file, name, "group inheritance loop", " -> ".join((*seen, name)))
    order = [name]
    for parent in (groups.get(name) or {}).get("groups") or []:
        order += _group_chain(parent, groups, raw, (*seen, name))
    return order


def _check_keys(source: YamlSource, path: PathKey, entry: Any) -> list[Problem]:
    if entry is None:
        return []
    if not isinstance(entry, dict):
        return [Problem(source.file, format_path(path), "must be a mapping", entry, source.line_of(path))]
    return [
        Problem(source.file, format_path((*path, key)), "unknown Nornir inventory key", None,
                source.line_of((*path, key)))
        for key in entry
        if key not in NORNIR_KEYS
    ]


def resolve_hosts(raw: RawInventory) -> list[ResolvedHost]:
    hosts = _mapping_or_error(raw.hosts, "hosts.yaml")
    groups = _mapping_or_error(raw.groups, "groups.yaml")
    defaults = _mapping_or_error(raw.defaults, "defaults.yaml")
    problems = [p for name, entry in hosts.items() for p in _check_keys(raw.hosts, (name,), entry)]
    problems += [p for name, entry in groups.items() for p in _check_keys(raw.groups, (name,), entry)]
    problems += _check_keys(raw.defaults, (), defaults)
    for name, entry in [*hosts.items(), *groups.items()]:
        for group in (entry or {}).get("groups") or []:
            if group not in groups:
                source = raw.hosts if name in hosts else raw.groups
                path = (name, "groups")
                problems.append(Problem(source.file, format_path(path), "unknown group", group,
                                        source.line_of(path)))
    VxautoError.collect(problems)
    return [_resolve_host(name, entry or {}, groups, defaults, raw) for name, entry in hosts.items()]


def _resolve_host(
    name: str, entry: dict[str, Any], groups: dict[str, Any], defaults: dict[str, Any], raw: RawInventory
) -> ResolvedHost:
    chain = [g for group in entry.get("groups") or [] for g in _group_chain(group, groups, raw, ())]
    layers: list[tuple[YamlSource, PathKey, dict[str, Any]]] = [(raw.hosts, (name,), entry)]
    layers += [(raw.groups, (g,), groups.get(g) or {}) for g in chain]
    layers.append((raw.defaults, (), defaults))
    resolved = ResolvedHost(name=name, values={"name": name, "data": {}})
    resolved.origins["__host__"] = Origin(raw.hosts, (name,))
    resolved.origins["name"] = Origin(raw.hosts, (name,))
    for source, path, layer in layers:
        for key in ("hostname", "platform"):
            if key in layer and key not in resolved.values:
                resolved.values[key] = layer[key]
                resolved.origins[key] = Origin(source, (*path, key))
        data = layer.get("data")
        if isinstance(data, dict):
            for key, value in data.items():
                if key not in resolved.values["data"]:
                    resolved.values["data"][key] = value
                    resolved.origins[f"data.{key}"] = Origin(source, (*path, "data", key))
        elif data is not None and "data" not in resolved.origins:
            resolved.values["data"] = data
            resolved.origins["data"] = Origin(source, (*path, "data"))
    resolved.values["groups"] = entry.get("groups") or []
    resolved.origins["groups"] = Origin(raw.hosts, (name, "groups"))
    return resolved


def load_hosts(raw: RawInventory) -> list[HostIntent]:
    resolved_hosts = resolve_hosts(raw)
    hosts: list[HostIntent] = []
    problems: list[Problem] = []
    for resolved in resolved_hosts:
        values = dict(resolved.values)
        values["data"] = {k: v for k, v in values["data"].items() if not k.startswith(FOREIGN_DATA_PREFIXES)}
        try:
            hosts.append(HostIntent.model_validate(values))
        except ValidationError as exc:
            problems += problems_from_validation(exc, resolved.origin_of, raw.hosts)
    VxautoError.collect(problems)
    return hosts
