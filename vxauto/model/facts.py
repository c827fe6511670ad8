"""Derived facts: everything templates need, computed once in Python.

Templates only format. Flood lists, route targets and distinguishers, effective VLAN-VNI maps, BGP
neighbours and VRFs are all worked out here from the validated intent, so every platform renders the
same meaning and tests can check that meaning without parsing any template logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class SegmentFacts(NamedTuple):
    """One segment as one VTEP sees it.

    A NamedTuple rather than a frozen dataclass: a 128-leaf x 1000-VNI fabric creates 128k of these and
    tuple construction is several times cheaper than a frozen dataclass's per-field `object.__setattr__`.
    """

    name: str
    vlan: int
    vni: int
    tenant: str
    vrf: str | None
    description: str | None
    flood: str
    route_target: str
    route_distinguisher: str | None
    gateway: str | None
    gateway_mac: str | None
    local_vtep: str
    #: VTEP IPs of every VTEP carrying the segment (shared between devices, sorted, includes this one).
    segment_vteps: tuple[str, ...]
    access_ports: tuple[str, ...] = ()
    trunk_ports: tuple[str, ...] = ()

    @property
    def flood_peers(self) -> tuple[str, ...]:
        """The other VTEPs of this segment: the ingress-replication list, or the EVPN peers to expect."""
        return tuple(ip for ip in self.segment_vteps if ip != self.local_vtep)

    @property
    def is_static(self) -> bool:
        return self.flood == "static"


@dataclass(frozen=True, slots=True)
class VrfFacts:
    name: str
    tenant: str
    l3vni: int | None
    l3vlan: int | None
    route_target: str | None
    route_distinguisher: str | None
    #: Kernel routing table of the VRF device on Linux-based platforms (unique per tenant).
    table: int


@dataclass(frozen=True, slots=True)
class BgpNeighbor:
    name: str
    interface: str
    ip: str
    asn: int
    evpn: bool
    #: The peer's router ID (its loopback): where a separate overlay session goes (Junos EVPN).
    router_id: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayPeer:
    """A border gateway of another site: the far end of a site-external (remote-domain) EVPN session."""

    name: str
    site: str
    #: Its router ID: the loopback the session goes to.
    ip: str
    asn: int


@dataclass(frozen=True, slots=True)
class MultisiteFacts:
    """A border gateway's part of a vendor multi-site design (platform record `multisite`)."""

    #: The design's name (`evpn-gateway`, `multisite-bgw`) and the vendor document it follows.
    design: str
    document: str
    site: str
    #: The site's ID (NX-OS `evpn multisite border-gateway <site-id>`).
    site_id: int
    #: Site-external EVPN sessions, loopback to loopback: the gateways of the other sites.
    peers: tuple[GatewayPeer, ...]
    #: The interface whose address the sessions come from (the router ID's), and their TTL.
    update_source: str
    multihop: int
    #: Underlay interfaces toward the other sites (DCI) and toward the own site (fabric).
    dci_interfaces: tuple[str, ...]
    fabric_interfaces: tuple[str, ...]
    #: Segment -> its route target on the site-external side: the fabric-wide RT (a site may override the RT
    #: inside, fabric.yaml `sites[].route_targets`; the gateway rewrites between the two).
    remote_route_targets: tuple[tuple[str, str], ...] = ()
    #: NX-OS: the site's shared virtual IP and the loopback that carries it (distinct from the NVE source).
    vip: str | None = None
    vip_interface: str | None = None
    #: NX-OS: seconds the BGW waits before it advertises the virtual IP again after a restore (`delay-restore time`).
    delay_restore: int | None = None

    def remote_route_target(self, segment: str) -> str:
        return dict(self.remote_route_targets)[segment]

    @property
    def vip_prefix(self) -> str | None:
        return host_prefix(self.vip) if self.vip else None


@dataclass(frozen=True, slots=True)
class InterfaceFacts:
    name: str
    ip: str
    peer: str
    peer_ip: str
    mtu: int

    @property
    def frame_mtu(self) -> int:
        """The MTU counting the 14-byte Ethernet header (Junos' physical `mtu`); `mtu` is the IP MTU."""
        return self.mtu + 14


@dataclass(frozen=True, slots=True)
class EndpointFacts:
    interface: str
    segment: str
    tenant: str
    vni: int
    ip: str
    #: For a VLAN sub-interface such as `eth1.10`: the parent (`eth1`) and the tag (10).
    parent: str | None = None
    vlan: int | None = None


