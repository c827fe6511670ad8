"""containerlab topology files: parse, resolve inheritance, validate.

The format is containerlab's own (https://containerlab.dev/manual/topo-def-file/): `name`, `prefix`, `mgmt`
(`network`, `ipv4-subnet`, `ipv4-gw`), `topology.defaults/kinds/groups/nodes` and `topology.links`, so the
same file runs under the real containerlab and under vxauto's netns runtime. Everything here is pure:
reading a topology never touches the system, and every problem is reported at once with the file, the
YAML path and the line, before anything is created.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vxauto.errors import Problem, VxautoError
from vxauto.lab.kinds import (
    CONTAINERLAB_ONLY_KINDS,
    NATIVE_KINDS,
    NOT_CONTAINERLAB_KINDS,
    Role,
    is_known_kind,
    role_of,
)
from vxauto.model.yamlsource import PathKey, YamlSource, format_path, load_yaml_file

DEFAULT_MGMT_NETWORK = "clab"
DEFAULT_MGMT_SUBNET = "172.20.20.0/24"  # containerlab's default management subnet
DEFAULT_PREFIX = "clab"
DEFAULT_LINK_MTU = 9500  # containerlab's default MTU of veth links

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# The keys containerlab reads (core/config.go, types/topology.go, types/types.go MgmtNet,
# types/node_definition.go, links/*.go at containerlab commit 39ff2b7c); any other key is a typo and refused.
TOP_LEVEL_KEYS = frozenset({"name", "prefix", "mgmt", "topology", "settings", "debug"})
TOPOLOGY_KEYS = frozenset({"defaults", "kinds", "groups", "nodes", "links"})
MGMT_KEYS = frozenset(
    {
        "network", "bridge", "ipv4-subnet", "ipv4_subnet", "ipv4-gw", "ipv4-range", "ipv6-subnet", "ipv6-gw",
        "ipv6-range", "mtu", "external-access", "skip-when-unused", "driver-opts",
    }
)
NODE_KEYS = frozenset(
    {
        "kind", "group", "type", "startup-config", "startup-delay", "enforce-startup-config",
        "suppress-startup-config", "auto-remove", "restart-policy", "config", "image", "image-pull-policy",
        "license", "position", "hostname", "entrypoint", "cmd", "exec", "binds", "volumes", "devices", "cap-add",
        "privileged", "cgroupns-mode", "cgroup-parent", "pid-mode", "tmpfs", "security-opts", "shm-size", "ports",
        "mgmt-ipv4", "mgmt-ipv6", "env", "env-files", "user", "labels", "network-mode", "runtime", "cpu",
        "cpu-set", "memory", "sysctls", "extras", "stages", "dns", "certificate", "healthcheck", "credentials",
        "aliases", "components", "link-apply-mode",
    }
)
LINK_KEYS = frozenset(
    {
        "type", "endpoints", "endpoint", "mtu", "vars", "labels", "host-interface", "mode", "remote", "vni",
        "dst-port", "src-port", "udp-port", "parent-interface", "ipv4", "ipv6",
    }
)
LINK_TYPES = frozenset({"veth", "veth-stitch", "mgmt-net", "macvlan", "host", "vxlan", "vxlan-stitch", "dummy",
                        "bridge"})

# What the netns runtime does with a containerlab setting. Everything else containerlab accepts is read,
# kept in the file for a hand-over to containerlab, and reported once as a warning when the lab comes up.
NETNS_NODE_KEYS = frozenset(
    {"kind", "group", "image", "startup-config", "binds", "exec", "env", "labels", "sysctls", "mgmt-ipv4"}
)
NETNS_BIND_TARGETS = ("/etc/frr/frr.conf", "/etc/frr/daemons")  # what the runtime reads from binds
NETNS_MGMT_KEYS = frozenset({"network", "ipv4-subnet", "ipv4_subnet", "ipv4-gw"})
NETNS_LINK_KEYS = frozenset({"type", "endpoints", "mtu"})
NETNS_TOP_LEVEL_KEYS = frozenset({"name", "prefix", "mgmt", "topology"})
SPECIAL_ENDPOINT_NODES = frozenset({"host", "mgmt-net", "macvlan", "macvtap", "ovs-bridge"})


@dataclass(frozen=True)
class Endpoint:
    node: str
    interface: str

    def __str__(self) -> str:
        return f"{self.node}:{self.interface}"


@dataclass(frozen=True)
class Link:
    a: Endpoint
    b: Endpoint
    mtu: int
    index: int  # position in topology.links, for messages


@dataclass(frozen=True)
class Bind:
    source: Path
    target: str
    options: str = ""


@dataclass
class Node:
    name: str
    kind: str
    image: str | None
    role: Role
    mgmt_ipv4: str = ""
    #: Startup configuration text (from `startup-config`, a file or inline), None when not given.
    startup_config: str | None = None
    startup_config_file: Path | None = None
    binds: list[Bind] = field(default_factory=list)
    exec: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    group: str | None = None
    #: YAML path of the node, for messages.
    path: PathKey = ()

    def bind_for(self, target: str) -> Bind | None:
        return next((b for b in self.binds if b.target.rstrip("/") == target), None)


@dataclass
class Mgmt:
    network: str
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address


@dataclass
class Topology:
    name: str
    prefix: str
    file: Path
    mgmt: Mgmt
    nodes: dict[str, Node]
    links: list[Link]
    source: YamlSource
    text: str
    #: containerlab settings in the file that the netns runtime does not honour, one line per setting.
    netns_ignores: list[str] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.file.parent

    @property
    def lab_dir(self) -> Path:
        """containerlab's lab directory: `clab-<name>/` next to the topology file."""
        return self.directory / f"clab-{self.name}"

    def namespace(self, node: str) -> str:
        return f"{self.name}-{node}"

    def long_name(self, node: str) -> str:
        """containerlab's container name `<prefix>-<lab>-<node>`; an empty prefix gives the bare node name."""
        return f"{self.prefix}-{self.name}-{node}" if self.prefix else node

    def interfaces_of(self, node: str) -> list[tuple[str, Link]]:
        result = []
        for link in self.links:
            for end in (link.a, link.b):
                if end.node == node:
                    result.append((end.interface, link))
        return result

    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def _listed(keys: frozenset[str]) -> str:
    return ", ".join(sorted(keys))


