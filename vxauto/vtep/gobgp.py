"""GoBGP gRPC messages for EVPN: build the paths pyvtep advertises, read the paths GoBGP reports.

Pure functions over the generated stubs in `vxauto.vtep.gobgpapi` (no sockets), so they are tested
without a daemon. What goes on the wire follows RFC 7432 and RFC 8365:

* route distinguisher type 1 (RFC 4364 section 4.2): `<router-id>:<index>`, the index unique per EVI on
  this VTEP (`assign_rd_indexes`);
* route targets as 2-octet-AS (or 4-octet-AS) specific extended communities, sub-type 2;
* the BGP encapsulation extended community with tunnel type 8 (VXLAN, RFC 8365 section 5.1.3);
* type-2 routes carry the VNI as label and, from the first move on, the MAC mobility extended community
  (RFC 7432 section 7.7) with the sequence number;
* type-3 routes carry a PMSI tunnel attribute of type 6 (ingress replication) with label = VNI.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import any_pb2
from google.protobuf.message import Message

from vxauto.vtep.config import parse_route_target
from vxauto.vtep.gobgpapi import attribute_pb2 as attr
from vxauto.vtep.gobgpapi import gobgp_pb2 as api
from vxauto.vtep.packet import mac_bytes

ROUTE_TYPE_MAC = 2
ROUTE_TYPE_IMET = 3
ENCAP_VXLAN = 8  # RFC 8365 section 5.1.3 / IANA BGP tunnel type
PMSI_INGRESS_REPLICATION = 6
SUBTYPE_ROUTE_TARGET = 2
RD_INDEX_MAX = 0xFFFF
ORIGIN_IGP = 0

EVPN_FAMILY = api.Family(afi=api.Family.AFI_L2VPN, safi=api.Family.SAFI_EVPN)
IPV4_FAMILY = api.Family(afi=api.Family.AFI_IP, safi=api.Family.SAFI_UNICAST)
IPV6_FAMILY = api.Family(afi=api.Family.AFI_IP6, safi=api.Family.SAFI_UNICAST)


@dataclass(frozen=True)
class RouteEvent:
    """One EVPN path reported by GoBGP, reduced to what pyvtep needs."""

    key: str  # route type + RD + what identifies the route within it: one NLRI
    route_type: int
    vni: int | None
    remote: str | None  # next hop (type 2) or PMSI tunnel endpoint (type 3)
    mac: bytes | None
    ip: str | None  # the IP of a MAC+IP type-2 route
    route_targets: tuple[str, ...]
    sequence: int  # MAC mobility sequence number, 0 when the community is absent
    withdrawal: bool


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def assign_rd_indexes(vnis: Iterable[int], kept: dict[int, int]) -> dict[int, int]:
    """One RD index (1..65535) per VNI, unique on this VTEP; `kept` holds indexes already in use.

    A VNI keeps the index it has (routes keep their RD across reloads); a new VNI takes `vni & 0xFFFF`
    when that is free and not 0, else the lowest free index. So VNIs 65,536 apart never share an RD.
    """
    wanted = set(vnis)
    result = {vni: index for vni, index in kept.items() if vni in wanted}
    used = set(result.values())
    for vni in sorted(wanted - result.keys()):
        index = vni & RD_INDEX_MAX
        if index == 0 or index in used:
            index = next(i for i in range(1, RD_INDEX_MAX + 1) if i not in used)
        result[vni] = index
        used.add(index)
    return result


def rd_any(router_id: str, index: int) -> any_pb2.Any:
    return _pack(attr.RouteDistinguisherIPAddress(admin=router_id, assigned=index))


def route_target_any(text: str) -> any_pb2.Any:
    asn, local = parse_route_target(text)
    if asn <= 0xFFFF:
        return _pack(attr.TwoOctetAsSpecificExtended(
            is_transitive=True, sub_type=SUBTYPE_ROUTE_TARGET, asn=asn, local_admin=local))
    return _pack(attr.FourOctetAsSpecificExtended(
        is_transitive=True, sub_type=SUBTYPE_ROUTE_TARGET, asn=asn, local_admin=local))


def _common_attributes(next_hop: str, communities: list[any_pb2.Any]) -> list[any_pb2.Any]:
    attributes = [_pack(attr.OriginAttribute(origin=ORIGIN_IGP)), _pack(attr.NextHopAttribute(next_hop=next_hop))]
    if communities:  # an empty attribute is malformed (RFC 7606 treat-as-withdraw; FRR drops the route)
        attributes.append(_pack(attr.ExtendedCommunitiesAttribute(communities=communities)))
    return attributes


def imet_path(router_id: str, rd_index: int, vtep: str, vni: int, route_target: str) -> api.Path:
    """Type-3 route: flood BUM traffic of `vni` to `vtep` by ingress replication."""
    nlri = attr.EVPNInclusiveMulticastEthernetTagRoute(rd=rd_any(router_id, rd_index), ethernet_tag=0,
                                                       ip_address=vtep)
    pmsi = attr.PmsiTunnelAttribute(flags=0, type=PMSI_INGRESS_REPLICATION, label=vni,
                                    id=ipaddress.ip_address(vtep).packed)
    communities = [route_target_any(route_target), _pack(attr.EncapExtended(tunnel_type=ENCAP_VXLAN))]
    return api.Path(nlri=_pack(nlri), pattrs=[*_common_attributes(vtep, communities), _pack(pmsi)],
                    family=EVPN_FAMILY)


def mac_path(router_id: str, rd_index: int, vtep: str, vni: int, route_target: str, mac: str,
             sequence: int = 0, ip: str | None = None) -> api.Path:
    """Type-2 route: `mac` (and `ip`, when given) lives behind `vtep` in `vni`.

    RFC 7432 section 7.7: a route without the MAC mobility community has sequence number 0, so the
    community is only sent from the first move on.
    """
    nlri = attr.EVPNMACIPAdvertisementRoute(
        rd=rd_any(router_id, rd_index), esi=attr.EthernetSegmentIdentifier(type=0, value=bytes(9)),
        ethernet_tag=0, mac_address=mac, ip_address=ip or "", labels=[vni])
    communities = [route_target_any(route_target), _pack(attr.EncapExtended(tunnel_type=ENCAP_VXLAN))]
    if sequence:
        communities.append(_pack(attr.MacMobilityExtended(is_sticky=False, sequence_num=sequence)))
    return api.Path(nlri=_pack(nlri), pattrs=_common_attributes(vtep, communities), family=EVPN_FAMILY)


def prefix_path(prefix: str, next_hop: str) -> api.Path:
    """An underlay prefix (our VTEP address) in ipv4- or ipv6-unicast."""
    network = ipaddress.ip_network(prefix, strict=False)
    nlri = attr.IPAddressPrefix(prefix_len=network.prefixlen, prefix=str(network.network_address))
    family = IPV4_FAMILY if network.version == 4 else IPV6_FAMILY
    return api.Path(nlri=_pack(nlri), pattrs=_common_attributes(next_hop, []), family=family)


# --- reading what GoBGP reports ---------------------------------------------------------------------


def rd_text(packed: any_pb2.Any) -> str:
    for kind in (attr.RouteDistinguisherIPAddress, attr.RouteDistinguisherTwoOctetASN,
                 attr.RouteDistinguisherFourOctetASN):
        if packed.Is(kind.DESCRIPTOR):
            rd = kind()
            packed.Unpack(rd)
            return f"{rd.admin}:{rd.assigned}"
    return "?"


def _communities(attributes: Iterable[any_pb2.Any]) -> tuple[tuple[str, ...], int]:
    """(route targets as ASN:NN, MAC mobility sequence number) of a path's extended communities."""
    targets: list[str] = []
    sequence = 0
    for packed in attributes:
        if not packed.Is(attr.ExtendedCommunitiesAttribute.DESCRIPTOR):
            continue
        communities = attr.ExtendedCommunitiesAttribute()
        packed.Unpack(communities)
        for community in communities.communities:
            for kind in (attr.TwoOctetAsSpecificExtended, attr.FourOctetAsSpecificExtended):
                if community.Is(kind.DESCRIPTOR):
                    value = kind()
                    community.Unpack(value)
                    if value.sub_type == SUBTYPE_ROUTE_TARGET:
                        targets.append(f"{value.asn}:{value.local_admin}")
            if community.Is(attr.MacMobilityExtended.DESCRIPTOR):
                mobility = attr.MacMobilityExtended()
                community.Unpack(mobility)
                sequence = mobility.sequence_num
    return tuple(targets), sequence


