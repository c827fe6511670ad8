"""The kernel side of a Linux/FRR VTEP's configuration, in one canonical form.

vxauto renders the kernel part of a Linux VTEP as a small shell script (templates/linux/iproute2.sh.j2,
endpoint.sh.j2), spelled from the target state and steps derived from the facts (vxauto/model/kernel_state.py).
To diff, replace and roll back that part, the driver needs the script's *meaning*, not its text, and the same
meaning read back from the running kernel:

- A rendered configuration brings its target `KernelState` along (the bundle's `target`); the driver
  deploys that.
- `parse_script` reads a rendered script when no target came with it (a directory or script loaded by
  hand). It knows the script's whole vocabulary (`ip link set`, `ip addr replace`, `ensure_link`,
  `ensure_flood`, `bridge link set`) and rejects anything else with the line it could not model, so the
  candidate is never a guess.
- `RunningKernel.from_json` reads `ip -j -d link show`, `ip -j addr show` and `bridge -j fdb show`.
- `running_view` is the running state as the candidate sees it: every link vxauto owns in full, and
  only the attributes the candidate sets on links it merely touches (`eth1`'s MTU, `lo`'s addresses).
- `KernelState.lines()` is the canonical text (`link vxlan10 kind=vxlan id=10 ... state=up`,
  `address lo 10.0.0.1/32`, `flood vxlan10 10.0.0.2`); a unified diff of two of them is the kernel diff,
  and `parse_state` reads that text back (the `kernel.state` file of backups and rollback points).
- `plan` turns (running view, target) into the `ip`/`bridge` commands that make one into the other.

What vxauto owns (and therefore removes under replace semantics): a VXLAN device `vxlan<N>` carrying
VNI N, the bridge `br<N>` it is a port of, VLAN sub-interfaces that are ports of such a bridge, and any
link a previous vxauto commit created (the device's manifest) or the candidate creates. A `br0` of a
hypervisor, a `flannel.1` VXLAN or a management VRF are never touched unless vxauto created them.

Flood entries (all-zero MAC, `dst` VTEP) are compared only on VXLAN devices with data-plane learning
(vxauto's static flooding): on EVPN devices zebra installs them from type-3 routes.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vxauto.errors import VxautoError
from vxauto.model.kernel_state import (
    ATTRIBUTES,
    CREATE_ORDER,
    KIND_OPTIONS,
    KernelState,
    Link,
    _ip_key,
    _prefix_key,
)

__all__ = ["ATTRIBUTES", "CREATE_ORDER", "KIND_OPTIONS", "KernelState", "Link", "parse_script", "parse_state"]

ZERO_MAC = "00:00:00:00:00:00"

_NUMBERED = re.compile(r"^(?P<prefix>vxlan|br)(?P<vni>\d+)$")


# --------------------------------------------------------------------------- rendered scripts


class _ScriptReader:
    """Reads one rendered script into a KernelState; unknown commands are errors naming the line."""

    def __init__(self, source: str, state: KernelState) -> None:
        self.source = source
        self.state = state
        self.number = 0
        self.line = ""

    def fail(self, message: str) -> VxautoError:
        return VxautoError.single(self.source, f"line {self.number}", message, self.line.strip())

    def read(self, text: str) -> None:
        for self.number, self.line in enumerate(text.splitlines(), start=1):
            stripped = self.line.strip()
            if not stripped or stripped.startswith("#") or stripped in ("set -eu", "set -e"):
                continue
            if re.match(r"^(ensure_link|ensure_flood)\(\)\s*\{", stripped):
                continue  # the script's own helper definitions
            try:
                words = shlex.split(stripped, comments=True)
            except ValueError as error:
                raise self.fail(f"not a shell command line ({error})") from None
            self.statement(words)

    def statement(self, words: list[str]) -> None:
        match words:
            case ["ip", "link", "set", "dev", name, *rest]:
                self.link_set(name, rest)
            case ["ip", "link", "add", name, *rest] | ["ensure_link", name, *rest]:
                self.link_add(name, rest)
            case ["ip", "addr" | "address", "replace" | "add", prefix, "dev", device]:
                self.address(device, prefix)
            case ["bridge", "link", "set", "dev", name, "learning", "on" | "off" as value]:
                self.state.link(name).attributes["port-learning"] = value
            case ["ensure_flood", device, dst] | ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", device,
                                                  "dst", dst]:
                self.state.flood.setdefault(device, set()).add(self.ip(dst))
            case _:
                raise self.fail("command the frr driver cannot model (it reads vxauto's rendered iproute2 "
                                "scripts: ip link set/add, ip addr replace, bridge link set, ensure_link, "
                                "ensure_flood)")

    def link_set(self, name: str, words: list[str]) -> None:
        attributes = self.state.link(name).attributes
        index = 0
        while index < len(words):
            word = words[index]
            if word in ("up", "down"):
                attributes["state"] = word
                index += 1
            elif word in ("mtu", "master", "address") and index + 1 < len(words):
                value = words[index + 1]
                # Link names are case-sensitive (a VRF `RED` as master); only a MAC is case-free.
                attributes[word] = (str(self.number_value(value)) if word == "mtu"
                                    else value.lower() if word == "address" else value)
                index += 2
            else:
                raise self.fail(f"`ip link set` with {word!r}: only mtu, master, address, up/down are modelled")

    def link_add(self, name: str, words: list[str]) -> None:
        link = self.state.link(name)
        parent = None
        if words[:1] == ["link"] and len(words) > 1:
            parent, words = words[1], words[2:]
        if words[:1] != ["type"] or len(words) < 2:
            raise self.fail("link creation without `type`")
        kind, rest = words[1], words[2:]
        if kind not in KIND_OPTIONS:
            raise self.fail(f"link type {kind!r}: only {', '.join(KIND_OPTIONS)} are modelled")
        options = self.kind_options(kind, rest)
        if kind == "vlan":
            if parent is None:
                raise self.fail("a VLAN link needs `link <parent>`")
            options["link"] = parent
        if link.kind is not None and link.identity() != (kind, tuple(sorted(options.items()))):
            raise self.fail(f"link {name} is created twice with different options")
        link.kind, link.options = kind, options

    def kind_options(self, kind: str, words: list[str]) -> dict[str, str]:
        options: dict[str, str] = {}
        index = 0
        while index < len(words):
            word = words[index]
            if kind == "vxlan" and word in ("learning", "nolearning"):
                options["learning"] = "on" if word == "learning" else "off"
                index += 1
                continue
            if index + 1 >= len(words):
                raise self.fail(f"{word!r} without a value")
            value = words[index + 1]
            if kind == "vxlan" and word in ("id", "dstport"):
                options[word] = str(self.number_value(value))
            elif kind == "vxlan" and word == "local":
                options["local"] = self.ip(value)
            elif kind == "vlan" and word == "id":
                options["id"] = str(self.number_value(value))
            elif kind == "vrf" and word == "table":
                options["table"] = str(self.number_value(value))
            else:
                raise self.fail(f"{kind} option {word!r} is not modelled")
            index += 2
        if kind == "vxlan":
            options.setdefault("learning", "on")  # the kernel's default
        return options

    def address(self, device: str, prefix: str) -> None:
        try:
            interface = ipaddress.ip_interface(prefix)
        except ValueError:
            raise self.fail(f"not an address with prefix length: {prefix!r}") from None
        self.state.addresses.setdefault(device, set()).add(interface.with_prefixlen)

    def number_value(self, text: str) -> int:
        if not text.isdigit():
            raise self.fail(f"expected a number, got {text!r}")
        return int(text)

    def ip(self, text: str) -> str:
        try:
            return ipaddress.ip_address(text).compressed
        except ValueError:
            raise self.fail(f"not an IP address: {text!r}") from None


def parse_script(text: str, source: str, into: KernelState | None = None) -> KernelState:
    """The kernel state a vxauto-rendered iproute2 script creates (merged into `into` when given)."""
    state = into if into is not None else KernelState()
    _ScriptReader(source, state).read(text)
    return state


# --------------------------------------------------------------------------- canonical text


_LINE = re.compile(r"^(?P<what>link|address|flood) (?P<name>\S+)(?: (?P<rest>.*))?$")


def parse_state(
    text: str, source: str, into: KernelState | None = None, decides_listed: bool = True
) -> KernelState:
    """Read canonical text (`KernelState.text()`) back, e.g. a `kernel.state` file of a backup.

    A snapshot decides the whole address set of every link it lists (`decides_listed`); a rendered target
    state, like its script, only that of the devices it gives addresses to."""
    state = into if into is not None else KernelState()
    listed: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise VxautoError.single(source, f"line {number}", "expected `link|address|flood NAME ...`", line)
        what, name, rest = match["what"], match["name"], (match["rest"] or "").split()
        if what == "link":
            _state_link(state.link(name), rest, source, number)
        elif len(rest) != 1:
            raise VxautoError.single(source, f"line {number}", f"`{what}` takes exactly one value", line)
        elif what == "address":
            state.addresses.setdefault(name, set()).add(_checked(ipaddress.ip_interface, rest[0], source, number))
        else:
            state.flood.setdefault(name, set()).add(_checked(ipaddress.ip_address, rest[0], source, number))
        if what != "flood":
            listed.add(name)
    if decides_listed:
        state.address_scope |= listed
    return state


def _checked(parse: Callable[[str], Any], value: str, source: str, number: int) -> str:
    try:
        parsed = parse(value)
    except ValueError:
        raise VxautoError.single(source, f"line {number}", "not an IP address/prefix", value) from None
    return parsed.with_prefixlen if hasattr(parsed, "with_prefixlen") else parsed.compressed


def _state_link(link: Link, words: list[str], source: str, number: int) -> None:
    for word in words:
        key, separator, value = word.partition("=")
        if not separator or not value:
            raise VxautoError.single(source, f"line {number}", "expected key=value", word)
        if key == "kind":
            if value not in KIND_OPTIONS:
                raise VxautoError.single(source, f"line {number}", f"kind must be one of {list(KIND_OPTIONS)}", value)
            link.kind = value
        elif key in ATTRIBUTES:
            link.attributes[key] = value
        elif any(key in options for options in KIND_OPTIONS.values()):
            link.options[key] = value
        else:
            raise VxautoError.single(source, f"line {number}", "unknown key", key)


# --------------------------------------------------------------------------- the running kernel


@dataclass
class RunningLink:
    """One link of the running kernel, with everything the driver may compare."""

    name: str
    kind: str | None
    options: dict[str, str]
    master: str | None
    mtu: int
    address: str | None
    up: bool
    port_learning: bool | None
    addresses: set[str]
    flood: set[str]

    def full(self) -> Link:
        """The link as a configuration that recreates it (used for links vxauto owns)."""
        attributes = {"mtu": str(self.mtu), "state": "up" if self.up else "down"}
        if self.master:
            attributes["master"] = self.master
        if self.port_learning is not None:
            attributes["port-learning"] = "on" if self.port_learning else "off"
        if self.kind == "bridge" and self.address:
            attributes["address"] = self.address
        return Link(self.name, self.kind if self.kind in KIND_OPTIONS else None, dict(self.options), attributes)

    @property
    def is_port(self) -> bool:
        """A NIC, veth or loopback (no link kind, or veth): what carries vxauto's underlay and access ports."""
        return self.kind in (None, "veth")

    def value(self, key: str) -> str | None:
        """The running value of one attribute in canonical text form."""
        if key == "master":
            return self.master
        if key == "mtu":
            return str(self.mtu)
        if key == "address":
            return self.address
        if key == "state":
            return "up" if self.up else "down"
        if key == "port-learning":
            return None if self.port_learning is None else ("on" if self.port_learning else "off")
        raise KeyError(key)