# --- reading -------------------------------------------------------------------------------------------


class _Collector:
    """Collects problems with file, YAML path and line."""

    def __init__(self, source: YamlSource) -> None:
        self.source = source
        self.problems: list[Problem] = []
        #: setting -> YAML paths where it is set, for what the netns runtime leaves out
        self.ignored: dict[str, list[str]] = {}

    def add(self, path: PathKey, message: str, value: object = None) -> None:
        self.problems.append(
            Problem(self.source.file, format_path(path), message, value, self.source.line_of(path))
        )

    def ignore(self, setting: str, path: PathKey) -> None:
        """Note a containerlab setting the netns runtime cannot honour (reported once per setting)."""
        self.ignored.setdefault(setting, []).append(format_path(path))

    def ignores(self) -> list[str]:
        lines = []
        for setting, paths in self.ignored.items():
            where = ", ".join(paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
            lines.append(f"{self.source.file}: the netns runtime does not honour {setting} ({where}); "
                         "containerlab with Docker does")
        return lines


def load_topology(file: Path | str) -> Topology:
    """Read and validate a containerlab topology file. Raises `VxautoError` (all problems) on bad input."""
    path = Path(file).expanduser()
    if not path.is_file():
        raise VxautoError.single(str(file), "", "topology file not found")
    source = load_yaml_file(path)
    return parse_topology(source, path.resolve())


def parse_topology(source: YamlSource, file: Path) -> Topology:
    problems = _Collector(source)
    data = source.data
    if not isinstance(data, dict):
        raise VxautoError.single(source.file, "", "a topology file must be a mapping with name and topology",
                                 type(data).__name__, 1)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            problems.add((key,), f"unknown key (containerlab knows: {_listed(TOP_LEVEL_KEYS)})", key)
        elif key not in NETNS_TOP_LEVEL_KEYS:
            problems.ignore(key, (key,))
    name = _lab_name(data, problems)
    prefix = data.get("prefix", DEFAULT_PREFIX)
    if not isinstance(prefix, str) or (prefix and not NAME_PATTERN.match(prefix)):
        problems.add(("prefix",), "must be a name (letters, digits, - _ .) or empty", prefix)
        prefix = DEFAULT_PREFIX
    mgmt = _mgmt(data.get("mgmt"), problems)
    topology = data.get("topology")
    if not isinstance(topology, dict):
        problems.add(("topology",), "missing or not a mapping (needs nodes and links)", topology)
        raise VxautoError(problems.problems)
    for key in topology:
        if key not in TOPOLOGY_KEYS:
            problems.add(("topology", key), f"unknown key (expected: {_listed(TOPOLOGY_KEYS)})", key)
    lab_dir = file.parent / f"clab-{name}"
    nodes = _nodes(topology, file.parent, lab_dir, problems)
    links = _links(topology.get("links"), nodes, problems)
    _assign_mgmt_addresses(nodes, mgmt, problems)
    VxautoError.collect(problems.problems)
    return Topology(name, prefix, file, mgmt, nodes, links, source, _read_text(file), problems.ignores())


def _read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except OSError:
        return ""


def _lab_name(data: dict, problems: _Collector) -> str:
    name = data.get("name")
    if name is None:
        problems.add(("name",), "missing: every topology needs a lab name")
        return "unnamed"
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.add(("name",), "must be letters, digits, - _ . (at most 64 characters)", name)
        return "unnamed"
    return name


def _mgmt(raw: Any, problems: _Collector) -> Mgmt:
    fallback = Mgmt(DEFAULT_MGMT_NETWORK, ipaddress.IPv4Network(DEFAULT_MGMT_SUBNET),
                    ipaddress.IPv4Address("172.20.20.1"))
    if raw is None:
        return fallback
    if not isinstance(raw, dict):
        problems.add(("mgmt",), "must be a mapping (network, ipv4-subnet, ...)", raw)
        return fallback
    for key in raw:
        if key not in MGMT_KEYS:
            problems.add(("mgmt", key), f"unknown key (containerlab knows: {_listed(MGMT_KEYS)})", key)
        elif key not in NETNS_MGMT_KEYS:
            problems.ignore(f"mgmt {key}", ("mgmt", key))
    network = raw.get("network", DEFAULT_MGMT_NETWORK)
    subnet_key = "ipv4-subnet" if "ipv4-subnet" in raw else "ipv4_subnet"
    subnet_text = raw.get(subnet_key, DEFAULT_MGMT_SUBNET)
    try:
        subnet = ipaddress.IPv4Network(str(subnet_text), strict=True)
    except ValueError as exc:
        problems.add(("mgmt", subnet_key), f"not an IPv4 subnet: {exc}", subnet_text)
        return fallback
    if subnet.prefixlen > 29:
        problems.add(("mgmt", subnet_key), "too small for a gateway and the nodes (use /29 or larger)",
                     subnet_text)
        return fallback
    if not (subnet.is_private and not subnet.is_loopback and not subnet.is_link_local):
        problems.add(("mgmt", subnet_key), "must be a private (RFC 1918) subnet, labs never route outside",
                     subnet_text)
        return fallback
    gateway = next(subnet.hosts())
    if "ipv4-gw" in raw:
        try:
            gateway = ipaddress.IPv4Address(str(raw["ipv4-gw"]))
        except ValueError:
            problems.add(("mgmt", "ipv4-gw"), "not an IPv4 address", raw["ipv4-gw"])
        else:
            if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
                problems.add(("mgmt", "ipv4-gw"), f"not a host address of {subnet}", raw["ipv4-gw"])
    return Mgmt(str(network), subnet, gateway)


# --- nodes ---------------------------------------------------------------------------------------------


@dataclass
class _Layer:
    """One level of containerlab's inheritance (defaults < kind < group < node) with its YAML path."""

    values: dict
    path: PathKey


def _section(topology: dict, key: str, problems: _Collector) -> dict:
    value = topology.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(("topology", key), "must be a mapping", value)
        return {}
    return value


def _layer_values(raw: Any, path: PathKey, problems: _Collector) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(path, "must be a mapping of node settings", raw)
        return {}
    for key in raw:
        if key not in NODE_KEYS:
            problems.add((*path, key), f"unknown node key (containerlab's node settings: {_listed(NODE_KEYS)})",
                         key)
        elif key not in NETNS_NODE_KEYS:
            problems.ignore(key, path)
    return raw


def _nodes(topology: dict, directory: Path, lab_dir: Path, problems: _Collector) -> dict[str, Node]:
    defaults = _layer_values(topology.get("defaults"), ("topology", "defaults"), problems)
    kinds = _section(topology, "kinds", problems)
    groups = _section(topology, "groups", problems)
    raw_nodes = topology.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        problems.add(("topology", "nodes"), "missing or empty: a lab needs nodes", raw_nodes)
        return {}
    nodes: dict[str, Node] = {}
    for name, raw in raw_nodes.items():
        path: PathKey = ("topology", "nodes", name)
        if not isinstance(name, str) or not NODE_PATTERN.match(name):
            problems.add(path, "node names are letters, digits, - _ . (at most 64 characters)", name)
            continue
        node_values = _layer_values(raw, path, problems)
        layers = [_Layer(defaults, ("topology", "defaults"))]
        kind = _node_kind(node_values, defaults, groups)
        if not isinstance(kind, str) or not kind:
            problems.add((*path, "kind"), "missing: set kind on the node, its group or the defaults", kind)
            continue
        if not is_known_kind(kind):
            hint = NOT_CONTAINERLAB_KINDS.get(kind) or (
                f"unknown kind (the netns runtime runs: {', '.join(NATIVE_KINDS)}; containerlab also knows "
                f"{', '.join(sorted(CONTAINERLAB_ONLY_KINDS)[:12])}, ...)"
            )
            problems.add((*path, "kind"), hint, kind)
            continue
        kind_values = _layer_values(kinds.get(kind), ("topology", "kinds", kind), problems)
        layers.append(_Layer(kind_values, ("topology", "kinds", kind)))
        group = node_values.get("group") or kind_values.get("group") or defaults.get("group")
        if group is not None and group in groups:
            group_path: PathKey = ("topology", "groups", group)
            layers.append(_Layer(_layer_values(groups[group], group_path, problems), group_path))
        layers.append(_Layer(node_values, path))
        image_entry = _most_specific(layers, "image")
        image = str(image_entry[0]) if image_entry else None
        node = Node(name=name, kind=kind, image=image, role=role_of(image), group=group, path=path)
        _resolve_node(node, layers, (directory, lab_dir), problems)
        nodes[name] = node
    return nodes


def _node_kind(node_values: dict, defaults: dict, groups: dict) -> Any:
    """containerlab's order: the node's kind, its group's kind, the default group's kind, the default kind."""
    for group in (node_values.get("group"), defaults.get("group")):
        if node_values.get("kind"):
            break
        if group is not None and isinstance(groups.get(group), dict) and groups[group].get("kind"):
            return groups[group]["kind"]
    return node_values.get("kind") or defaults.get("kind")


def _most_specific(layers: list[_Layer], key: str) -> tuple[Any, PathKey] | None:
    for layer in reversed(layers):
        if key in layer.values and layer.values[key] is not None:
            return layer.values[key], (*layer.path, key)
    return None


def _merged_map(layers: list[_Layer], key: str, problems: _Collector) -> dict[str, str]:
    merged: dict[str, str] = {}
    for layer in layers:
        value = layer.values.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.add((*layer.path, key), "must be a mapping", value)
            continue
        merged.update({str(k): "" if v is None else str(v) for k, v in value.items()})
    return merged


def _substitute(text: str, node: str, lab_dir: Path) -> str:
    """containerlab's magic variables in paths."""
    return (
        text.replace("__clabNodeName__", node)
        .replace("__clabNodeDir__", str(lab_dir / node))
        .replace("__clabDir__", str(lab_dir))
    )


def _resolve_node(node: Node, layers: list[_Layer], dirs: tuple[Path, Path], problems: _Collector) -> None:
    directory, lab_dir = dirs
    node.env = _merged_map(layers, "env", problems)
    node.labels = _merged_map(layers, "labels", problems)
    node.sysctls = _merged_map(layers, "sysctls", problems)
    _resolve_startup_config(node, layers, directory, lab_dir, problems)
    _resolve_binds(node, layers, directory, lab_dir, problems)
    for layer in layers:  # containerlab concatenates exec: defaults, kind, group, node
        value = layer.values.get("exec")
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            problems.add((*layer.path, "exec"), "must be a list of command strings", value)
        else:
            node.exec.extend(value)
    mgmt_entry = _most_specific(layers, "mgmt-ipv4")
    if mgmt_entry:
        value, path = mgmt_entry
        try:
            node.mgmt_ipv4 = str(ipaddress.IPv4Address(str(value)))
        except ValueError:
            problems.add(path, "not an IPv4 address", value)


def _resolve_startup_config(
    node: Node, layers: list[_Layer], directory: Path, lab_dir: Path, problems: _Collector
) -> None:
    entry = _most_specific(layers, "startup-config")
    if entry is None:
        return
    value, path = entry
    if not isinstance(value, str) or not value.strip():
        problems.add(path, "must be a file path (relative to the topology) or inline configuration", value)
        return
    if "\n" in value:  # containerlab accepts the configuration itself, written inline
        node.startup_config = value
        return
    file = Path(_substitute(value, node.name, lab_dir)).expanduser()
    file = file if file.is_absolute() else directory / file
    if not file.is_file():
        problems.add(path, f"startup-config file not found: {file}", value)
        return
    try:
        node.startup_config = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(path, f"cannot read startup-config: {exc}", value)
        return
    node.startup_config_file = file


def _resolve_binds(
    node: Node, layers: list[_Layer], directory: Path, lab_dir: Path, problems: _Collector
) -> None:
    by_target: dict[str, Bind] = {}
    for layer in layers:
        value = layer.values.get("binds")
        if value is None:
            continue
        if not isinstance(value, list):
            problems.add((*layer.path, "binds"), "must be a list of source:target[:options]", value)
            continue
        for index, item in enumerate(value):
            bind = _parse_bind(item, node.name, directory, lab_dir)
            if bind is None:
                problems.add((*layer.path, "binds", index), "must be source:target[:options]", item)
            elif not bind.source.exists() and not str(bind.source).startswith(str(lab_dir)):
                problems.add((*layer.path, "binds", index), f"bind source not found: {bind.source}", item)
            else:
                by_target[bind.target] = bind
                if bind.target.rstrip("/") not in NETNS_BIND_TARGETS:
                    problems.ignore(f"binds onto {bind.target}", (*layer.path, "binds", index))
    node.binds = list(by_target.values())


def _parse_bind(item: Any, node: str, directory: Path, lab_dir: Path) -> Bind | None:
    if not isinstance(item, str):
        return None
    parts = _substitute(item, node, lab_dir).split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].startswith("/"):
        return None
    source = Path(parts[0]).expanduser()
    source = source if source.is_absolute() else directory / source
    return Bind(source, parts[1], parts[2] if len(parts) == 3 else "")


