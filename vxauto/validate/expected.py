"""Expected state, derived from the intent: what `vxauto validate` compares the devices with.

Everything here comes from `Fabric.devices` (the derived `DeviceFacts`), never from a device. It is
split in two halves that the two kinds of checks consume:

- per device (VTEPs and BGP speakers): VNIs with their VLAN, source address and flood/peer lists,
  the remote VTEPs and the VNIs shared with each, BGP sessions, underlay MTUs, the VTEP address;
- per endpoint (the non-VTEP hosts' addresses in segments): which pairs must reach each other,
  including with the largest overlay frame, and which must not (different segments).

A selection (`--hosts/--groups/--role/--platform`) narrows what is checked, not what is expected:
a selected leaf still expects every remote VTEP of its segments, selected or not.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

from vxauto.devices.contract import sorted_ips
from vxauto.model.fabric import Fabric
from vxauto.model.facts import DeviceFacts, EndpointFacts
from vxauto.model.mobility import MobileFacts, mobile_facts
from vxauto.model.platforms import platform

#: ICMP echo payload = overlay MTU - IP header - ICMP header.
ICMP_OVERHEAD = {4: 20 + 8, 6: 40 + 8}

FloodMode = Literal["static", "evpn"]


@dataclass(frozen=True)
class ExpectedVni:
    """One VNI as the intent puts it on one device."""

    vni: int
    type: Literal["l2", "l3"]
    #: The device's VLAN for the VNI (`local_vlans` applied); for an L3 VNI the tenant's `l3vlan`.
    vlan: int | None
    #: Segment name, or the tenant VRF for an L3 VNI.
    name: str
    tenant: str
    learning: FloodMode
    source_ip: str
    source_interface: str | None
    #: The other VTEPs of the segment: the static flood list, or the VTEPs whose type-3 routes must be
    #: there. Empty for an L3 VNI (no BUM flooding).
    remote_vteps: tuple[str, ...]
    #: Ports of this device that carry the segment: access ports and `<trunk>.<vlan>` sub-interfaces.
    ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpectedSession:
    """One BGP session the device must have up."""

    peer: str
    ip: str
    remote_as: int
    evpn: bool


@dataclass(frozen=True)
class ExpectedInterface:
    name: str
    mtu: int
    peer: str


@dataclass(frozen=True)
class ExpectedDevice:
    """What the getters of one device must show."""

    name: str
    platform: str
    role: str
    #: NAPALM driver name from the platform table; None: vxauto can render but not read this platform.
    driver: str | None
    hostname: str | None
    vtep_ip: str | None
    vtep_interface: str | None
    vnis: dict[int, ExpectedVni] = field(default_factory=dict)
    #: Remote VTEP IP -> VNIs this device shares with it (L2 VNIs only: those are flooded).
    remote_vteps: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: Remote VTEP IP -> inventory name, for readable check names.
    vtep_names: dict[str, str] = field(default_factory=dict)
    sessions: tuple[ExpectedSession, ...] = ()
    underlay: tuple[ExpectedInterface, ...] = ()
    #: VNIs of this device with mobile endpoints (VMs): the device says where each one is.
    mobile_vnis: tuple[int, ...] = ()

    @property
    def is_vtep(self) -> bool:
        return self.vtep_ip is not None


@dataclass(frozen=True)
class Endpoint:
    """An address a host has in a segment."""

    node: str
    interface: str
    segment: str
    tenant: str
    vni: int
    ip: str
    network: str

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.ip).version

    @property
    def label(self) -> str:
        return f"{self.node} {self.interface} {self.ip}"


@dataclass(frozen=True)
class Probe:
    """One data-plane test from `source` to `target`.

    `kind` is `ping` (must answer), `mtu` (must answer a DF ping of the largest overlay frame) or
    `isolation` (must not answer, even when the source puts an address of the target's subnet on its
    own segment interface: see `vxauto.validate.dataplane`).
    """

    kind: Literal["ping", "mtu", "isolation"]
    source: Endpoint
    target: Endpoint
    #: ICMP payload size for `mtu` probes.
    size: int | None = None


@dataclass(frozen=True)
class ExpectedState:
    fabric: str
    overlay_mtu: int
    devices: dict[str, ExpectedDevice]
    endpoints: tuple[Endpoint, ...]
    probes: tuple[Probe, ...]
    #: VNI -> devices (VTEPs) carrying it, in inventory order: where endpoint MACs must be learned.
    carriers: dict[int, tuple[str, ...]]
    #: Endpoint nodes whose data-plane probes were selected.
    probe_sources: tuple[str, ...] = ()
    #: Mobile endpoints (VMs) with the VTEPs they may sit behind: validate finds where each one is now.
    mobile: tuple[MobileFacts, ...] = ()

    def endpoints_in(self, vni: int) -> list[Endpoint]:
        return [e for e in self.endpoints if e.vni == vni]


# --------------------------------------------------------------------------- devices


def _segment_ports(facts: DeviceFacts, vlan: int, access: Sequence[str], trunk: Sequence[str]) -> tuple[str, ...]:
    return (*access, *(f"{port}.{vlan}" for port in trunk))


def _device_vnis(facts: DeviceFacts) -> dict[int, ExpectedVni]:
    source_ip = facts.vtep_ip or ""
    vnis: dict[int, ExpectedVni] = {}
    for segment in facts.segments:
        vnis[segment.vni] = ExpectedVni(
            vni=segment.vni, type="l2", vlan=segment.vlan, name=segment.name, tenant=segment.tenant,
            learning="static" if segment.is_static else "evpn", source_ip=source_ip,
            source_interface=facts.vtep_interface, remote_vteps=tuple(sorted_ips(segment.flood_peers)),
            ports=_segment_ports(facts, segment.vlan, segment.access_ports, segment.trunk_ports),
        )
    for vrf in facts.vrfs:
        if vrf.l3vni is None:
            continue
        vnis[vrf.l3vni] = ExpectedVni(
            vni=vrf.l3vni, type="l3", vlan=vrf.l3vlan, name=vrf.name, tenant=vrf.tenant, learning="evpn",
            source_ip=source_ip, source_interface=facts.vtep_interface, remote_vteps=(),
        )
    return dict(sorted(vnis.items()))


def _remote_vteps(vnis: dict[int, ExpectedVni]) -> dict[str, tuple[int, ...]]:
    shared: dict[str, list[int]] = {}
    for vni in vnis.values():
        for address in vni.remote_vteps:
            shared.setdefault(address, []).append(vni.vni)
    return {address: tuple(sorted(shared[address])) for address in sorted_ips(shared)}


def expected_device(fabric: Fabric, facts: DeviceFacts) -> ExpectedDevice:
    vnis = _device_vnis(facts)
    vtep_names = {f.vtep_ip: name for name, f in fabric.devices.items() if f.vtep_ip}
    return ExpectedDevice(
        name=facts.name,
        platform=facts.platform,
        role=facts.role,
        driver=platform(facts.platform).napalm_driver,
        hostname=facts.hostname,
        vtep_ip=facts.vtep_ip,
        vtep_interface=facts.vtep_interface,
        vnis=vnis,
        remote_vteps=_remote_vteps(vnis),
        vtep_names=vtep_names,
        sessions=tuple(ExpectedSession(n.name, n.ip, n.asn, n.evpn) for n in facts.bgp_neighbors),
        underlay=tuple(ExpectedInterface(i.name, i.mtu, i.peer) for i in facts.interfaces),
        mobile_vnis=tuple(sorted({vm.vni for vm in mobile_facts(fabric) if vm.vni in vnis})),
    )


def _has_device_state(facts: DeviceFacts) -> bool:
    """Devices with something for the getters to show: VTEPs, BGP speakers, underlay routers."""
    return facts.is_vtep or bool(facts.bgp_neighbors) or bool(facts.interfaces)


# --------------------------------------------------------------------------- endpoints and probes


def endpoint_from_facts(node: str, endpoint: EndpointFacts) -> Endpoint:
    interface = ipaddress.ip_interface(endpoint.ip)
    return Endpoint(
        node=node, interface=endpoint.interface, segment=endpoint.segment, tenant=endpoint.tenant,
        vni=endpoint.vni, ip=str(interface.ip), network=str(interface.network),
    )


def all_endpoints(fabric: Fabric) -> tuple[Endpoint, ...]:
    return tuple(
        endpoint_from_facts(name, endpoint) for name, facts in fabric.devices.items() for endpoint in facts.endpoints
    )


def _oriented(a: Endpoint, b: Endpoint, selected: set[str]) -> tuple[Endpoint, Endpoint] | None:
    """(source, target) of a pair, the source being a selected node; None if neither end is selected."""
    if a.node in selected:
        return a, b
    if b.node in selected:
        return b, a
    return None


def reachability_probes(endpoints: Iterable[Endpoint], selected: set[str], overlay_mtu: int) -> list[Probe]:
    """`ping` and `mtu` probes: one per pair of endpoints of the same segment on different nodes."""
    probes: list[Probe] = []
    by_vni: dict[int, list[Endpoint]] = {}
    for endpoint in endpoints:
        by_vni.setdefault(endpoint.vni, []).append(endpoint)
    for members in by_vni.values():
        for a, b in combinations(members, 2):
            pair = _oriented(a, b, selected) if a.node != b.node and a.version == b.version else None
            if pair is None:
                continue
            source, target = pair
            probes.append(Probe("ping", source, target))
            probes.append(Probe("mtu", source, target, size=overlay_mtu - ICMP_OVERHEAD[source.version]))
    return probes


def isolation_probes(endpoints: Sequence[Endpoint], selected: set[str]) -> list[Probe]:
    """`isolation` probes: from every selected endpoint to every endpoint of every other segment.

    Skipped targets, because they answer without any leak: addresses of the source node itself, and
    addresses of a node that also sits in the source's segment (Linux answers ARP for any of its
    addresses on any interface, `arp_ignore=0`, so such a target answers through the shared
    segment). Both directions of a pair are probed: a leak may be one-way (a port in the wrong
    bridge on one leaf only shows from the hosts behind that leaf).
    """
    nodes_in: dict[int, set[str]] = {}
    for endpoint in endpoints:
        nodes_in.setdefault(endpoint.vni, set()).add(endpoint.node)
    probes: list[Probe] = []
    for source in endpoints:
        if source.node not in selected:
            continue
        for target in endpoints:
            if (
                target.vni != source.vni
                and target.node not in nodes_in[source.vni]
                and target.version == source.version
            ):
                probes.append(Probe("isolation", source, target))
    return probes


# --------------------------------------------------------------------------- all together


def expected_state(fabric: Fabric, selected: Sequence[str] | None = None) -> ExpectedState:
    """The expected state of the selected hosts (all hosts when `selected` is None)."""
    chosen = set(fabric.hosts) if selected is None else set(selected)
    devices = {
        name: expected_device(fabric, facts)
        for name, facts in fabric.devices.items()
        if name in chosen and _has_device_state(facts)
    }
    endpoints = all_endpoints(fabric)
    probes = [
        *reachability_probes(endpoints, chosen, fabric.intent.fabric.overlay_mtu),
        *isolation_probes(endpoints, chosen),
    ]
    carriers: dict[int, list[str]] = {}
    for name, facts in fabric.devices.items():
        for segment in facts.segments:
            carriers.setdefault(segment.vni, []).append(name)
    return ExpectedState(
        fabric=fabric.name,
        overlay_mtu=fabric.intent.fabric.overlay_mtu,
        devices=devices,
        endpoints=endpoints,
        probes=tuple(probes),
        carriers={vni: tuple(names) for vni, names in sorted(carriers.items())},
        probe_sources=tuple(sorted({probe.source.node for probe in probes})),
        mobile=tuple(mobile_facts(fabric)),
    )
