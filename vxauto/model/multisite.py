"""Border hosts of a multi-site fabric: which vendor design each one renders, and the facts it needs.

A border (fabric.yaml `sites[].borders`) renders its platform's documented multi-site design, the platform
record's `multisite` (platforms.py):

- `evpn-transit` (FRR): no border gateway. The border relays EVPN across the DCI with the next hop unchanged,
  like any spine vxauto renders, so the sites share one overlay; nothing extra is derived here.
- `evpn-gateway` (Arista EOS, AVD's `evpn_gateway`) and `multisite-bgw` (Cisco NX-OS VXLAN EVPN Multi-Site):
  the border is a VTEP that ends its site's overlay and re-originates EVPN routes toward the other sites over
  loopback-to-loopback eBGP sessions with their gateways. `MultisiteFacts` carries those sessions, the DCI and
  fabric interfaces, the site ID, the site-external route targets and (NX-OS) the site's virtual IP with the
  loopback that carries it.

`problems` refuses what the designs cannot carry, quoting the vendor's document: a border on a platform with
no design vxauto renders, a gateway that is no VTEP, a DCI link between a gateway and a relay, a gateway
without a remote-domain peer, an NX-OS site without its virtual IP or with a site ID out of range, and
segments that span sites without passing a gateway that carries them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vxauto.errors import Problem
from vxauto.model.facts import GatewayPeer, MultisiteFacts
from vxauto.model.mobility import dci_links
from vxauto.model.platforms import PLATFORMS, MultisiteDesign, platform

if TYPE_CHECKING:
    from vxauto.model.fabric import Fabric
    from vxauto.model.schema import HostIntent, Site

#: Cisco's Multi-Site examples put the virtual IP on loopback100; the next free number is taken if it is in use.
BGW_LOOPBACK = 100
#: `evpn multisite border-gateway <1-281474976710655>` (NX-OS CLI help, the guide's site-id range).
NXOS_SITE_ID_MAX = 281_474_976_710_655
#: `delay-restore time` of the guide's BGW configuration template: the virtual IP is advertised again only
#: this long after the BGW's site-internal and DCI links come back, so the fabric has converged first.
NXOS_DELAY_RESTORE_S = 300


def site_borders(fabric: Fabric) -> dict[str, Site]:
    """Border host -> its site entry (hosts listed under another site's borders are reported elsewhere)."""
    return {border: site for site in fabric.intent.sites for border in site.borders
            if border in fabric.hosts and fabric.hosts[border].data.site == site.name}


def design_of(fabric: Fabric, host: str) -> MultisiteDesign | None:
    return platform(fabric.hosts[host].platform).multisite


def site_id(fabric: Fabric, site: Site) -> int:
    return site.id if site.id is not None else fabric.intent.sites.index(site) + 1


def is_gateway(fabric: Fabric, host: str) -> bool:
    design = design_of(fabric, host)
    return host in site_borders(fabric) and design is not None and design.gateway


def border_facts(fabric: Fabric, host: HostIntent) -> MultisiteFacts | None:
    """The multi-site facts of a border gateway (None for every other host, and for relaying borders)."""
    site = site_borders(fabric).get(host.name)
    design = platform(host.platform).multisite
    if site is None or design is None or not design.gateway or host.data.vtep is None:
        return None
    dci = {link.a_interface if link.a == host.name else link.b_interface
           for link in dci_links(fabric) if host.name in (link.a, link.b)}
    underlay = [link.interface for link in host.data.underlay]
    remote = {segment.name: fabric.route_target(segment) for segment in fabric.segments_by_host.get(host.name, [])}
    vip = site.border_vip if design.name == "multisite-bgw" else None
    return MultisiteFacts(
        design=design.name,
        document=design.document,
        site=site.name,
        site_id=site_id(fabric, site),
        peers=remote_gateways(fabric, host.name),
        update_source=update_source(host),
        multihop=design.multihop,
        dci_interfaces=tuple(name for name in underlay if name in dci),
        fabric_interfaces=tuple(name for name in underlay if name not in dci),
        remote_route_targets=tuple(remote.items()),
        vip=vip,
        vip_interface=vip_interface(host) if vip else None,
        delay_restore=NXOS_DELAY_RESTORE_S if design.name == "multisite-bgw" else None,
    )


def remote_gateways(fabric: Fabric, host: str) -> tuple[GatewayPeer, ...]:
    """The gateways of every other site that can hold an eBGP session (they have an ASN and a router ID)."""
    own = fabric.hosts[host].data.site
    peers = []
    for border, site in site_borders(fabric).items():
        data = fabric.hosts[border].data
        if site.name != own and is_gateway(fabric, border) and data.router_id and data.asn is not None:
            peers.append(GatewayPeer(border, site.name, data.router_id, data.asn))
    return tuple(peers)


def update_source(host: HostIntent) -> str:
    """The interface that holds the router ID: the platform's router-ID loopback, or the VTEP interface when
    the router ID is the VTEP address."""
    data = host.data
    if data.vtep is not None and data.router_id == data.vtep.ip:
        return data.vtep.interface
    return platform(host.platform).router_id_interface or (data.vtep.interface if data.vtep else "")


def vip_interface(host: HostIntent) -> str:
    """A loopback of its own for the virtual IP: loopback100 unless the host uses it already."""
    record = platform(host.platform)
    used = {link.interface.lower() for link in host.data.underlay}
    used |= {name.lower() for name in (record.router_id_interface, host.data.vtep.interface if host.data.vtep
                                       else None) if name}
    number = BGW_LOOPBACK
    while f"loopback{number}" in used:
        number += 1
    return f"loopback{number}"


# --- cross-checks ---------------------------------------------------------------------------------------


def problems(fabric: Fabric) -> Iterator[Problem]:
    if not fabric.intent.sites:
        return
    yield from _border_problems(fabric)
    yield from _dci_design_problems(fabric)
    yield from _nxos_problems(fabric)
    yield from _stitching_problems(fabric)


def _renderable_designs() -> str:
    return "; ".join(f"{name}: {record.multisite.title}" for name, record in PLATFORMS.items() if record.multisite)


def _border_problems(fabric: Fabric) -> Iterator[Problem]:
    gateways_per_site: dict[str, list[str]] = {}
    for index, site in enumerate(fabric.intent.sites):
        for position, border in enumerate(site.borders):
            host = fabric.hosts.get(border)
            if host is None or host.data.site != site.name:
                continue  # unknown host or another site's host: mobility.py reports it
            path = ("sites", index, "borders", position)
            record = platform(host.platform)
            design = record.multisite
            if design is None:
                why = record.multisite_rule or "vxauto renders no multi-site border design for it"
                yield fabric._fabric_problem(
                    path, f"platform {host.platform} of {border} cannot be a border: {why} (border designs "
                    f"vxauto renders: {_renderable_designs()})", border)
                continue
            if not design.gateway:
                continue
            if host.data.vtep is None or host.data.role != "leaf":
                yield fabric._fabric_problem(
                    path, f"the {design.title} is a VTEP that re-originates EVPN routes between sites: border "
                    f"{border} needs role leaf and data.vtep ({design.document})", border)
                continue
            if host.data.router_id and host.data.vtep.ip != host.data.router_id and \
                    record.router_id_interface == host.data.vtep.interface:
                yield fabric._host_problem(
                    border, ("data", "vtep", "interface"),
                    f"the router ID of border gateway {border} is a secondary address of its VTEP interface, so "
                    f"the site-external sessions (update-source {host.data.vtep.interface}) would leave from the "
                    f"VTEP address: put the VTEP on another loopback", host.data.vtep.interface)
            yield from _peer_problems(fabric, border, path, design)
            if design.name == "evpn-gateway":
                gateways_per_site.setdefault(site.name, []).append(border)
    for site_name, gateways in gateways_per_site.items():
        if len(gateways) > 1:
            index = next(i for i, s in enumerate(fabric.intent.sites) if s.name == site_name)
            yield fabric._fabric_problem(
                ("sites", index, "borders"), f"site {site_name} has {len(gateways)} EOS EVPN gateways "
                f"({', '.join(gateways)}): vxauto renders one per site; more need Arista's all-active multihoming "
                "of EVPN gateways (WAN interconnect ESI, D-path: Arista TOI \"EVPN gateway support for all-active "
                "(A-A) multihoming\"), which it does not render", gateways[1])


def _peer_problems(fabric: Fabric, border: str, path: tuple[str | int, ...],
                   design: MultisiteDesign) -> Iterator[Problem]:
    """A gateway needs a gateway in another site to hold its site-external eBGP session with."""
    peers = remote_gateways(fabric, border)
    own_asn = fabric.hosts[border].data.asn
    if not peers:
        yield fabric._fabric_problem(
            path, f"border gateway {border} has no gateway of another site to peer with (the remote-domain EVPN "
            f"session; {design.document})", border)
    for peer in peers:
        if peer.asn == own_asn:
            yield fabric._fabric_problem(
                path, f"border gateway {border} and {peer.name} (site {peer.site}) share ASN {own_asn}: the "
                f"site-external EVPN session between gateways is eBGP ({design.document})", border)


def _dci_design_problems(fabric: Fabric) -> Iterator[Problem]:
    borders = site_borders(fabric)
    for link in dci_links(fabric):
        if link.a not in borders or link.b not in borders:
            continue  # mobility.py reports DCI ends that are not borders
        a, b = design_of(fabric, link.a), design_of(fabric, link.b)
        if a is None or b is None:
            continue
        position = next(i for i, u in enumerate(fabric.hosts[link.a].data.underlay) if u.interface == link.a_interface)
        where = ("data", "underlay", position, "peer")
        if a.gateway != b.gateway:
            yield fabric._host_problem(
                link.a, where, f"DCI link joins {link.a} ({a.title}) and {link.b} ({b.title}): both ends of a DCI "
                "link must re-originate EVPN routes (gateways) or both relay one overlay", link.b)
        elif not a.gateway and "spine" not in (fabric.hosts[link.a].data.role, fabric.hosts[link.b].data.role):
            # relaying borders carry EVPN on the link's own session, which vxauto renders between a spine and
            # its peers only (a leaf-leaf session is underlay only): the sites would not share an overlay
            yield fabric._host_problem(
                link.a, where, f"DCI link joins {link.a} and {link.b}, two leaves relaying one overlay ({a.title}): "
                "EVPN crosses a DCI link only with a spine at one end (make a spine the border)", link.b)


def _nxos_problems(fabric: Fabric) -> Iterator[Problem]:
    document = PLATFORMS["nxos"].multisite.document if PLATFORMS["nxos"].multisite else ""
    addresses: dict[str, str] = {}
    for host in fabric.hosts.values():
        for address, what in ((host.data.router_id, "router ID"), (host.data.vtep.ip if host.data.vtep else None,
                                                                   "VTEP address (NVE source)")):
            if address:
                addresses.setdefault(address, f"the {what} of {host.name}")
    for index, site in enumerate(fabric.intent.sites):
        bgws = [b for b in site.borders if b in fabric.hosts and fabric.hosts[b].data.site == site.name
                and getattr(design_of(fabric, b), "name", None) == "multisite-bgw"]
        if not bgws:
            continue
        same = [i for i, other in enumerate(fabric.intent.sites)
                if i != index and site_id(fabric, other) == site_id(fabric, site)]
        if same:
            yield fabric._fabric_problem(
                ("sites", index, "id" if site.id is not None else "name"),
                f"site ID {site_id(fabric, site)} is also the ID of sites[{same[0]}]: Multi-Site tells the sites "
                f"apart by it, every site needs its own ({document})", site_id(fabric, site))
        if site.id is not None and site.id > NXOS_SITE_ID_MAX:
            yield fabric._fabric_problem(
                ("sites", index, "id"), f"NX-OS takes a Multi-Site site ID of 1-{NXOS_SITE_ID_MAX} (`evpn multisite "
                f"border-gateway <site-id>`, {document}); border {bgws[0]}", site.id)
        if site.border_vip is None:
            yield fabric._fabric_problem(
                ("sites", index), f"NX-OS Multi-Site border gateway {', '.join(bgws)} needs the site's border_vip: "
                f"the virtual IP on `multisite border-gateway interface loopbackN`, shared by the site's border "
                f"gateways and distinct from the NVE source ({document})")
        elif site.border_vip in addresses:
            yield fabric._fabric_problem(
                ("sites", index, "border_vip"), f"is {addresses[site.border_vip]}: the Multi-Site virtual IP needs a "
                f"loopback and address of its own, distinct from the NVE source ({document})", site.border_vip)
        elif ipaddress.ip_address(site.border_vip).version != 4:
            yield fabric._fabric_problem(("sites", index, "border_vip"), "NX-OS borders: the virtual IP is IPv4 "
                                         "like the VTEP addresses", site.border_vip)
    vips: dict[str, int] = {}
    for index, site in enumerate(fabric.intent.sites):
        if site.border_vip is not None:
            if site.border_vip in vips:
                yield fabric._fabric_problem(("sites", index, "border_vip"), "already the virtual IP of "
                                             f"sites[{vips[site.border_vip]}]", site.border_vip)
            vips.setdefault(site.border_vip, index)


def _stitching_problems(fabric: Fabric) -> Iterator[Problem]:
    """A segment carried in several sites crosses at the gateways, which stitch only the segments they carry."""
    borders = site_borders(fabric)
    for index, segment in enumerate(fabric.intent.segments):
        carriers = fabric.attachments.get(segment.name, [])
        sites = {named for h in carriers if (named := fabric.hosts[h].data.site)}
        if len(sites) < 2:
            continue
        for border, site in borders.items():
            if site.name in sites and is_gateway(fabric, border) and border not in carriers \
                    and fabric.hosts[border].data.vtep is not None:
                design = design_of(fabric, border)
                title = design.title if design else ""
                yield fabric._fabric_problem(
                    ("segments", index, "attach"), f"segment {segment.name} spans sites {', '.join(sorted(sites))}, "
                    f"but border {border} ({title}) does not carry it: a gateway re-originates only the segments it "
                    f"has (attach it to {border})", segment.name)