# --- links ---------------------------------------------------------------------------------------------


def _links(raw: Any, nodes: dict[str, Node], problems: _Collector) -> list[Link]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(("topology", "links"), "must be a list of links", raw)
        return []
    links: list[Link] = []
    used: dict[tuple[str, str], int] = {}
    for index, item in enumerate(raw):
        path: PathKey = ("topology", "links", index)
        link = _link(item, index, path, problems)
        if link is None:
            continue
        valid = True
        for position, end in enumerate((link.a, link.b)):
            end_path = (*path, "endpoints", position)
            if end.node in SPECIAL_ENDPOINT_NODES:
                continue  # host:/mgmt-net:/macvlan: endpoints; the runtime decides whether it can build them
            if end.node not in nodes:
                known = ", ".join(nodes) or "none"
                problems.add(end_path, f"unknown node {end.node!r} (nodes: {known})", str(end))
                valid = False
                continue
            if end.interface == "eth0":
                problems.add(end_path, "eth0 is the management interface; links start at eth1", str(end))
                valid = False
            key = (end.node, end.interface)
            if key in used:
                first = f"topology.links[{used[key]}]"
                problems.add(end_path, f"interface used twice (first in {first})", str(end))
                valid = False
            used.setdefault(key, index)
        if valid:
            links.append(link)
    return links


