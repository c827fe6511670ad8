"""NVIDIA Cumulus Linux 5.x NVUE configuration, built as Python data and dumped as YAML.

The YAML of `nv config show -o yaml` / /etc/nvue.d/startup.yaml (one `- set:` document), applied with `nv config
patch <file>` then `nv config apply`. Keys follow the NVUE object model of Cumulus Linux 5.0-5.14 (`neighbor`,
`network`, `enable: on`); `vxauto check` refuses later releases, whose object model renamed them (`state:
enabled`). The host's release is `device.version`. Every string value from the intent is single-quoted so YAML
never reads a name, RT or MAC as a number or boolean. A spine gets the underlay and the EVPN transit part only.
The vendor documents it follows are named in the file's comment header (`HEADER`).
"""

from __future__ import annotations

from typing import Any

from vxauto.model.facts import DeviceFacts, SegmentFacts, VrfFacts
from vxauto.render.yamldump import OFF, ON, Quoted, dump

HEADER = """\
# vxauto: NVIDIA Cumulus Linux (NVUE) configuration of {device.name} (fabric {device.fabric_name}, role {device.role})
# For: Cumulus Linux {device.version}
# Apply: nv config patch <this file> && nv config apply
# Follows: NVIDIA Cumulus Linux 5.12 User Guide, "Network Virtualization": "Ethernet Virtual Private Network - EVPN"
#   ("Basic Configuration": nv set bridge domain br_default vlan <id> vni <vni>, nve vxlan source address,
#   evpn enable, l2vpn-evpn address family; "EVPN Enhancements" > "Define RDs and RTs": evpn vni <vni> rd /
#   route-target; "Inter-subnet Routing": vrf <vrf> evpn vni, vrf router bgp rd / route-import / route-export,
#   and type-5 routes of the tenant subnets: vrf router bgp address-family ipv4-unicast redistribute connected
#   + route-export to-evpn),
#   "Static VXLAN Tunnels" (vni <vni> flooding head-end-replication <ip>, nve vxlan mac-learning) and
#   "Layer 2" > "Virtual Router Redundancy - VRR" (interface vlan<id> ip vrr address / mac-address / state up).
# Generated from the intent; edit the inventory, not this file.
"""
Tree = dict[str, Any]


def _set(*keys: str) -> Tree:
    """An NVUE set of names (`'10.0.0.1/32': {}`)."""
    return {Quoted(key): {} for key in keys}


def render(device: DeviceFacts) -> str:
    # The NVUE tree has no lists below the top-level `- set:`, so the fast emitter writes the same text.
    return HEADER.format(device=device) + dump([{"set": configuration(device)}], indent_sequences=False)


def configuration(device: DeviceFacts) -> Tree:
    """The `set:` tree of one device."""
    tree: Tree = {"system": {"hostname": Quoted(device.name)}, "interface": _interfaces(device)}
    if device.is_vtep:
        tree["bridge"] = {"domain": {"br_default": {"type": "vlan-aware", "vlan": {
            Quoted(str(s.vlan)): {"vni": _vni(s)} for s in device.segments}}}}
        tree["nve"] = {"vxlan": _nve(device)}
    if device.evpn:
        evpn: Tree = {"enable": ON}
        if device.evpn_segments:
            evpn["vni"] = {Quoted(str(s.vni)): {
                "rd": Quoted(str(s.route_distinguisher)),
                "route-target": {"import": _set(s.route_target), "export": _set(s.route_target)},
            } for s in device.evpn_segments}
        tree["evpn"] = evpn
    if device.asn is not None or device.gateway_segments:
        router: Tree = {}
        if device.asn is not None:
            router["bgp"] = {"enable": ON, "autonomous-system": device.asn,
                             "router-id": Quoted(str(device.router_id))}
        if device.gateway_segments:
            router["vrr"] = {"enable": ON}
        tree["router"] = router
    if device.asn is not None or device.vrfs:
        vrfs: Tree = {"default": _default_vrf(device)} if device.asn is not None else {}
        vrfs.update({Quoted(vrf.name): _tenant_vrf(vrf) for vrf in device.vrfs})
        tree["vrf"] = vrfs
    return tree


