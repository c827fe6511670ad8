"""Shared machinery of the vendor template tests (tests/render/test_vendor_*.py).

Each vendor test renders a fixture intent (tests/fixtures/intents/vendor-<platform>/) through the real pipeline
(`load_fabric` -> `render_fabric`), parses the rendered text back into meaning with its own small parser
(a `Parsed` per device) and hands it to `check_device`, which compares it with an expectation computed here
*independently* of vxauto: straight from the fixture's YAML files (attach lists, local VLANs, the hosts' VTEP
addresses and ASNs), never from the derived facts the templates were given.
"""

from __future__ import annotations

import ipaddress
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from vxauto.model import load_fabric
from vxauto.render import render_fabric

INTENTS = Path(__file__).resolve().parents[1] / "fixtures" / "intents"
DEFAULT_UDP_PORT = 4789
#: Platforms whose BGP is FRR's bgpd (automatic RDs `<router-id>:<index>`, docs/mobility.md "Route distinguishers").
FRR_BASED = frozenset({"frr", "cumulus", "sonic"})


# --- what the intent says (computed from the YAML files alone) -------------------------------------------


@dataclass(frozen=True)
class ExpectedSegment:
    name: str
    vlan: int
    vni: int
    flood: str
    #: VTEP addresses of the *other* hosts the segment is attached to.
    peers: frozenset[str]
    route_target: str
    route_distinguisher: str
    gateway: str | None
    vrf: str | None


@dataclass(frozen=True)
class ExpectedVrf:
    name: str
    l3vni: int
    l3vlan: int
    route_target: str
    route_distinguisher: str


@dataclass
class ExpectedDevice:
    name: str
    role: str
    asn: int
    router_id: str
    vtep_ip: str | None
    vtep_interface: str | None
    udp_port: int
    anycast_mac: str
    segments: dict[int, ExpectedSegment] = field(default_factory=dict)  # by VNI
    vrfs: dict[str, ExpectedVrf] = field(default_factory=dict)
    #: underlay interface -> (address/prefix, IP MTU)
    interfaces: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: neighbour address -> (ASN, EVPN activated)
    neighbors: dict[str, tuple[int, bool]] = field(default_factory=dict)
    #: port -> (untagged VLAN, tagged VLANs)
    ports: dict[str, tuple[int | None, frozenset[int]]] = field(default_factory=dict)
    announce: frozenset[str] = frozenset()

    @property
    def vlan_vni(self) -> dict[int, int]:
        return {s.vlan: s.vni for s in self.segments.values()}

    def by_vlan(self, vlan: int) -> ExpectedSegment:
        return next(s for s in self.segments.values() if s.vlan == vlan)


