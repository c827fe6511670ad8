"""The target kernel state of a Linux VTEP or host, derived from its facts (a typed structure).

The kernel part of a Linux/FRR device (links, their options and attributes, addresses, static flood lists)
is worked out here once, in Python, from `DeviceFacts`; the renderer carries it beside the kernel script
(`RenderedConfig.kernel_state`) and the FRR NAPALM driver receives it in the configuration bundle instead
of reading the script back. `KernelState.lines()` is the canonical text the driver diffs and backs up.

`kernel_plan` lists the script's steps as typed commands in sections (`KernelPlan.sections`) and applies each to
the state as the shell would (a later command overrides an earlier one); the templates (linux/iproute2.sh.j2,
endpoint.sh.j2) only spell those commands. tests/render/test_kernel_state.py checks
for every repository intent that the state equals what the FRR driver's script reader makes of the script.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

from vxauto.model.facts import DeviceFacts, SegmentFacts

#: Identity options per link kind, in canonical order: changing any of them means delete + create.
KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    "vrf": ("table",),
    "bridge": (),
    "vxlan": ("id", "local", "dstport", "learning"),
    "vlan": ("link", "id"),
}
#: Settable attributes, in canonical order.
ATTRIBUTES = ("master", "mtu", "address", "port-learning", "state")
#: Links are created in this order (a VXLAN/VLAN port needs its bridge, a bridge its VRF) and deleted in
#: the reverse order.
CREATE_ORDER = ("vrf", "bridge", "vxlan", "vlan")

@dataclass
class Link:
    """One link as a configuration describes it: `kind` is set when the configuration creates it."""

    name: str
    kind: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)

    def fields(self) -> dict[str, str]:
        """Everything compared, in canonical order (`kind`, its options, then attributes)."""
        result: dict[str, str] = {}
        if self.kind is not None:
            result["kind"] = self.kind
            for key in KIND_OPTIONS.get(self.kind, ()):
                if key in self.options:
                    result[key] = self.options[key]
        for key in ATTRIBUTES:
            if key in self.attributes:
                result[key] = self.attributes[key]
        return result

    def identity(self) -> tuple[str | None, tuple[tuple[str, str], ...]]:
        return (self.kind, tuple(sorted(self.options.items())))


@dataclass
class KernelState:
    """Links, addresses per device and static flood lists per VXLAN device."""

    links: dict[str, Link] = field(default_factory=dict)
    addresses: dict[str, set[str]] = field(default_factory=dict)
    flood: dict[str, set[str]] = field(default_factory=dict)
    #: Devices whose whole (global) address set this state decides. A rendered script decides it for the
    #: devices it addresses; a `kernel.state` snapshot for every link it lists (a link listed without
    #: `address` lines had none, and a restore removes any it has gained).
    address_scope: set[str] = field(default_factory=set)

    def managed_addresses(self) -> set[str]:
        return set(self.addresses) | self.address_scope

    def link(self, name: str) -> Link:
        return self.links.setdefault(name, Link(name))

    def lines(self) -> list[str]:
        """The canonical text, one fact per line, in a stable order (links by creation order, then name)."""
        def link_key(link: Link) -> tuple[int, str]:
            rank = CREATE_ORDER.index(link.kind) if link.kind in CREATE_ORDER else len(CREATE_ORDER)
            return (rank, link.name)

        lines = []
        for link in sorted(self.links.values(), key=link_key):
            fields = link.fields()
            if fields:
                lines.append(" ".join([f"link {link.name}", *(f"{k}={v}" for k, v in fields.items())]))
        for device in sorted(self.addresses):
            lines += [f"address {device} {prefix}" for prefix in sorted(self.addresses[device], key=_prefix_key)]
        for device in sorted(self.flood):
            lines += [f"flood {device} {dst}" for dst in sorted(self.flood[device], key=_ip_key)]
        return lines

    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines())

    def created(self) -> dict[str, str]:
        """Links this state creates: name -> kind."""
        return {name: link.kind for name, link in self.links.items() if link.kind is not None}


def _ip_key(text: str) -> tuple[int, int]:
    address = ipaddress.ip_address(text)
    return (address.version, int(address))


def _prefix_key(text: str) -> tuple[int, int, int]:
    interface = ipaddress.ip_interface(text)
    return (interface.version, int(interface.ip), interface.network.prefixlen)


# --------------------------------------------------------------------------- from the facts


@cache  # the same VTEP and peer addresses recur in every segment; parsing them is most of the cost
def _prefix(text: str) -> str:
    return ipaddress.ip_interface(text).with_prefixlen


@cache
def _ip(text: str) -> str:
    return ipaddress.ip_address(text).compressed


class Command(NamedTuple):
    """One step of the kernel script, as data: the template only spells it.

    verb: `set` (ip link set dev NAME ARGS [up]), `create` (ensure_link NAME [link PARENT] type KIND ARGS),
    `address` (ip addr replace ARG dev NAME), `learning` (bridge link set dev NAME learning ARG), `flood`
    (ensure_flood NAME ARG). `args` keep the intent's spelling; the state holds the canonical form. A
    NamedTuple: a large fabric's scripts have a million of these (cheap to build).
    """

    verb: str
    name: str
    args: tuple[tuple[str, str], ...] = ()
    up: bool = False
    kind: str | None = None
    parent: str | None = None
    #: `create` of a VXLAN device: data-plane learning (`learning`/`nolearning`).
    learning: bool | None = None


class Section(NamedTuple):
    """A commented group of commands (the loopback, the underlay, one VRF, one segment, one endpoint)."""

    comment: str
    commands: list[Command]


@dataclass
class KernelPlan:
    """The kernel script of a device as data (`sections`) and the state it creates (`state`)."""

    state: KernelState = field(default_factory=KernelState)
    sections: list[Section] = field(default_factory=list)


class _Builder:
    """Records the script's commands and applies each one to the state, in the script's order."""

    def __init__(self) -> None:
        self.plan = KernelPlan()
        self.state = self.plan.state
        self.commands: list[Command] = []
        self._add = self.commands.append

    def section(self, comment: str) -> None:
        self.commands = []
        self._add = self.commands.append
        self.plan.sections.append(Section(comment, self.commands))

    def _link(self, name: str) -> Link:
        link = self.state.links.get(name)
        if link is None:
            link = self.state.links[name] = Link(name)
        return link

    def set(self, name: str, up: bool = True, **attributes: str | int) -> None:
        """`ip link set dev NAME ATTRIBUTE VALUE ... [up]`."""
        args = tuple((key, str(value)) for key, value in attributes.items())
        self._add(Command("set", name, args, up))
        target = self._link(name).attributes
        target.update(args)
        if "address" in attributes:
            target["address"] = target["address"].lower()
        if up:
            target["state"] = "up"

    def learning_off(self, name: str) -> None:
        """`bridge link set dev NAME learning off`."""
        self._add(Command("learning", name, (("learning", "off"),)))
        self._link(name).attributes["port-learning"] = "off"

    def create(self, name: str, kind: str, parent: str | None = None, **options: str | int) -> None:
        """`ensure_link NAME [link PARENT] type KIND OPTION VALUE ...`."""
        self._add(Command("create", name, tuple((k, str(v)) for k, v in options.items()), kind=kind, parent=parent))
        link = self._link(name)
        link.kind = kind
        link.options = {key: str(value) for key, value in options.items()}
        if parent is not None:
            link.options["link"] = parent

    def address(self, device: str, prefix: str) -> None:
        self._add(Command("address", device, (("prefix", prefix),)))
        self.state.addresses.setdefault(device, set()).add(_prefix(prefix))

    def flood(self, device: str, dst: str) -> None:
        self._add(Command("flood", device, (("dst", dst),)))
        self.state.flood.setdefault(device, set()).add(_ip(dst))

    def vxlan(self, name: str, vni: int, device: DeviceFacts, learning: bool) -> None:
        local = str(device.vtep_ip)
        self._add(Command("create", name, (("id", str(vni)), ("local", local), ("dstport", str(device.udp_port))),
                          kind="vxlan", learning=learning))
        link = self._link(name)
        link.kind = "vxlan"
        link.options = {"id": str(vni), "local": _ip(local), "dstport": str(device.udp_port),
                        "learning": "on" if learning else "off"}


def kernel_plan(device: DeviceFacts) -> KernelPlan:
    """The device's kernel script as data and the state it creates: a VTEP's (iproute2.sh.j2) or a host's
    endpoint addresses (endpoint.sh.j2)."""
    build = _Builder()
    if device.role == "host":
        _endpoints(build, device)
    else:
        _vtep(build, device)
    return build.plan


def target_state(device: DeviceFacts) -> KernelState:
    """The kernel state the device's kernel script creates."""
    return kernel_plan(device).state


