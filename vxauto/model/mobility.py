"""Sites and mobile endpoints: the multi-site and workload-mobility half of the intent.

A fabric may span sites (fabric.yaml `sites`, each host's `data.site`). Underlay links whose ends sit in
different sites are the DCI links; the hosts at their ends must be listed as the site's `borders`. The
overlay stays one: a segment keeps its route target across sites unless a site overrides it (a vendor's
multi-site design with per-site RTs, which needs the borders to rewrite them).

Mobile endpoints (fabric.yaml `mobile`) are workloads with a MAC and an IP in one segment that may sit
behind any VTEP carrying the segment (or the VTEPs listed in `vteps`): they are not pinned to a port.
Validation uses them to find where each one is now.

Everything here is derived from the validated intent in Python; `problems` cross-checks the fields the
schema cannot (unknown names, DCI ends that are not borders, duplicate MACs) with file, line and value.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vxauto.errors import Problem
from vxauto.model.platforms import platform

if TYPE_CHECKING:
    from vxauto.model.fabric import Fabric
    from vxauto.model.schema import HostIntent, MobileEndpoint, Segment, Site


@dataclass(frozen=True, slots=True)
class DciLink:
    """One underlay link between two sites, seen from both ends."""

    a: str
    a_interface: str
    a_site: str
    b: str
    b_interface: str
    b_site: str


@dataclass(frozen=True, slots=True)
class MobileFacts:
    """A mobile endpoint with the VTEPs it may sit behind (their VTEP addresses too)."""

    name: str
    segment: str
    vni: int
    mac: str
    ip: str
    #: VTEP host -> VTEP IP of every VTEP the endpoint may sit behind, in inventory order.
    vteps: dict[str, str]


def site_of(fabric: Fabric, host: str) -> str | None:
    return fabric.hosts[host].data.site


def dci_links(fabric: Fabric) -> list[DciLink]:
    """Every underlay link between hosts of different sites, once (from the end listed first)."""
    links: list[DciLink] = []
    seen: set[tuple[str, str]] = set()
    for host in fabric.hosts.values():
        for link in host.data.underlay:
            peer = fabric.hosts.get(link.peer)
            if peer is None or not host.data.site or not peer.data.site or host.data.site == peer.data.site:
                continue
            back = _peer_interface(fabric, host, link.ip, link.peer)
            if back is None or (peer.name, back) in seen:
                continue
            seen.add((host.name, link.interface))
            links.append(DciLink(host.name, link.interface, host.data.site, peer.name, back, peer.data.site))
    return links


def _peer_interface(fabric: Fabric, host: HostIntent, ip: str, peer: str) -> str | None:
    own = ipaddress.ip_interface(ip)
    for link in fabric.hosts[peer].data.underlay:
        address = ipaddress.ip_interface(link.ip)
        if link.peer == host.name and address.network == own.network and address != own:
            return link.interface
    return None


def site_route_target(fabric: Fabric, segment: Segment, host: str) -> str:
    """The route target of `segment` on `host`: its site's override, else the fabric-wide one."""
    site = fabric.hosts[host].data.site
    for entry in fabric.intent.sites:
        if entry.name == site and segment.name in entry.route_targets:
            return entry.route_targets[segment.name]
    return fabric.route_target(segment)


def mobile_facts(fabric: Fabric) -> list[MobileFacts]:
    return [_mobile(fabric, endpoint) for endpoint in fabric.intent.mobile if endpoint.segment in fabric.segments]


def _mobile(fabric: Fabric, endpoint: MobileEndpoint) -> MobileFacts:
    segment = fabric.segments[endpoint.segment]
    carriers = fabric.attachments.get(segment.name, [])
    allowed = [name for name in carriers if not endpoint.vteps or name in endpoint.vteps]
    vteps = {name: vtep.ip for name in allowed if (vtep := fabric.hosts[name].data.vtep) is not None}
    return MobileFacts(endpoint.name, segment.name, segment.vni, endpoint.mac, endpoint.ip, vteps)


