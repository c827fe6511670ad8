"""SONiC `config_db.json` fragment of a leaf or spine, built as Python data and dumped with `json`.

Merge it with `sudo config load <file> -y` (writes the tables into CONFIG_DB, see `sonic-cfggen
--write-to-db`) and `sudo config save -y`. JSON carries no comments, so the references live here and in
docs/ARCHITECTURE.md only.

Follows:
  - SONiC "EVPN VXLAN HLD" (doc/vxlan/EVPN/EVPN_VXLAN_HLD.md): VXLAN_TUNNEL (src_ip), VXLAN_EVPN_NVO
    (source_vtep), VXLAN_TUNNEL_MAP (<tunnel>|map_<vni>_Vlan<id>: vlan, vni), VRF (vni) for the L3 VNI, and
    the YANG models sonic-vxlan.yang, sonic-vlan.yang (VLAN, VLAN_MEMBER, VLAN_INTERFACE), sonic-vrf.yang.
  - SONiC "FRR-BGP Extended Unified Configuration Management Framework" design
    (doc/mgmt/SONiC_Design_Doc_Unified_FRR_Mgmt_Interface.md), i.e. frrcfgd with
    DEVICE_METADATA frr_mgmt_framework_config=true: BGP_GLOBALS, BGP_GLOBALS_AF (advertise-all-vni,
    route-distinguisher, import-rts/export-rts), BGP_GLOBALS_AF_NETWORK, BGP_NEIGHBOR, BGP_NEIGHBOR_AF
    (admin_status, route_map_in/out, unchanged_nexthop), BGP_GLOBALS_EVPN_VNI (route-distinguisher,
    import-rts, export-rts), ROUTE_MAP_SET / ROUTE_MAP (sonic-route-map.yang).
Platform limits (vxauto/model/platforms.py): EVPN and L3 VNI only; no static flooding, no anycast gateway.
SONiC VRF names must match "Vrf[a-zA-Z0-9_-]+", hence the "Vrf-" prefix when the intent's name lacks it.
The PORT entries only set mtu/admin_status: they merge into the platform's existing PORT table.
The VXLAN UDP port is not a CONFIG_DB setting (APPL_DB SWITCH_TABLE vxlan_port): the platform table lacks
custom_udp_port, so the model rejects a non-default port before rendering.
"""

from __future__ import annotations

import json
import re
from typing import Any

from vxauto.model.facts import DeviceFacts

#: The permit-all route map on every session: FRR's `bgp ebgp-requires-policy` (on by default, RFC 8212)
#: neither accepts nor sends eBGP routes without one.
ALLOW_MAP = "VXAUTO_ALLOW"
Table = dict[str, Any]


def vrf_name(name: str) -> str:
    return name if name.startswith("Vrf") else f"Vrf-{name}"


def config_db(device: DeviceFacts) -> dict[str, Table]:
    """The CONFIG_DB tables of one device, in the order a reader expects them."""
    tables: dict[str, Table] = {
        "DEVICE_METADATA": {"localhost": {
            "hostname": device.name, "docker_routing_config_mode": "unified", "frr_mgmt_framework_config": "true",
        }},
        "LOOPBACK_INTERFACE": _loopbacks(device),
        "PORT": {
            **{i.name: {"admin_status": "up", "mtu": str(i.mtu)} for i in device.interfaces},
            **{port.name: {"admin_status": "up"} for port in device.ports},
        },
        "INTERFACE": {key: {} for i in device.interfaces for key in (i.name, f"{i.name}|{i.ip}")},
    }
    if device.is_vtep:
        tables.update(_vxlan_tables(device))
    if device.l3_vrfs:
        tables["VRF"] = {vrf_name(v.name): {"vni": str(v.l3vni)} for v in device.l3_vrfs}
        tables["VLAN_INTERFACE"] = {f"Vlan{v.l3vlan}": {"vrf_name": vrf_name(v.name)} for v in device.l3_vrfs}
    if device.asn is not None:
        tables.update(_bgp_tables(device))
    return tables


def render(device: DeviceFacts) -> str:
    return _SCALAR_LIST.sub(_one_line, json.dumps(config_db(device), indent=4)) + "\n"


# A list holding scalars only (no nested list or object), as json.dumps(indent=4) spreads it over lines.
_SCALAR_LIST = re.compile(r"\[\n\s+([^\[\]{}]*?)\n\s+\]")


def _one_line(match: re.Match[str]) -> str:
    """`["65000:10"]` on one line, the layout vxauto has always written (rendered files stay byte-identical)."""
    return "[" + ", ".join(item.strip() for item in match.group(1).split(",\n")) + "]"