def _link(item: Any, index: int, path: PathKey, problems: _Collector) -> Link | None:
    if not isinstance(item, dict):
        problems.add(path, "a link is a mapping with endpoints", item)
        return None
    for key in item:
        if key not in LINK_KEYS:
            problems.add((*path, key), f"unknown link key (containerlab's link keys: {_listed(LINK_KEYS)})", key)
    link_type = item.get("type", "veth")
    if link_type not in LINK_TYPES:
        problems.add((*path, "type"), f"unknown link type (containerlab's: {_listed(LINK_TYPES)})", link_type)
        return None
    if link_type != "veth":  # the netns runtime wires node-to-node veths only; containerlab builds the rest
        problems.ignore(f"{link_type} links (left out)", path)
        return None
    for key in item:
        if key in LINK_KEYS and key not in NETNS_LINK_KEYS:
            problems.ignore(f"link {key}", (*path, key))
    endpoints = item.get("endpoints")
    if not isinstance(endpoints, list) or len(endpoints) != 2:
        example = '["leaf1:eth1", "spine1:eth1"]'
        problems.add((*path, "endpoints"), f"needs exactly two endpoints, e.g. {example}", endpoints)
        return None
    ends = [_endpoint(end, (*path, "endpoints", i), problems) for i, end in enumerate(endpoints)]
    if ends[0] is None or ends[1] is None:
        return None
    if ends[0] == ends[1]:
        problems.add((*path, "endpoints"), "a link cannot connect an interface to itself", str(ends[0]))
        return None
    mtu = item.get("mtu", DEFAULT_LINK_MTU)
    if not isinstance(mtu, int) or isinstance(mtu, bool) or not 68 <= mtu <= 65535:
        problems.add((*path, "mtu"), "must be an integer between 68 and 65535", mtu)
        mtu = DEFAULT_LINK_MTU
    return Link(ends[0], ends[1], mtu, index)