# --- cross-checks ---------------------------------------------------------------------------------------


def problems(fabric: Fabric) -> Iterator[Problem]:
    yield from _site_problems(fabric)
    yield from _dci_problems(fabric)
    yield from _route_target_problems(fabric)
    yield from _mobile_problems(fabric)


def _site_problems(fabric: Fabric) -> Iterator[Problem]:
    sites = fabric.intent.sites
    names = {site.name for site in sites}
    seen: dict[str, int] = {}
    for index, site in enumerate(sites):
        if site.name in seen:
            yield fabric._fabric_problem(("sites", index, "name"),
                                         f"duplicate name, first used at sites[{seen[site.name]}]", site.name)
        seen.setdefault(site.name, index)
    members: dict[str, list[str]] = defaultdict(list)
    for host in fabric.hosts.values():
        named = host.data.site
        if named is not None and named not in names:
            known = ", ".join(sorted(names)) or "none: add fabric.yaml sites"
            yield fabric._host_problem(host.name, ("data", "site"), f"unknown site (known: {known})", named)
        elif named is None and sites and host.data.underlay:
            yield fabric._host_problem(host.name, ("data",), "fabric.yaml has sites: every host with underlay "
                                       "links needs data.site")
        if named is not None:
            members[named].append(host.name)
    for index, site in enumerate(sites):
        if not members.get(site.name):
            yield fabric._fabric_problem(("sites", index, "name"), "no host names this site in data.site", site.name)
        for position, border in enumerate(site.borders):
            path = ("sites", index, "borders", position)
            if border not in fabric.hosts:
                yield fabric._fabric_problem(path, "unknown host", border)
            elif fabric.hosts[border].data.site != site.name:
                yield fabric._fabric_problem(path, f"host is in site {fabric.hosts[border].data.site or '(none)'}, "
                                             f"not {site.name}", border)


def _dci_problems(fabric: Fabric) -> Iterator[Problem]:
    sites = fabric.intent.sites
    borders = {border: site.name for site in sites for border in site.borders}
    index_of = {site.name: index for index, site in enumerate(sites)}
    joined: set[str] = set()
    for link in dci_links(fabric):
        joined.update((link.a_site, link.b_site))
        for host, interface, home, peer in ((link.a, link.a_interface, link.a_site, link.b),
                                            (link.b, link.b_interface, link.b_site, link.a)):
            if borders.get(host) != home:
                position = next(i for i, u in enumerate(fabric.hosts[host].data.underlay) if u.interface == interface)
                yield fabric._host_problem(
                    host, ("data", "underlay", position, "peer"),
                    f"DCI link to {peer} (another site): {host} must be a border of site {home} "
                    f"(add it to sites[{index_of.get(home, '?')}].borders)", peer,
                )
    if len(sites) > 1:
        for index, site in enumerate(sites):
            if site.name not in joined:
                yield fabric._fabric_problem(("sites", index, "name"), "no DCI link joins this site to another one "
                                             "(an underlay link between hosts of two sites)", site.name)