def _loopbacks(device: DeviceFacts) -> Table:
    table: Table = {}
    if device.router_id_interface and not device.router_id_shares_vtep_interface:
        table[device.router_id_interface] = {}
        table[f"{device.router_id_interface}|{device.router_id}/32"] = {}
    if device.is_vtep:
        table[str(device.vtep_interface)] = {}
        if device.router_id_shares_vtep_interface:
            table[f"{device.vtep_interface}|{device.router_id}/32"] = {}
        table[f"{device.vtep_interface}|{device.vtep_ip}/32"] = {}
    return table


def _vxlan_tables(device: DeviceFacts) -> dict[str, Table]:
    vlans = {f"Vlan{s.vlan}": {"vlanid": str(s.vlan), "description": s.name} for s in device.segments}
    vlans.update({f"Vlan{v.l3vlan}": {"vlanid": str(v.l3vlan), "description": f"L3 VNI {v.l3vni} of {v.name}"}
                  for v in device.l3_vrfs})
    members: Table = {}
    for segment in device.segments:
        members.update({f"Vlan{segment.vlan}|{p}": {"tagging_mode": "untagged"} for p in segment.access_ports})
        members.update({f"Vlan{segment.vlan}|{p}": {"tagging_mode": "tagged"} for p in segment.trunk_ports})
    maps = [(s.vni, s.vlan) for s in device.segments] + [(v.l3vni, v.l3vlan) for v in device.l3_vrfs]
    return {
        "VLAN": vlans,
        "VLAN_MEMBER": members,
        "VXLAN_TUNNEL": {"vtep": {"src_ip": device.vtep_ip}},
        "VXLAN_EVPN_NVO": {"nvo": {"source_vtep": "vtep"}},
        "VXLAN_TUNNEL_MAP": {f"vtep|map_{vni}_Vlan{vlan}": {"vlan": f"Vlan{vlan}", "vni": str(vni)}
                             for vni, vlan in maps},
    }


def _bgp_tables(device: DeviceFacts) -> dict[str, Table]:
    bgp_globals: Table = {"default": {
        "local_asn": str(device.asn), "router_id": device.router_id, "log_nbr_state_changes": "true",
    }}
    bgp_globals.update({vrf_name(v.name): {"local_asn": str(device.asn), "router_id": device.router_id}
                        for v in device.l3_vrfs})
    families: Table = {"default|ipv4_unicast": {}}
    if device.evpn:
        families["default|l2vpn_evpn"] = {"advertise-all-vni": "true" if device.is_vtep else "false"}
    for vrf in device.l3_vrfs:
        families[f"{vrf_name(vrf.name)}|ipv4_unicast"] = {}
        families[f"{vrf_name(vrf.name)}|l2vpn_evpn"] = {
            "advertise-ipv4-unicast": "true", "route-distinguisher": vrf.route_distinguisher,
            "import-rts": [vrf.route_target], "export-rts": [vrf.route_target],
        }
    neighbors_af: Table = {}
    for neighbor in device.bgp_neighbors:
        policy = {"route_map_in": [ALLOW_MAP], "route_map_out": [ALLOW_MAP]}
        neighbors_af[f"default|{neighbor.ip}|ipv4_unicast"] = {"admin_status": "up", **policy}
        if neighbor.evpn:
            # A spine relays EVPN routes with the leaf's VTEP as next hop (eBGP would rewrite it).
            relay = {} if device.is_vtep else {"unchanged_nexthop": "true"}
            neighbors_af[f"default|{neighbor.ip}|l2vpn_evpn"] = {"admin_status": "up", **relay, **policy}
    tables: dict[str, Table] = {
        "ROUTE_MAP_SET": {ALLOW_MAP: {}},
        "ROUTE_MAP": {f"{ALLOW_MAP}|10": {"route_operation": "permit"}},
        "BGP_GLOBALS": bgp_globals,
        "BGP_GLOBALS_AF": families,
        "BGP_GLOBALS_AF_NETWORK": {f"default|ipv4_unicast|{prefix}": {} for prefix in device.announce},
        "BGP_NEIGHBOR": {f"default|{n.ip}": {"asn": str(n.asn), "name": n.name, "admin_status": "up"}
                         for n in device.bgp_neighbors},
        "BGP_NEIGHBOR_AF": neighbors_af,
    }
    if device.evpn_segments:
        tables["BGP_GLOBALS_EVPN_VNI"] = {
            f"default|l2vpn_evpn|{s.vni}": {
                "route-distinguisher": s.route_distinguisher, "import-rts": [s.route_target],
                "export-rts": [s.route_target],
            }
            for s in device.evpn_segments
        }
    return tables