@dataclass(frozen=True, slots=True)
class PortFacts:
    """One switch port of a VTEP with the segments it carries: untagged (access) and tagged (trunk)."""

    name: str
    access: SegmentFacts | None
    trunk: tuple[SegmentFacts, ...] = ()


@dataclass(frozen=True)
class DeviceFacts:
    """Everything about one inventory host that a template or a validator needs."""

    name: str
    platform: str
    flavour: str | None
    role: str
    hostname: str | None
    asn: int | None
    router_id: str | None
    vtep_ip: str | None
    vtep_interface: str | None
    udp_port: int
    underlay_mtu: int
    overlay_mtu: int
    fabric_name: str
    fabric_asn: int
    anycast_mac: str
    description: str | None = None
    segments: tuple[SegmentFacts, ...] = ()
    vrfs: tuple[VrfFacts, ...] = ()
    interfaces: tuple[InterfaceFacts, ...] = ()
    bgp_neighbors: tuple[BgpNeighbor, ...] = ()
    endpoints: tuple[EndpointFacts, ...] = ()
    #: Prefixes this device announces into the underlay (loopbacks, VTEP address).
    announce: tuple[str, ...] = field(default=())
    #: The platform software release the configuration is for (None: one syntax for every release).
    version: str | None = None
    #: Where the router ID lives when it is not the VTEP address (None: no router ID, or it is the VTEP
    #: address): the platform's router-ID loopback, which may be the VTEP interface itself (see
    #: `router_id_shares_vtep_interface`). Derived by `loopback_placement` from the platform record.
    router_id_interface: str | None = None
    #: The VTEP address as a host prefix (/32 or /128).
    vtep_prefix: str | None = None
    #: Kernel-based platforms: the addresses of `lo` (the announced prefixes, else the VTEP prefix when
    #: the VTEP interface is lo).
    loopback_addresses: tuple[str, ...] = ()
    #: Kernel-based platforms: the interface that gets the VTEP prefix besides lo's announced prefixes
    #: (None: no VTEP, or the VTEP prefix is one of the announced prefixes on lo).
    vtep_address_interface: str | None = None
    #: Kernel-based platforms: the VTEP interface when it is not lo (it has to be brought up).
    vtep_link: str | None = None
    #: Kernel-based platforms: the VTEP interface when it is neither lo nor an underlay link (it needs a
    #: stanza or file of its own).
    vtep_own_interface: str | None = None
    #: A border gateway's multi-site facts (None: not a border, or a border that only relays EVPN).
    multisite: MultisiteFacts | None = None

    @property
    def gateway_peers(self) -> tuple[GatewayPeer, ...]:
        """The other sites' gateways a border gateway holds site-external EVPN sessions with (else none)."""
        return self.multisite.peers if self.multisite else ()

    @property
    def is_vtep(self) -> bool:
        return self.vtep_ip is not None

    @property
    def router_id_shares_vtep_interface(self) -> bool:
        """The router ID is a second address of the VTEP interface (secondary on EOS/NX-OS, the VTEP
        address marked primary on Junos)."""
        return self.router_id_interface is not None and self.router_id_interface == self.vtep_interface

    @property
    def evpn(self) -> bool:
        """Whether the device speaks BGP EVPN (a VTEP with EVPN segments, or a spine relaying EVPN)."""
        return any(n.evpn for n in self.bgp_neighbors)

    @property
    def evpn_peers(self) -> tuple[BgpNeighbor, ...]:
        """One EVPN neighbour per peer device (a peer reached over two links is one overlay session)."""
        seen: dict[str, BgpNeighbor] = {}
        for neighbor in self.bgp_neighbors:
            if neighbor.evpn and neighbor.router_id:
                seen.setdefault(neighbor.name, neighbor)
        return tuple(seen.values())

    @property
    def custom_udp_port(self) -> bool:
        """The VXLAN UDP port is not IANA's 4789 (RFC 7348), so the configuration has to name it."""
        return self.udp_port != 4789

    def gateways_in(self, vrf: str) -> tuple[SegmentFacts, ...]:
        """The anycast-gateway segments routed in VRF `vrf`."""
        return tuple(s for s in self.gateway_segments if s.vrf == vrf)

    @property
    def l3_vrfs(self) -> tuple[VrfFacts, ...]:
        """The VRFs with an L3 VNI (symmetric IRB)."""
        return tuple(v for v in self.vrfs if v.l3vni is not None)

    @property
    def gateway_segments(self) -> tuple[SegmentFacts, ...]:
        """The segments with an anycast gateway."""
        return tuple(s for s in self.segments if s.gateway)

    @property
    def static_segments(self) -> tuple[SegmentFacts, ...]:
        return tuple(s for s in self.segments if s.flood == "static")

    @property
    def evpn_segments(self) -> tuple[SegmentFacts, ...]:
        return tuple(s for s in self.segments if s.flood == "evpn")

    @property
    def static_flood_vteps(self) -> tuple[str, ...]:
        """Every remote VTEP of any static-flood segment, once, in segment order: the device-wide
        static VTEP list some platforms need besides the per-VLAN lists (Junos remote-vtep-list)."""
        vteps: list[str] = []
        for segment in self.static_segments:
            vteps += [ip for ip in segment.flood_peers if ip not in vteps]
        return tuple(vteps)

    @property
    def ports(self) -> tuple[PortFacts, ...]:
        """Access/trunk ports grouped per interface (segments keep their VNI order), for the
        platforms whose configuration is one block per port (EOS, NX-OS, NVUE)."""
        names: list[str] = []
        access: dict[str, SegmentFacts] = {}
        trunk: dict[str, list[SegmentFacts]] = {}
        for segment in self.segments:
            for port in segment.access_ports:
                names += [port] if port not in names else []
                access[port] = segment
            for port in segment.trunk_ports:
                names += [port] if port not in names else []
                trunk.setdefault(port, []).append(segment)
        return tuple(PortFacts(name, access.get(name), tuple(trunk.get(name, ()))) for name in names)

    @property
    def trunk_ports(self) -> tuple[PortFacts, ...]:
        """The ports carrying tagged segments."""
        return tuple(port for port in self.ports if port.trunk)

    @property
    def remote_vteps(self) -> tuple[str, ...]:
        """Every other VTEP this device shares a segment with (sorted as in the segments' lists)."""
        seen: dict[str, None] = {}
        for segment in self.segments:
            seen.update(dict.fromkeys(segment.flood_peers))
        return tuple(seen)

    @property
    def vlan_vni_map(self) -> dict[int, int]:
        return {s.vlan: s.vni for s in self.segments}

    @property
    def vtep_ip_version(self) -> int:
        return 6 if self.vtep_ip and ":" in self.vtep_ip else 4