def _endpoints(build: _Builder, device: DeviceFacts) -> None:
    mtu = device.overlay_mtu
    for endpoint in device.endpoints:
        build.section(f"{endpoint.segment} (tenant {endpoint.tenant}, VNI {endpoint.vni})")
        if endpoint.parent:
            build.set(endpoint.parent, mtu=mtu)
            build.create(endpoint.interface, "vlan", parent=endpoint.parent, id=str(endpoint.vlan))
        build.set(endpoint.interface, mtu=mtu)
        build.address(endpoint.interface, endpoint.ip)


def _vtep(build: _Builder, device: DeviceFacts) -> None:
    mtu = device.overlay_mtu
    if device.announce or device.vtep_ip:
        build.section("Loopback: router ID and VTEP address")
        build.set("lo")
        for prefix in device.announce:
            build.address("lo", prefix)
        if device.vtep_link:
            build.set(device.vtep_link)
        if device.vtep_address_interface:
            build.address(device.vtep_address_interface, str(device.vtep_prefix))
    if device.interfaces:
        build.section("Underlay")
    for interface in device.interfaces:
        build.set(interface.name, mtu=interface.mtu)
        build.address(interface.name, interface.ip)
    for vrf in device.vrfs:
        l3 = f", L3 VNI {vrf.l3vni}" if vrf.l3vni is not None else ""
        build.section(f"Tenant {vrf.tenant}: VRF {vrf.name}{l3}")
        build.create(vrf.name, "vrf", table=vrf.table)
        build.set(vrf.name)
        if vrf.l3vni is not None:
            build.create(f"br{vrf.l3vni}", "bridge")
            build.set(f"br{vrf.l3vni}", master=vrf.name)
            build.vxlan(f"vxlan{vrf.l3vni}", vrf.l3vni, device, learning=False)
            build.set(f"vxlan{vrf.l3vni}", master=f"br{vrf.l3vni}", mtu=mtu)
    for segment in device.segments:
        _segment(build, device, segment)