@dataclass
class RunningKernel:
    links: dict[str, RunningLink]

    @classmethod
    def from_json(cls, links: object, addresses: object, fdb: object, source: str = "device") -> RunningKernel:
        """From decoded `ip -j -d link show`, `ip -j addr show` and `bridge -j fdb show`."""
        result: dict[str, RunningLink] = {}
        for entry in _rows(links, f"{source} `ip -j -d link show`"):
            link = _running_link(entry)
            result[link.name] = link
        for entry in _rows(addresses, f"{source} `ip -j addr show`"):
            name = entry.get("ifname")
            if name not in result:
                continue
            for info in entry.get("addr_info") or []:
                # only what a configuration sets: not 127.0.0.1/::1 (scope host) or fe80:: (scope link)
                if info.get("scope") == "global" and info.get("local") is not None:
                    prefix = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}").with_prefixlen
                    result[name].addresses.add(prefix)
        for entry in _rows(fdb, f"{source} `bridge -j fdb show`"):
            name = entry.get("ifname")
            if (
                name in result
                and entry.get("mac") == ZERO_MAC
                and entry.get("dst")
                and "self" in (entry.get("flags") or [])
                and result[name].kind == "vxlan"
            ):
                result[name].flood.add(ipaddress.ip_address(entry["dst"]).compressed)
        return cls(result)

    def owned(self, candidate: KernelState | None = None, manifest: Iterable[str] = ()) -> set[str]:
        """The links vxauto owns here (see the module docstring)."""
        created = candidate.created() if candidate is not None else {}
        remembered = set(manifest)
        owned: set[str] = set()
        for name, link in self.links.items():
            numbered = _NUMBERED.match(name)
            if link.kind == "vxlan" and numbered and numbered["prefix"] == "vxlan" and (
                link.options.get("id") == numbered["vni"]
            ):
                owned.add(name)
                master = link.master
                if master == f"br{numbered['vni']}" and master in self.links and self.links[master].kind == "bridge":
                    owned.add(master)
            if link.kind in KIND_OPTIONS and (name in remembered or created.get(name) == link.kind):
                owned.add(name)
        for name, link in self.links.items():
            if link.kind == "vlan" and link.master in owned:
                owned.add(name)
        return owned