class LoopbackPlacement(NamedTuple):
    """Which interface carries which loopback address (the DeviceFacts fields of the same names)."""

    router_id_interface: str | None
    vtep_prefix: str | None
    loopback_addresses: tuple[str, ...]
    vtep_address_interface: str | None
    vtep_link: str | None
    vtep_own_interface: str | None


def host_prefix(address: str) -> str:
    return f"{address}/{128 if ':' in address else 32}"


def loopback_placement(
    router_id: str | None,
    vtep_ip: str | None,
    vtep_interface: str | None,
    announce: tuple[str, ...],
    underlay: tuple[str, ...],
    router_id_loopbacks: tuple[str | None, str | None],
) -> LoopbackPlacement:
    """Place router ID and VTEP address.

    `router_id_loopbacks` is the platform's (router-ID loopback, router-ID loopback of a VTEP): the router ID
    gets an interface only when it is not the VTEP address; it sits on the VTEP interface when that is the
    router-ID loopback. On kernel platforms the VTEP address is one of lo's announced prefixes when the device
    announces any (it has an underlay); a host without underlay puts it on its VTEP interface."""
    on_spine, on_vtep = router_id_loopbacks
    rid_interface = None
    if router_id is not None and router_id != vtep_ip:
        rid_interface = (on_vtep or on_spine) if vtep_ip is not None else on_spine
    prefix = host_prefix(vtep_ip) if vtep_ip else None
    address_interface = vtep_interface if vtep_ip and not announce else None
    lo: tuple[str, ...] = announce or ((prefix,) if prefix and address_interface == "lo" else ())
    link = vtep_interface if vtep_ip and vtep_interface != "lo" else None
    own = link if link not in underlay else None
    return LoopbackPlacement(rid_interface, prefix, lo, address_interface, link, own)