def _segment(build: _Builder, device: DeviceFacts, segment: SegmentFacts) -> None:
    mtu = device.overlay_mtu
    bridge, vxlan = f"br{segment.vni}", f"vxlan{segment.vni}"
    build.section(f"Segment {segment.name} (tenant {segment.tenant}): VLAN {segment.vlan} <-> VNI {segment.vni}, "
                  f"{segment.flood} flooding")
    build.create(bridge, "bridge")
    build.set(bridge, mtu=mtu)
    # Static flooding: the kernel learns remote MACs from the data plane and BUM goes to the flood list.
    # EVPN: FRR installs remote MACs and flood entries from type-2/3 routes, so no data-plane learning.
    build.vxlan(vxlan, segment.vni, device, learning=segment.is_static)
    build.set(vxlan, master=bridge, mtu=mtu)
    if segment.is_static:
        for peer in segment.flood_peers:
            build.flood(vxlan, peer)
    else:
        build.learning_off(vxlan)
    for port in segment.access_ports:
        build.set(port, master=bridge, mtu=mtu)
    for port in segment.trunk_ports:
        build.set(port, mtu=mtu)
        build.create(f"{port}.{segment.vlan}", "vlan", parent=port, id=segment.vlan)
        build.set(f"{port}.{segment.vlan}", master=bridge)
    if segment.gateway:
        build.set(bridge, up=False, master=str(segment.vrf), address=str(segment.gateway_mac))
        build.address(bridge, segment.gateway)