def _route_target_problems(fabric: Fabric) -> Iterator[Problem]:
    """A per-site RT only works where the borders rewrite RTs between sites. Of the designs vxauto renders, only
    the EOS EVPN gateway does: it imports and exports the site's RT in its local domain and the fabric-wide RT
    in the remote domain (`route-target import export evpn domain remote`). FRR has no border gateway, and
    NX-OS's `rewrite-evpn-rt-asn` rewrites only the ASN part of an RT; so an override on a segment that other
    sites also carry is reported unless every border of the site is an EOS EVPN gateway, naming the borders."""
    for index, site in enumerate(fabric.intent.sites):
        for name, target in site.route_targets.items():
            path = ("sites", index, "route_targets", name)
            segment = fabric.segments.get(name)
            if segment is None:
                yield fabric._fabric_problem(path, "unknown segment", name)
                continue
            carriers = fabric.attachments.get(name, [])
            here = [h for h in carriers if fabric.hosts[h].data.site == site.name]
            if not here:
                yield fabric._fabric_problem(path, f"segment {name} is carried by no VTEP of site {site.name}", name)
            elsewhere = [h for h in carriers if fabric.hosts[h].data.site != site.name]
            if elsewhere and target != fabric.route_target(segment) and not _rewrites_route_targets(fabric, site):
                platforms = ", ".join(f"{b} ({fabric.hosts[b].platform})" for b in site.borders if b in fabric.hosts)
                yield fabric._fabric_problem(
                    path, f"segment {name} is also carried in other sites ({', '.join(elsewhere)}): a per-site RT "
                    f"needs the borders to rewrite it, which vxauto renders for EOS EVPN gateways only (borders: "
                    f"{platforms or 'none'}); keep the fabric-wide RT {fabric.route_target(segment)}", target,
                )


def _rewrites_route_targets(fabric: Fabric, site: Site) -> bool:
    """Every border of the site is an EOS EVPN gateway (local-domain RT: the site's; remote domain: fabric-wide)."""
    designs = [platform(fabric.hosts[b].platform).multisite for b in site.borders if b in fabric.hosts]
    return bool(designs) and len(designs) == len(site.borders) and all(
        d is not None and d.name == "evpn-gateway" for d in designs)


def _mobile_problems(fabric: Fabric) -> Iterator[Problem]:
    names: dict[str, int] = {}
    macs: dict[str, int] = {}
    addresses: dict[tuple[str, str], int] = {}
    anycast = fabric.intent.fabric.anycast_mac
    for index, endpoint in enumerate(fabric.intent.mobile):
        path = ("mobile", index)
        if endpoint.name in names:
            yield fabric._fabric_problem((*path, "name"),
                                         f"duplicate name, first used at mobile[{names[endpoint.name]}]", endpoint.name)
        names.setdefault(endpoint.name, index)
        if endpoint.mac in macs:
            yield fabric._fabric_problem((*path, "mac"), f"MAC already used by mobile[{macs[endpoint.mac]}]",
                                         endpoint.mac)
        macs.setdefault(endpoint.mac, index)
        if int(endpoint.mac[:2], 16) & 1:
            yield fabric._fabric_problem((*path, "mac"), "is a multicast MAC (first octet odd); a VM needs a "
                                         "unicast MAC", endpoint.mac)
        if endpoint.mac == anycast:
            yield fabric._fabric_problem((*path, "mac"), "is the fabric's anycast gateway MAC", endpoint.mac)
        ip = str(ipaddress.ip_interface(endpoint.ip).ip)
        key = (endpoint.segment, ip)
        if key in addresses:
            yield fabric._fabric_problem((*path, "ip"), f"address already used in segment {endpoint.segment} by "
                                         f"mobile[{addresses[key]}]", endpoint.ip)
        addresses.setdefault(key, index)
        segment = fabric.segments.get(endpoint.segment)
        if segment is None:
            yield fabric._fabric_problem((*path, "segment"), "unknown segment", endpoint.segment)
            continue
        if segment.gateway and ipaddress.ip_interface(endpoint.ip).ip not in ipaddress.ip_interface(
                segment.gateway).network:
            yield fabric._fabric_problem((*path, "ip"), f"not inside the segment subnet {segment.gateway}", endpoint.ip)
        carriers = set(fabric.attachments.get(segment.name, []))
        if not carriers:
            yield fabric._fabric_problem((*path, "segment"), "no VTEP carries this segment", endpoint.segment)
        for position, vtep in enumerate(endpoint.vteps):
            where = (*path, "vteps", position)
            if vtep not in fabric.hosts:
                yield fabric._fabric_problem(where, "unknown host", vtep)
            elif vtep not in carriers:
                yield fabric._fabric_problem(where, f"does not carry segment {segment.name} (attach it there)", vtep)