def _rows(value: object, what: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise VxautoError.single(what, "", "expected a JSON list of objects", type(value).__name__)
    return value


def _running_link(entry: Mapping) -> RunningLink:
    info = entry.get("linkinfo") or {}
    kind = info.get("info_kind")
    data = info.get("info_data") or {}
    options: dict[str, str] = {}
    if kind == "vxlan":
        options = {"id": str(data.get("id")), "dstport": str(data.get("port", 8472)),
                   "learning": "on" if data.get("learning", True) else "off"}
        local = data.get("local") or data.get("local6")
        if local:
            options["local"] = ipaddress.ip_address(local).compressed
    elif kind == "vlan":
        options = {"id": str(data.get("id")), "link": str(entry.get("link"))}
    elif kind == "vrf":
        options = {"table": str(data.get("table"))}
    slave = info.get("info_slave_data") or {}
    port_learning = slave.get("learning") if info.get("info_slave_kind") == "bridge" else None
    return RunningLink(
        name=str(entry["ifname"]),
        kind=kind,
        options=options,
        master=entry.get("master"),
        mtu=int(entry.get("mtu", 0)),
        address=(entry.get("address") or "").lower() or None,
        up="UP" in (entry.get("flags") or []),
        port_learning=None if port_learning is None else bool(port_learning),
        addresses=set(),
        flood=set(),
    )


# --------------------------------------------------------------------------- views


def running_view(
    running: RunningKernel,
    candidate: KernelState | None = None,
    manifest: Iterable[str] = (),
    keep_out: Iterable[str] = (),
) -> KernelState:
    """The running state restricted to what vxauto manages, as seen from `candidate`.

    Without a candidate (`get_config`, backups): owned links in full, plus every port (physical NIC,
    veth, loopback: MTU, state, owned master, addresses), so that restoring a backup also takes back the
    MTUs and addresses a later commit set. Bridges, VXLAN, VLAN and VRF devices vxauto does not own are
    not part of it. `keep_out` names links a backup must never contain (the management interface the
    driver is logged in through).
    """
    owned = running.owned(candidate, manifest)
    view = KernelState()
    wanted = candidate.links if candidate is not None else {}
    excluded = set(keep_out) - set(wanted) - owned
    address_devices = set(owned) | (candidate.managed_addresses() if candidate is not None else set())
    for name, link in running.links.items():
        if name in excluded:
            continue
        if name in owned and name not in wanted:
            view.links[name] = link.full()
        elif name in wanted:
            view.links[name] = _restricted(link, wanted[name], owned)
        elif link.master in owned or (candidate is None and link.is_port):
            attributes = {"master": link.master} if link.master in owned else {}
            if candidate is None:
                attributes |= {"mtu": str(link.mtu), "state": "up" if link.up else "down"}
            view.links[name] = Link(name, attributes=attributes)
        if candidate is None and link.is_port:
            address_devices.add(name)
    for name in address_devices - excluded:
        if name in running.links and running.links[name].addresses:
            view.addresses[name] = set(running.links[name].addresses)
    static = _static_devices(candidate) if candidate is not None else set()
    for name, link in running.links.items():
        learning_on = link.kind == "vxlan" and link.options.get("learning") == "on"
        if link.flood and (name in static or (name in owned and learning_on and name not in wanted)
                           or (candidate is None and learning_on)):
            view.flood[name] = set(link.flood)
    return view


def _restricted(link: RunningLink, wanted: Link, owned: set[str]) -> Link:
    """The running link with only the fields the candidate sets (plus an owned master it does not)."""
    view = Link(link.name)
    if wanted.kind is not None and link.kind in KIND_OPTIONS:
        # options the candidate leaves out keep the kernel's value (e.g. no `dstport`: whatever it is)
        view.kind = link.kind
        view.options = {key: value for key, value in link.options.items() if key in wanted.options}
    elif wanted.kind is not None:
        view.kind = link.kind  # not a kind vxauto creates: the plan refuses to replace it
    for key in wanted.attributes:
        value = link.value(key)
        if value is not None:
            view.attributes[key] = value
    if "master" not in wanted.attributes and link.master in owned:
        view.attributes["master"] = link.master
    return view


def _static_devices(candidate: KernelState) -> set[str]:
    return {name for name, link in candidate.links.items()
            if link.kind == "vxlan" and link.options.get("learning") == "on"} | set(candidate.flood)


def merged(view: KernelState, candidate: KernelState) -> KernelState:
    """Merge semantics: the running view with the candidate laid over it (nothing is removed)."""
    result = KernelState()
    for name, link in view.links.items():
        result.links[name] = Link(name, link.kind, dict(link.options), dict(link.attributes))
    for name, link in candidate.links.items():
        base = result.links.get(name)
        if base is None or (link.kind is not None and base.identity() != link.identity()):
            result.links[name] = Link(name, link.kind, dict(link.options), dict(link.attributes))
        else:
            base.attributes.update(link.attributes)
    result.address_scope = view.managed_addresses() | candidate.managed_addresses()
    for source in (view, candidate):
        for device, prefixes in source.addresses.items():
            result.addresses.setdefault(device, set()).update(prefixes)
        for device, dsts in source.flood.items():
            result.flood.setdefault(device, set()).update(dsts)
    return result


# --------------------------------------------------------------------------- plan


class PlanError(VxautoError):
    """The candidate asks for something the driver will not do (e.g. replace a physical port)."""


def plan(current: KernelState, target: KernelState, host: str = "device", strict: bool = True) -> list[str]:
    """Commands that turn `current` (a running view) into `target`; `[]` exactly when both are equal.

    `strict`: a link the target only sets attributes on must exist (be in `current`); the best-effort
    restore script of a commit (planned from the candidate, not from a running view) passes False.
    """
    deleted = _links_to_delete(current, target, host)
    missing = sorted(name for name, link in target.links.items() if link.kind is None and name not in current.links)
    if strict and missing:
        raise PlanError.single(host, "links", "the configuration sets attributes of links that do not exist",
                               ", ".join(missing))
    created = [link for link in target.links.values()
               if link.kind is not None and (link.name not in current.links or link.name in deleted)]
    commands = [f"ip link del dev {shlex.quote(name)}" for name in _deletion_order(current, deleted)]
    for link in sorted(created, key=lambda item: CREATE_ORDER.index(item.kind or "vlan")):
        commands.append(_create_command(link))
    commands += _attribute_commands(current, target, deleted, {link.name for link in created})
    commands += _address_commands(current, target, deleted)
    commands += _flood_commands(current, target, deleted)
    return commands


def _links_to_delete(current: KernelState, target: KernelState, host: str) -> set[str]:
    deleted = set()
    for name, link in current.links.items():
        wanted = target.links.get(name)
        if wanted is None:
            if link.kind is not None:
                deleted.add(name)  # owned and gone from the intent
            continue
        if wanted.kind is not None and link.identity() != wanted.identity():
            if link.kind not in KIND_OPTIONS:
                raise PlanError.single(host, f"link {name}", f"exists as a {link.kind or 'device'} that vxauto "
                                       f"did not create; refusing to replace it with a {wanted.kind}", name)
            deleted.add(name)  # VXLAN/VLAN identity cannot change in place: recreate
    return deleted


def _deletion_order(current: KernelState, deleted: set[str]) -> list[str]:
    def rank(name: str) -> tuple[int, str]:
        kind = current.links[name].kind or "vlan"
        return (-CREATE_ORDER.index(kind) if kind in CREATE_ORDER else 0, name)

    return sorted(deleted, key=rank)


def _create_command(link: Link) -> str:
    name = shlex.quote(link.name)
    options = link.options
    if link.kind == "bridge":
        return f"ip link add {name} type bridge"
    if link.kind == "vrf":
        return f"ip link add {name} type vrf table {options['table']}"
    if link.kind == "vlan":
        return f"ip link add {name} link {shlex.quote(options['link'])} type vlan id {options['id']}"
    words = [f"ip link add {name} type vxlan id {options['id']}"]
    if "local" in options:
        words.append(f"local {options['local']}")
    if "dstport" in options:
        words.append(f"dstport {options['dstport']}")
    words.append("learning" if options.get("learning", "on") == "on" else "nolearning")
    return " ".join(words)


def _attribute_commands(current: KernelState, target: KernelState, deleted: set[str], created: set[str]) -> list[str]:
    def rank(link: Link) -> tuple[int, str]:
        return (CREATE_ORDER.index(link.kind) if link.kind in CREATE_ORDER else len(CREATE_ORDER), link.name)

    commands: list[str] = []
    learning: list[str] = []
    for link in sorted(target.links.values(), key=rank):
        before = {} if link.name in created else current.links.get(link.name, Link(link.name)).attributes
        changes = [key for key in ("mtu", "address", "master") if link.attributes.get(key) != before.get(key)
                   and (key in link.attributes or (key == "master" and before.get("master")))]
        if "master" not in changes and link.attributes.get("master") in created:
            changes.append("master")  # its master was just (re)created: enslave again
        words = []
        for key in changes:
            value = link.attributes.get(key)
            words.append("nomaster" if key == "master" and value is None else f"{key} {shlex.quote(str(value))}")
        state = link.attributes.get("state")
        if state is not None and (state != before.get("state") or link.name in created):
            words.append(state)
        if words:
            commands.append(f"ip link set dev {shlex.quote(link.name)} {' '.join(words)}")
        port_learning = link.attributes.get("port-learning")
        if port_learning is not None and port_learning != before.get("port-learning"):
            learning.append(f"bridge link set dev {shlex.quote(link.name)} learning {port_learning}")
    for name, link in current.links.items():
        if name not in target.links and link.kind is None and link.attributes.get("master") and (
            link.attributes["master"] not in deleted
        ):
            commands.append(f"ip link set dev {shlex.quote(name)} nomaster")
    return commands + learning


def _address_commands(current: KernelState, target: KernelState, deleted: set[str]) -> list[str]:
    commands = []
    for device in sorted(set(current.addresses) | target.managed_addresses()):
        have = set() if device in deleted else current.addresses.get(device, set())
        want = target.addresses.get(device, set())
        if device in deleted and device not in target.links:
            continue
        quoted = shlex.quote(device)
        commands += [f"ip addr del {prefix} dev {quoted}" for prefix in sorted(have - want, key=_prefix_key)]
        commands += [f"ip addr add {prefix} dev {quoted}" for prefix in sorted(want - have, key=_prefix_key)]
    return commands


def _flood_commands(current: KernelState, target: KernelState, deleted: set[str]) -> list[str]:
    commands = []
    for device in sorted(set(current.flood) | set(target.flood)):
        have = set() if device in deleted else current.flood.get(device, set())
        want = target.flood.get(device, set())
        if device in deleted and device not in target.links:
            continue
        quoted = shlex.quote(device)
        commands += [f"bridge fdb del {ZERO_MAC} dev {quoted} dst {dst}" for dst in sorted(have - want, key=_ip_key)]
        commands += [f"bridge fdb append {ZERO_MAC} dev {quoted} dst {dst}"
                     for dst in sorted(want - have, key=_ip_key)]
    return commands