def _next_hop(attributes: Iterable[any_pb2.Any]) -> str | None:
    for packed in attributes:
        if packed.Is(attr.MpReachNLRIAttribute.DESCRIPTOR):
            reach = attr.MpReachNLRIAttribute()
            packed.Unpack(reach)
            if reach.next_hops:
                return reach.next_hops[0]
        elif packed.Is(attr.NextHopAttribute.DESCRIPTOR):
            hop = attr.NextHopAttribute()
            packed.Unpack(hop)
            return hop.next_hop
    return None


def _pmsi(attributes: Iterable[any_pb2.Any]) -> attr.PmsiTunnelAttribute | None:
    for packed in attributes:
        if packed.Is(attr.PmsiTunnelAttribute.DESCRIPTOR):
            pmsi = attr.PmsiTunnelAttribute()
            packed.Unpack(pmsi)
            return pmsi
    return None


def _address(text: str) -> str | None:
    """The IP of a MAC+IP route; None for a MAC-only route (GoBGP says "<nil>", others "" or 0.0.0.0)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return None if address.is_unspecified else str(address)


def route_event(path: api.Path) -> RouteEvent | None:
    """The type-2/type-3 EVPN route in `path`, or None for anything else (underlay prefixes, other types)."""
    targets, sequence = _communities(path.pattrs)
    next_hop = _next_hop(path.pattrs)
    if path.nlri.Is(attr.EVPNMACIPAdvertisementRoute.DESCRIPTOR):
        mac_route = attr.EVPNMACIPAdvertisementRoute()
        path.nlri.Unpack(mac_route)
        try:
            mac = mac_bytes(mac_route.mac_address)
        except ValueError:
            return None
        ip = _address(mac_route.ip_address)
        rd = rd_text(mac_route.rd)
        return RouteEvent(
            key=f"2|{rd}|{mac_route.ethernet_tag}|{mac.hex()}|{ip or ''}", route_type=ROUTE_TYPE_MAC,
            vni=mac_route.labels[0] if mac_route.labels else None, remote=next_hop, mac=mac, ip=ip,
            route_targets=targets, sequence=sequence, withdrawal=path.is_withdraw)
    if path.nlri.Is(attr.EVPNInclusiveMulticastEthernetTagRoute.DESCRIPTOR):
        imet = attr.EVPNInclusiveMulticastEthernetTagRoute()
        path.nlri.Unpack(imet)
        pmsi = _pmsi(path.pattrs)
        remote = imet.ip_address or next_hop
        if pmsi is not None and pmsi.type == PMSI_INGRESS_REPLICATION and len(pmsi.id) in (4, 16):
            remote = str(ipaddress.ip_address(pmsi.id))
        rd = rd_text(imet.rd)
        return RouteEvent(
            key=f"3|{rd}|{imet.ethernet_tag}|{imet.ip_address}", route_type=ROUTE_TYPE_IMET,
            vni=pmsi.label if pmsi is not None else None, remote=remote, mac=None, ip=None,
            route_targets=targets, sequence=0, withdrawal=path.is_withdraw)
    return None
