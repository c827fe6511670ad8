"""Fact derivation: `DeviceFacts` per host from the checked intent (segments as each VTEP sees them, VRFs,
interfaces, BGP neighbours, endpoints, announced prefixes, loopback placement). Computed once per fabric;
what all VTEPs of a segment share is computed once per segment.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from functools import cached_property
from typing import TYPE_CHECKING, cast

from vxauto.model import mobility, multisite
from vxauto.model.facts import (
    BgpNeighbor,
    DeviceFacts,
    EndpointFacts,
    InterfaceFacts,
    SegmentFacts,
    VrfFacts,
    loopback_placement,
)
from vxauto.model.lookups import FabricLookups
from vxauto.model.platforms import platform
from vxauto.model.schema import HostIntent, Segment

VRF_TABLE_BASE = 1001  # kernel table of a tenant's VRF device: base + tenant index


def route_distinguisher(router_id: str | None, number: int | None, host_platform: str) -> str | None:
    """The RD of a host's segment (number: its VLAN there) or L3 VRF (number: the L3 VLAN).

    `<router-id>:<number>` (RFC 4364 type 1), except where FRR's bgpd originates the routes. bgpd gives every
    VNI and VRF it learns an automatic RD `<router-id>:<index>` (type 1, the lowest free index of its
    rd_idspace, 1..65535) and advertises under it until the configured `rd` replaces it; it learns a VNI as soon
    as the kernel VXLAN device appears (advertise-all-vni), which the FRR driver creates before it applies the
    FRR configuration. A configured `<router-id>:<VLAN>` is in that range: the 6th VNI added to a leaf with
    three got `<router-id>:10`, its type-3 route (key: RD + originator) replaced VLAN 10's on every peer, and
    the withdrawal of the transient route removed VLAN 10's for good (docs/mobility.md, "Route
    distinguishers"). So on FRR the administrator field is the router ID as a 32-bit number
    (`<router-id as integer>:<number>`, type 2; type 0 for router IDs below 0.1.0.0): never a type 1 RD, so
    never one of bgpd's automatic RDs, and still unique per router and VLAN. Reordering the apply
    (FRR configuration before the kernel device) would close only that one path; a VNI device made by anything
    else, or present when `vni N` is configured, would still advertise under an automatic RD.
    """
    if not router_id or not number:
        return None
    if platform(host_platform).automatic_rds:
        return f"{int(ipaddress.IPv4Address(router_id))}:{number}"
    return f"{router_id}:{number}"


if TYPE_CHECKING:
    from vxauto.model.fabric import Fabric


class FactDerivation(FabricLookups):
    """The derived facts of a fabric: `device(name)` / `devices`."""

    @cached_property
    def _vtep_rank(self) -> dict[str, tuple[int, str]]:
        """Host -> (sort rank of its VTEP IP, the IP): IPs are parsed and sorted once, not per segment."""
        vtep_ip = {name: h.data.vtep.ip for name, h in self.vteps.items() if h.data.vtep}
        ordered = sorted(vtep_ip.items(), key=lambda item: _ip_sort_key(item[1]))
        return {name: (rank, ip) for rank, (name, ip) in enumerate(ordered)}

    @cached_property
    def _segment_vteps(self) -> dict[str, tuple[str, ...]]:
        rank = self._vtep_rank
        return {
            name: tuple(ip for _, ip in sorted({rank[h] for h in hosts if h in rank}))
            for name, hosts in self.attachments.items()
        }

    @cached_property
    def _segment_common(self) -> dict[str, dict[str, object]]:
        """The parts of SegmentFacts that are the same on every VTEP (computed once per segment)."""
        common = {}
        for segment in self.intent.segments:
            tenant = self.tenants[segment.tenant]
            common[segment.name] = {
                "name": segment.name,
                "vni": segment.vni,
                "tenant": tenant.name,
                "vrf": tenant.vrf_name if tenant.l3vni is not None or segment.gateway else None,
                "description": segment.description,
                "flood": self.flood_mode(segment),
                "route_target": self.route_target(segment),
                "gateway": segment.gateway,
                "gateway_mac": self.intent.fabric.anycast_mac if segment.gateway else None,
                "segment_vteps": self._segment_vteps[segment.name],
            }
        return common

    def device(self, name: str) -> DeviceFacts:
        """Derived facts of one host (computed on demand; cached per fabric)."""
        return self.devices[name]

    @cached_property
    def devices(self) -> dict[str, DeviceFacts]:
        return {name: self._derive_device(host) for name, host in self.hosts.items()}

    def _derive_device(self, host: HostIntent) -> DeviceFacts:
        settings, data = self.intent.fabric, host.data
        vtep_ip = data.vtep.ip if data.vtep else None
        ports = self._ports_by_segment(host)
        segments = tuple(
            sorted(
                (self._segment_facts(segment, host, vtep_ip or "", ports) for segment in
                 self.segments_by_host.get(host.name, [])),
                key=lambda s: s.vni,
            )
        )
        record = platform(host.platform)
        announce = self._announce(host)
        placement = loopback_placement(
            data.router_id, vtep_ip, data.vtep.interface if data.vtep else None, announce,
            tuple(link.interface for link in data.underlay),
            (record.router_id_interface, record.vtep_router_id_interface),
        )
        return DeviceFacts(
            name=host.name,
            platform=host.platform,
            flavour=data.flavour or ("iproute2" if platform(host.platform).flavours else None),
            role=data.role,
            hostname=host.hostname,
            asn=data.asn,
            router_id=data.router_id,
            vtep_ip=vtep_ip,
            vtep_interface=data.vtep.interface if data.vtep else None,
            udp_port=settings.udp_port,
            underlay_mtu=settings.underlay_mtu,
            overlay_mtu=settings.overlay_mtu,
            fabric_name=settings.name,
            fabric_asn=settings.asn,
            anycast_mac=settings.anycast_mac,
            description=data.description,
            segments=segments,
            vrfs=self._vrf_facts(host, segments),
            interfaces=self._interfaces(host),
            bgp_neighbors=self._bgp_neighbors(host),
            endpoints=self._endpoints(host),
            announce=announce,
            version=data.version or record.default_version,
            multisite=multisite.border_facts(cast("Fabric", self), host) if self.intent.sites else None,
            **placement._asdict(),
        )

    def _ports_by_segment(self, host: HostIntent) -> dict[str, tuple[list[str], list[str]]]:
        ports: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
        for port in host.data.ports:
            if port.segment:
                ports[port.segment][0].append(port.interface)
            for name in port.segments:
                ports[name][1].append(port.interface)
        return ports

    def _segment_facts(
        self, segment: Segment, host: HostIntent, vtep_ip: str, ports: dict[str, tuple[list[str], list[str]]]
    ) -> SegmentFacts:
        vlan = self.vlan_on(segment, host.name)
        access, trunk = ports.get(segment.name, ((), ()))
        router_id = host.data.router_id
        common = self._segment_common[segment.name]
        if host.data.site and self.intent.sites:  # a site may override the segment's route target
            common = {**common, "route_target": mobility.site_route_target(cast("Fabric", self), segment, host.name)}
        return SegmentFacts(
            vlan=vlan,
            route_distinguisher=route_distinguisher(router_id, vlan, host.platform),
            local_vtep=vtep_ip,
            access_ports=tuple(access),
            trunk_ports=tuple(trunk),
            **common,  # type: ignore[arg-type]
        )

    def _vrf_facts(self, host: HostIntent, segments: tuple[SegmentFacts, ...]) -> tuple[VrfFacts, ...]:
        router_id = host.data.router_id
        vrfs = []
        for tenant_name in sorted({s.tenant for s in segments if s.vrf}):
            tenant = self.tenants[tenant_name]
            vrfs.append(
                VrfFacts(
                    name=tenant.vrf_name,
                    tenant=tenant.name,
                    l3vni=tenant.l3vni,
                    l3vlan=tenant.l3vlan,
                    route_target=f"{self.intent.fabric.asn}:{tenant.l3vni}" if tenant.l3vni else None,
                    route_distinguisher=route_distinguisher(router_id, tenant.l3vlan, host.platform),
                    table=VRF_TABLE_BASE + self._position[id(tenant)],
                )
            )
        return tuple(vrfs)

    def _interfaces(self, host: HostIntent) -> tuple[InterfaceFacts, ...]:
        result = []
        for link in host.data.underlay:
            peer = self._peer_link(host.name, link.ip, link.peer)
            peer_ip = str(ipaddress.ip_interface(peer.ip).ip) if peer else ""
            result.append(
                InterfaceFacts(link.interface, link.ip, link.peer, peer_ip, link.mtu or self.intent.fabric.underlay_mtu)
            )
        return tuple(result)

    def _speaks_evpn(self, name: str) -> bool:
        host = self.hosts[name]
        if host.data.role == "spine":
            return any(self.flood_mode(s) == "evpn" for s in self.intent.segments)
        return any(self.flood_mode(s) == "evpn" for s in self.segments_by_host.get(name, []))

    def _bgp_neighbors(self, host: HostIntent) -> tuple[BgpNeighbor, ...]:
        if host.data.asn is None:
            return ()
        own_evpn = self._speaks_evpn(host.name)
        neighbors = []
        for interface in self._interfaces(host):
            peer = self.hosts[interface.peer]
            if peer.data.asn is None or not interface.peer_ip:
                continue
            evpn = own_evpn and self._speaks_evpn(peer.name) and "spine" in (host.data.role, peer.data.role)
            neighbors.append(BgpNeighbor(peer.name, interface.name, interface.peer_ip, peer.data.asn, evpn,
                                         peer.data.router_id))
        return tuple(neighbors)

    def _endpoints(self, host: HostIntent) -> tuple[EndpointFacts, ...]:
        endpoints = []
        for endpoint in host.data.endpoints:
            segment = self.segments[endpoint.segment]
            parent, _, tag = endpoint.interface.rpartition(".")
            is_subinterface = bool(parent) and tag.isdigit()
            endpoints.append(
                EndpointFacts(
                    endpoint.interface, segment.name, segment.tenant, segment.vni, endpoint.ip,
                    parent=parent if is_subinterface else None, vlan=int(tag) if is_subinterface else None,
                )
            )
        return tuple(endpoints)

    def _announce(self, host: HostIntent) -> tuple[str, ...]:
        prefixes = []
        for address in (host.data.router_id, host.data.vtep.ip if host.data.vtep else None):
            if address:
                prefix = f"{address}/{128 if ':' in address else 32}"
                if prefix not in prefixes:
                    prefixes.append(prefix)
        return tuple(prefixes) if host.data.underlay else ()


def _ip_sort_key(address: str) -> tuple[int, int]:
    parsed = ipaddress.ip_address(address)
    return (parsed.version, int(parsed))
