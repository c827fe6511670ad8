"""Netplan YAML of a Linux VTEP, built as Python data and dumped as YAML.

VXLAN tunnels (`tunnels: mode: vxlan`) exist since netplan 0.105. Netplan has one `remote:` per VXLAN tunnel
and no FDB entries, so a static flood list of any length cannot be written in it: the flood list is rendered
as systemd-networkd drop-ins for the .network file netplan generates per tunnel
(templates/linux/networkd/netplan-flood.conf.j2), which needs renderer networkd. The vendor document it
follows is named in the file's comment header (`HEADER`).
"""

from __future__ import annotations

from typing import Any

from vxauto.model.facts import DeviceFacts, SegmentFacts
from vxauto.render.yamldump import DoubleQuoted, dump, with_comments

HEADER = """\
# vxauto: netplan configuration of {device.name} (fabric {device.fabric_name})
# Follows: netplan(5) YAML reference of netplan 0.106 ("Properties for device type tunnels", VXLAN
# specific keys, since 0.105; "Properties for device type bridges"; "... vlans"). Needs netplan >= 0.105.
# Static flood lists are not expressible in netplan: they are in the files
# /etc/systemd/network/10-netplan-vxlan<VNI>.network.d/50-vxauto-flood.conf rendered beside this file.
# Generated from the intent; edit the inventory, not this file.
"""
Tree = dict[str, Any]


def render(device: DeviceFacts) -> str:
    comments = {i.name: f"underlay towards {i.peer}" for i in device.interfaces}
    comments.update({
        f"vxlan{s.vni}": f"segment {s.name} (tenant {s.tenant}): VLAN {s.vlan} <-> VNI {s.vni}, {s.flood} flooding"
        for s in device.segments
    })
    return HEADER.format(device=device) + with_comments(dump({"network": configuration(device)}), comments, 4)


def _addresses(*prefixes: str | None) -> list[DoubleQuoted]:
    return [DoubleQuoted(p) for p in prefixes if p]


def configuration(device: DeviceFacts) -> Tree:
    """The `network:` tree of one device."""
    mtu = device.overlay_mtu
    ethernets: Tree = {}
    if device.loopback_addresses:
        ethernets["lo"] = {"addresses": _addresses(*device.loopback_addresses)}
    if device.vtep_own_interface:
        ethernets[device.vtep_own_interface] = (
            {"addresses": _addresses(device.vtep_prefix)} if device.vtep_address_interface else {"link-local": []}
        )
    for interface in device.interfaces:
        vtep = device.vtep_prefix if interface.name == device.vtep_address_interface else None
        ethernets[interface.name] = {"addresses": _addresses(interface.ip, vtep), "mtu": interface.mtu}
    for port in device.ports:
        ethernets[port.name] = {"mtu": mtu, "link-local": []}
    tree: Tree = {"version": 2, "renderer": "networkd", "ethernets": ethernets}
    if device.trunk_ports:
        tree["vlans"] = {
            f"{port.name}.{segment.vlan}": {"id": segment.vlan, "link": port.name, "mtu": mtu, "link-local": []}
            for port in device.trunk_ports for segment in port.trunk
        }
    if device.segments:
        tree["tunnels"] = {f"vxlan{s.vni}": _tunnel(device, s) for s in device.segments}
        tree["bridges"] = {
            f"br{s.vni}": {
                "interfaces": [f"vxlan{s.vni}", *s.access_ports, *(f"{port}.{s.vlan}" for port in s.trunk_ports)],
                "mtu": mtu, "link-local": [], "parameters": {"stp": False},
            }
            for s in device.segments
        }
    return tree


def _tunnel(device: DeviceFacts, segment: SegmentFacts) -> Tree:
    tunnel: Tree = {"mode": "vxlan", "id": segment.vni, "local": DoubleQuoted(str(device.vtep_ip)),
                    "port": device.udp_port}
    # Static segments learn remote MACs from the data plane; EVPN segments get them (and ARP) from routes.
    tunnel.update({"mac-learning": True} if segment.is_static else {"mac-learning": False, "neigh-suppress": True})
    tunnel.update({"mtu": device.overlay_mtu, "link-local": []})
    return tunnel