def _interfaces(device: DeviceFacts) -> Tree:
    interfaces: Tree = {}
    if device.router_id is not None or device.is_vtep:
        addresses = [f"{device.router_id}/32"] if device.router_id is not None else []
        if device.is_vtep and device.vtep_ip != device.router_id:
            addresses.append(f"{device.vtep_ip}/32")
        interfaces["lo"] = {"type": "loopback", "ip": {"address": _set(*addresses)}}
    for interface in device.interfaces:
        interfaces[Quoted(interface.name)] = {
            "type": "swp", "description": Quoted(f"to {interface.peer}"), "link": {"mtu": interface.mtu},
            "ip": {"address": _set(interface.ip)},
        }
    for port in device.ports:
        domain: Tree
        if port.trunk:
            vlans = ([port.access.vlan] if port.access else []) + [s.vlan for s in port.trunk]
            domain = {"vlan": _set(*map(str, vlans)), "untagged": port.access.vlan if port.access else "none"}
        else:
            assert port.access is not None, f"{port.name}: a port carries an untagged or a tagged segment"
            domain = {"access": port.access.vlan}
        interfaces[Quoted(port.name)] = {"type": "swp", "bridge": {"domain": {"br_default": domain}}}
    for segment in device.gateway_segments:
        interfaces[f"vlan{segment.vlan}"] = {
            "type": "svi", "vlan": segment.vlan, "description": Quoted(f"{segment.name} anycast gateway"),
            "ip": {"vrf": Quoted(str(segment.vrf)), "vrr": {
                "enable": ON, "address": _set(str(segment.gateway)), "mac-address": Quoted(str(segment.gateway_mac)),
                "state": {"up": {}},
            }},
        }
    return interfaces


def _vni(segment: SegmentFacts) -> Tree:
    if segment.is_static and segment.flood_peers:
        return {Quoted(str(segment.vni)): {"flooding": {
            "enable": ON, "head-end-replication": _set(*segment.flood_peers)}}}
    return _set(str(segment.vni))


def _nve(device: DeviceFacts) -> Tree:
    nve: Tree = {"enable": ON}
    if device.custom_udp_port:
        nve["port"] = device.udp_port
    # Static segments learn remote MACs from the data plane; EVPN segments from type-2 routes.
    nve["mac-learning"] = ON if device.static_segments else OFF
    nve["source"] = {"address": Quoted(str(device.vtep_ip))}
    if device.evpn_segments:
        nve["flooding"] = {"enable": ON, "head-end-replication": {"evpn": {}}}
    return nve


def _default_vrf(device: DeviceFacts) -> Tree:
    ipv4: Tree = {"enable": ON}
    if device.announce:
        ipv4["network"] = _set(*device.announce)
    families: Tree = {"ipv4-unicast": ipv4}
    if device.evpn:
        families["l2vpn-evpn"] = {"enable": ON}
    bgp: Tree = {"enable": ON, "address-family": families}
    if device.bgp_neighbors:
        neighbors: Tree = {}
        for neighbor in device.bgp_neighbors:
            neighbor_families: Tree = {"ipv4-unicast": {"enable": ON}}
            if neighbor.evpn:
                neighbor_families["l2vpn-evpn"] = {"enable": ON}
            neighbors[Quoted(neighbor.ip)] = {
                "type": "numbered", "remote-as": neighbor.asn, "description": Quoted(neighbor.name),
                "address-family": neighbor_families,
            }
        bgp["neighbor"] = neighbors
    return {"router": {"bgp": bgp}}


def _tenant_vrf(vrf: VrfFacts) -> Tree:
    tree: Tree = {"table": "auto"}
    if vrf.l3vni is None:
        return tree
    tree["evpn"] = {"enable": ON, "vlan": vrf.l3vlan, "vni": _set(str(vrf.l3vni))}
    tree["router"] = {"bgp": {
        "enable": ON, "rd": Quoted(str(vrf.route_distinguisher)),
        "address-family": {"ipv4-unicast": {
            "enable": ON, "redistribute": {"connected": {"enable": ON}}, "route-export": {"to-evpn": {"enable": ON}},
        }},
        "route-import": {"from-evpn": {"route-target": _set(str(vrf.route_target))}},
        "route-export": {"to-evpn": {"route-target": _set(str(vrf.route_target))}},
    }}
    return tree