def _read(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None


def expected_devices(directory: Path) -> dict[str, ExpectedDevice]:
    """The meaning each device's configuration must have, from fabric.yaml/hosts.yaml/groups.yaml only."""
    intent = _read(directory / "fabric.yaml")
    hosts: dict[str, Any] = _read(directory / "hosts.yaml")
    groups: dict[str, Any] = _read(directory / "groups.yaml") or {}
    settings = intent["fabric"]
    asn = settings["asn"]

    def data(name: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for group in reversed(hosts[name].get("groups", [])):
            merged.update(groups[group].get("data", {}))
        merged.update(hosts[name].get("data", {}))
        return merged

    def platform_of(name: str) -> str | None:
        for source in (hosts[name], *(groups[g] for g in hosts[name].get("groups", []))):
            if "platform" in source:
                return str(source["platform"])
        return None

    def rd(name: str, number: int) -> str:
        """`<router-id>:<n>`; on FRR-based platforms (FRR, Cumulus, SONiC) the router ID as a 32-bit number,
        never one of bgpd's automatic `<router-id>:<index>` RDs."""
        router_id = data(name)["router_id"]
        if platform_of(name) in FRR_BASED:
            return f"{int(ipaddress.IPv4Address(router_id))}:{number}"
        return f"{router_id}:{number}"

    vtep_ip = {name: data(name)["vtep"]["ip"] for name in hosts if "vtep" in data(name)}
    tenants = {t["name"]: t for t in intent.get("tenants", [])}
    attached: dict[str, list[str]] = {}
    for segment in intent.get("segments", []):
        attach = segment.get("attach", "all")
        assert attach == "all" or not attach.get("groups"), "fixtures attach by host only"
        attached[segment["name"]] = list(vtep_ip) if attach == "all" else list(attach["hosts"])
    evpn_anywhere = any(s.get("flood", settings.get("flood", "evpn")) == "evpn" for s in intent["segments"])

    def speaks_evpn(name: str) -> bool:
        if data(name)["role"] == "spine":
            return evpn_anywhere
        return any(
            s.get("flood", settings.get("flood", "evpn")) == "evpn"
            for s in intent["segments"] if name in attached[s["name"]]
        )

    devices = {}
    for name in hosts:
        host = data(name)
        device = ExpectedDevice(
            name=name, role=host["role"], asn=host["asn"], router_id=host["router_id"],
            vtep_ip=vtep_ip.get(name), vtep_interface=host.get("vtep", {}).get("interface"),
            udp_port=settings.get("udp_port", DEFAULT_UDP_PORT),
            anycast_mac=settings.get("anycast_mac", "00:1c:73:00:00:01").lower(),
        )
        for segment in intent["segments"]:
            if name not in attached[segment["name"]]:
                continue
            vlan = segment.get("local_vlans", {}).get(name, segment["vlan"])
            tenant = tenants[segment["tenant"]]
            routed = tenant.get("l3vni") is not None or segment.get("gateway") is not None
            device.segments[segment["vni"]] = ExpectedSegment(
                name=segment["name"], vlan=vlan, vni=segment["vni"],
                flood=segment.get("flood", settings.get("flood", "evpn")),
                peers=frozenset(vtep_ip[h] for h in attached[segment["name"]] if h != name),
                route_target=segment.get("route_target") or f"{asn}:{segment['vni']}",
                route_distinguisher=rd(name, vlan),
                gateway=segment.get("gateway"),
                vrf=(tenant.get("vrf") or tenant["name"]) if routed else None,
            )
            if tenant.get("l3vni") is not None:
                vrf = tenant.get("vrf") or tenant["name"]
                device.vrfs[vrf] = ExpectedVrf(
                    vrf, tenant["l3vni"], tenant["l3vlan"], f"{asn}:{tenant['l3vni']}",
                    rd(name, tenant["l3vlan"]),
                )
        for link in host.get("underlay", []):
            device.interfaces[link["interface"]] = (link["ip"], link.get("mtu") or settings.get("underlay_mtu", 9100))
            network = ipaddress.ip_interface(link["ip"]).network
            back = next(
                other for other in data(link["peer"])["underlay"]
                if other["peer"] == name and ipaddress.ip_interface(other["ip"]).network == network
            )
            roles = (host["role"], data(link["peer"])["role"])
            evpn = speaks_evpn(name) and speaks_evpn(link["peer"]) and "spine" in roles
            device.neighbors[str(ipaddress.ip_interface(back["ip"]).ip)] = (data(link["peer"])["asn"], evpn)
        segment_vlan = {s.name: s.vlan for s in device.segments.values()}
        for port in host.get("ports", []):
            access = segment_vlan[port["segment"]] if port.get("segment") else None
            device.ports[port["interface"]] = (access, frozenset(segment_vlan[s] for s in port.get("segments", [])))
        loopbacks = {host["router_id"], vtep_ip.get(name)} - {None}
        device.announce = frozenset(f"{address}/32" for address in loopbacks)
        devices[name] = device
    return devices


# --- what the rendered configuration says (filled by each vendor's parser) --------------------------------


@dataclass
class Parsed:
    """A rendered configuration turned back into meaning. `None` means the platform has no such statement."""

    hostname: str | None = None
    #: interface name -> addresses with prefix (routed ports, loopbacks)
    addresses: dict[str, set[str]] = field(default_factory=dict)
    #: underlay interface -> IP MTU as configured (converted back to the IP MTU where the platform counts L2)
    mtus: dict[str, int] = field(default_factory=dict)
    vtep_interface: str | None = None
    vtep_ip: str | None = None
    udp_port: int | None = None
    #: every layer-2 VLAN <-> VNI mapping (segments only, not the VLAN of an L3 VNI)
    vlan_vni: dict[int, int] = field(default_factory=dict)
    vlan_names: dict[int, str] | None = None
    #: static flooding: VNI -> head-end replication list
    flood: dict[int, set[str]] = field(default_factory=dict)
    #: EVPN: VNI -> (RD, import RTs, export RTs)
    evpn: dict[int, tuple[str, set[str], set[str]]] = field(default_factory=dict)
    #: L3 VNIs: VRF -> (VNI, RD, import RTs, export RTs, VLAN carrying it or None where the platform needs none)
    l3: dict[str, tuple[int, str, set[str], set[str], int | None]] = field(default_factory=dict)
    #: anycast gateways: VLAN -> (VRF, gateway address/prefix, MAC)
    gateways: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    asn: int | None = None
    router_id: str | None = None
    #: neighbour -> (ASN, EVPN activated)
    neighbors: dict[str, tuple[int, bool]] = field(default_factory=dict)
    #: platforms with EVPN on separate loopback sessions (Junos): peer router ID -> ASN
    overlay_peers: dict[str, int] = field(default_factory=dict)
    announce: set[str] = field(default_factory=set)
    #: port -> (untagged VLAN, tagged VLANs)
    ports: dict[str, tuple[int | None, frozenset[int]]] = field(default_factory=dict)

    def read_cli_interface(self, block: Block) -> None:
        """An `interface X` block of EOS or NX-OS CLI (same grammar): switchport VLANs, or address and MTU."""
        name = block.line.split()[1]
        lines = block.lines()
        if "switchport" in lines:
            mode = next(line.split()[-1] for line in lines if line.startswith("switchport mode "))
            if mode == "access":
                (access,) = [int(line.split()[-1]) for line in lines if line.startswith("switchport access vlan ")]
                self.ports[name] = (access, frozenset())
            else:
                (allowed,) = [line.split()[-1] for line in lines if line.startswith("switchport trunk allowed vlan ")]
                native = [int(line.split()[-1]) for line in lines if line.startswith("switchport trunk native vlan ")]
                tagged = frozenset({int(v) for v in allowed.split(",")} - set(native))
                self.ports[name] = (native[0] if native else None, tagged)
            return
        for line in lines:
            if line.startswith("ip address "):
                self.addresses.setdefault(name, set()).add(line.split()[2])
            elif line.startswith("mtu "):
                self.mtus[name] = int(line.split()[1])


def check_device(parsed: Parsed, expected: ExpectedDevice, *, l3vlan: bool) -> None:
    """Assert that a parsed configuration has exactly the meaning of the intent for this device.

    `l3vlan`: whether the platform configures a VLAN for each L3 VNI (NX-OS, NVUE, SONiC do; EOS, Junos and
    SR Linux do not).
    """
    name = expected.name
    assert parsed.hostname == name
    # Underlay: addresses, MTU, BGP neighbours with EVPN where both ends speak it, announced prefixes.
    for interface, (address, mtu) in expected.interfaces.items():
        assert parsed.addresses.get(interface) == {address}, f"{name}: address of {interface}"
        assert parsed.mtus.get(interface) == mtu, f"{name}: MTU of {interface}"
    assert parsed.asn == expected.asn
    assert parsed.router_id == expected.router_id
    assert parsed.neighbors == expected.neighbors, f"{name}: BGP neighbours"
    assert parsed.announce == set(expected.announce), f"{name}: announced prefixes"
    configured = {address for addresses in parsed.addresses.values() for address in addresses}
    assert f"{expected.router_id}/32" in configured, f"{name}: router ID address on no interface"
    if expected.vtep_ip is None:
        assert parsed.vtep_ip is None and not parsed.vlan_vni and not parsed.evpn and not parsed.l3
        assert not parsed.flood and not parsed.gateways and not parsed.ports
        return
    # VTEP: source interface and address.
    assert parsed.vtep_ip == expected.vtep_ip, f"{name}: VTEP address"
    assert parsed.vtep_interface == expected.vtep_interface, f"{name}: VTEP source interface"
    assert f"{expected.vtep_ip}/32" in parsed.addresses.get(expected.vtep_interface, set())
    # The UDP port: stated when it is not the default (stating the default is harmless too).
    if expected.udp_port == DEFAULT_UDP_PORT:
        assert parsed.udp_port in (None, DEFAULT_UDP_PORT), f"{name}: UDP port"
    else:
        assert parsed.udp_port == expected.udp_port, f"{name}: UDP port"
    # Every VLAN-VNI pair of the device's segments, and nothing else.
    assert parsed.vlan_vni == expected.vlan_vni, f"{name}: VLAN-VNI map"
    if parsed.vlan_names is not None:
        assert parsed.vlan_names == {s.vlan: s.name for s in expected.segments.values()}
    # Flooding: static lists are exactly the other VTEPs; EVPN segments carry explicit RD and RT.
    static = {vni: s for vni, s in expected.segments.items() if s.flood == "static"}
    evpn = {vni: s for vni, s in expected.segments.items() if s.flood == "evpn"}
    assert {vni: peers for vni, peers in parsed.flood.items() if peers} == {
        vni: set(s.peers) for vni, s in static.items() if s.peers
    }, f"{name}: static flood lists"
    assert parsed.evpn == {
        vni: (s.route_distinguisher, {s.route_target}, {s.route_target}) for vni, s in evpn.items()
    }, f"{name}: EVPN RD/RT"
    # L3 VNIs and anycast gateways.
    assert parsed.l3 == {
        v.name: (v.l3vni, v.route_distinguisher, {v.route_target}, {v.route_target}, v.l3vlan if l3vlan else None)
        for v in expected.vrfs.values()
    }, f"{name}: L3 VNIs"
    assert parsed.gateways == {
        s.vlan: (s.vrf, s.gateway, expected.anycast_mac) for s in expected.segments.values() if s.gateway
    }, f"{name}: anycast gateways"
    assert parsed.ports == expected.ports, f"{name}: access/trunk ports"


# --- rendering a fixture -------------------------------------------------------------------------------------


@dataclass
class VendorRender:
    directory: Path
    configs: dict[str, str]
    expected: dict[str, ExpectedDevice]

    def leaves(self) -> Iterator[str]:
        return (name for name, device in self.expected.items() if device.vtep_ip is not None)


def prepare_intent(
    tmp_path: Path, platform: str, variant: str = "evpn", udp_port: int | None = None,
    edits: dict[str, str] | None = None,
) -> Path:
    """Copy a vendor fixture to tmp_path, choosing the fabric variant, optionally another UDP port and text
    edits of fabric.yaml (old -> new, each must occur)."""
    source = INTENTS / f"vendor-{platform}"
    target = Path(tempfile.mkdtemp(prefix=f"vendor-{platform}-{variant}-", dir=tmp_path)) / "inventory"
    shutil.copytree(source, target)
    if variant == "static":
        shutil.copy(source / "fabric-static.yaml", target / "fabric.yaml")
    replacements = dict(edits or {})
    if udp_port is not None:
        replacements["udp_port: 4789"] = f"udp_port: {udp_port}"
    fabric = target / "fabric.yaml"
    text = fabric.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, f"fixture edit {old!r} does not apply"
        text = text.replace(old, new)
    fabric.write_text(text, encoding="utf-8")
    return target


@pytest.fixture
def vendor_render(tmp_path: Path) -> Callable[..., VendorRender]:
    """render(platform, variant="evpn", udp_port=None, edits=None) -> every device rendered, and expected."""

    def render(
        platform: str, variant: str = "evpn", udp_port: int | None = None, edits: dict[str, str] | None = None
    ) -> VendorRender:
        directory = prepare_intent(tmp_path, platform, variant, udp_port, edits)
        rendered = render_fabric(load_fabric(directory))
        configs = {}
        for config in rendered:
            ((_, text),) = config.files.items()
            configs[config.host] = text
        return VendorRender(directory, configs, expected_devices(directory))

    return render


@pytest.fixture
def device_checker() -> Callable[..., None]:
    return check_device


@pytest.fixture
def new_parsed() -> type[Parsed]:
    """The `Parsed` record a vendor parser fills (a fixture, so test modules need not import conftest)."""
    return Parsed


# --- a parser shared by the indented CLIs (EOS, NX-OS) --------------------------------------------------------


@dataclass
class Block:
    """One CLI line with the lines indented below it."""

    line: str
    children: list[Block] = field(default_factory=list)

    def find(self, prefix: str) -> list[Block]:
        return [c for c in self.children if c.line == prefix or c.line.startswith(prefix + " ")]

    def lines(self) -> list[str]:
        return [c.line for c in self.children]


def parse_indented(text: str, comment: str = "!") -> Block:
    """Parse an EOS/NX-OS style configuration into a tree by indentation, dropping comment and blank lines."""
    root = Block("")
    stack: list[tuple[int, Block]] = [(-1, root)]
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith(comment):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        while stack[-1][0] >= indent:
            stack.pop()
        block = Block(stripped)
        stack[-1][1].children.append(block)
        stack.append((indent, block))
    return root


@pytest.fixture
def cli_tree() -> Callable[[str], Block]:
    return parse_indented