def _endpoint(raw: Any, path: PathKey, problems: _Collector) -> Endpoint | None:
    if isinstance(raw, dict):  # containerlab's extended link format
        node, interface = raw.get("node"), raw.get("interface")
        if isinstance(node, str) and isinstance(interface, str) and node and interface:
            return Endpoint(node, interface)
        problems.add(path, "an endpoint needs node and interface", raw)
        return None
    if isinstance(raw, str) and raw.count(":") == 1:
        node, interface = raw.split(":")
        if node and interface:
            return Endpoint(node, interface)
    problems.add(path, "must be \"node:interface\"", raw)
    return None


# --- management addresses ------------------------------------------------------------------------------


def _assign_mgmt_addresses(nodes: dict[str, Node], mgmt: Mgmt, problems: _Collector) -> None:
    """Keep every `mgmt-ipv4`, give the other nodes the lowest free addresses (containerlab's IPAM order)."""
    taken: dict[str, str] = {str(mgmt.gateway): "the management gateway"}
    reserved = (mgmt.subnet.network_address, mgmt.subnet.broadcast_address)
    for node in nodes.values():
        if not node.mgmt_ipv4:
            continue
        address = ipaddress.IPv4Address(node.mgmt_ipv4)
        path = (*node.path, "mgmt-ipv4")
        if address not in mgmt.subnet or address in reserved:
            problems.add(path, f"not a host address of the management subnet {mgmt.subnet}", node.mgmt_ipv4)
        elif node.mgmt_ipv4 in taken:
            problems.add(path, f"address already used by {taken[node.mgmt_ipv4]}", node.mgmt_ipv4)
        taken.setdefault(node.mgmt_ipv4, f"node {node.name}")
    free = _free_hosts(mgmt.subnet, taken)
    for node in nodes.values():
        if node.mgmt_ipv4:
            continue
        allocated = next(free, None)
        if allocated is None:
            problems.add(node.path, f"no free address left in the management subnet {mgmt.subnet}")
            return
        node.mgmt_ipv4 = allocated


def _free_hosts(subnet: ipaddress.IPv4Network, taken: dict[str, str]) -> Iterator[str]:
    for host in subnet.hosts():
        if str(host) not in taken:
            yield str(host)
