"""Juniper Junos template (templates/junos/vxlan.j2): render the vendor-junos fixture, parse the set commands
back, compare."""

from __future__ import annotations

import shlex
from collections import defaultdict
from typing import TYPE_CHECKING

import pytest

from vxauto.errors import VxautoError

if TYPE_CHECKING:  # the helpers live in conftest.py and reach the tests as fixtures
    from conftest import Parsed

PLATFORM = "junos"
L2_HEADER = 14  # Junos counts the Ethernet header in the physical MTU


def set_commands(text: str) -> list[list[str]]:
    commands = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        words = shlex.split(line)
        assert words[0] == "set", f"not a set command: {line!r}"
        commands.append(words[1:])
    return commands


class Vlan:
    def __init__(self) -> None:
        self.vlan_id: int | None = None
        self.vni: int | None = None
        self.replication = False
        self.static_vteps: set[str] = set()
        self.members: set[str] = set()
        self.l3_interface: str | None = None
        self.udp_port: int | None = None

    def apply(self, words: list[str]) -> None:
        match words:
            case ["vlan-id", vlan]:
                self.vlan_id = int(vlan)
            case ["vxlan", "vni", vni]:
                self.vni = int(vni)
            case ["vxlan", "ingress-node-replication"]:
                self.replication = True
            case ["vxlan", "static-remote-vtep-list", vtep]:
                self.static_vteps.add(vtep)
            case ["vxlan", "destination-udp-port", port]:
                self.udp_port = int(port)
            case ["interface", unit]:
                self.members.add(unit)
            case ["l3-interface", irb]:
                self.l3_interface = irb
            case _:
                raise AssertionError(f"unexpected vlan statement {words}")


def parse_junos(text: str, parsed: Parsed) -> Parsed:
    units: dict[str, dict[str, int]] = defaultdict(dict)  # port -> unit -> vlan-id
    native: dict[str, int] = {}
    sp_style: dict[str, set[str]] = defaultdict(set)
    irb: dict[int, dict[str, str]] = defaultdict(dict)
    switch_vlans: dict[str, Vlan] = defaultdict(Vlan)
    remote_vteps: set[str] = set()
    instances: dict[str, dict] = defaultdict(lambda: {"vlans": defaultdict(Vlan), "interfaces": set(), "evpn": []})
    neighbors: dict[str, dict] = defaultdict(lambda: {"families": set(), "options": set()})
    overlay: dict[str, dict] = defaultdict(lambda: {"options": set()})
    overlay_options: list[list[str]] = []
    vtep_sources: set[str] = set()
    group_options: list[list[str]] = []
    prefix_list: set[str] = set()
    primaries: dict[str, str] = {}
    for words in set_commands(text):
        match words:
            case ["system", "host-name", name]:
                parsed.hostname = name
            case ["interfaces", "irb", "unit", unit, *rest]:
                irb[int(unit)][rest[0]] = rest[-1]
            case ["interfaces", name, "description", _]:
                pass
            case ["interfaces", name, "mtu", mtu]:
                parsed.mtus[name] = int(mtu) - L2_HEADER
            case ["interfaces", name, "unit", "0", "family", "inet", "address", address, *primary]:
                parsed.addresses.setdefault(name, set()).add(address)
                if primary == ["primary"]:
                    primaries[name] = address
            case ["interfaces", name, ("flexible-vlan-tagging" | "encapsulation") as option, *_]:
                sp_style[name].add(option)
            case ["interfaces", name, "native-vlan-id", vlan]:
                native[name] = int(vlan)
            case ["interfaces", name, "unit", unit, "vlan-id", vlan]:
                units[name][unit] = int(vlan)
            case ["routing-options", "router-id", router_id]:
                parsed.router_id = router_id
            case ["routing-options", "autonomous-system", asn]:
                parsed.asn = int(asn)
            case ["policy-options", "prefix-list", "VXAUTO-ANNOUNCE", prefix]:
                prefix_list.add(prefix)
            case ["policy-options", *_]:
                pass
            case ["protocols", "bgp", "group", "underlay", "neighbor", ip, *rest]:
                if rest[0] == "peer-as":
                    neighbors[ip]["asn"] = int(rest[1])
                elif rest[0] == "family":
                    neighbors[ip]["families"].add(" ".join(rest[1:]))
                elif rest[0] != "description":
                    neighbors[ip]["options"].add(" ".join(rest))
            case ["protocols", "bgp", "group", "underlay", *rest]:
                group_options.append(rest)
            case ["protocols", "bgp", "group", "overlay", "neighbor", ip, *rest]:
                if rest[0] == "peer-as":
                    overlay[ip]["asn"] = int(rest[1])
                elif rest[0] != "description":
                    overlay[ip]["options"].add(" ".join(rest))
            case ["protocols", "bgp", "group", "overlay", *rest]:
                overlay_options.append(rest)
            case ["switch-options", "vtep-source-interface", source]:
                vtep_sources.add(source)
            case ["switch-options", "remote-vtep-list", vtep]:
                remote_vteps.add(vtep)
            case ["vlans", name, *rest]:
                switch_vlans[name].apply(rest)
            case ["forwarding-options", "evpn-vxlan", "shared-tunnels"]:
                pass
            case ["routing-instances", name, "vlans", vlan, *rest]:
                instances[name]["vlans"][vlan].apply(rest)
            case ["routing-instances", name, "interface", interface]:
                instances[name]["interfaces"].add(interface)
            case ["routing-instances", name, "vtep-source-interface", source]:
                vtep_sources.add(source)
            case ["routing-instances", name, "protocols", "evpn", *rest]:
                instances[name]["evpn"].append(rest)
            case ["routing-instances", name, key, *rest]:
                instances[name].setdefault(key, []).append(rest)
            case _:
                raise AssertionError(f"unexpected statement {words}")

    # BGP: one external group exporting the announce list; EVPN sessions keep the next hop.
    assert ["type", "external"] in group_options and ["export", "VXAUTO-UNDERLAY-EXPORT"] in group_options
    parsed.announce = prefix_list
    # EVPN rides its own eBGP multihop session between loopbacks (group overlay), never the underlay session.
    if overlay:
        assert ["type", "external"] in overlay_options and ["family", "evpn", "signaling"] in overlay_options
        assert ["multihop", "no-nexthop-change"] in overlay_options
        assert ["local-address", parsed.router_id] in overlay_options
        assert all(neighbor["options"] == {"accept-remote-nexthop"} for neighbor in overlay.values())
    overlay_asns = {neighbor["asn"] for neighbor in overlay.values()}
    parsed.overlay_peers = {ip: neighbor["asn"] for ip, neighbor in overlay.items()}
    for ip, neighbor in neighbors.items():
        assert neighbor["families"] == {"inet unicast"}, "the underlay session carries IPv4 only"
        parsed.neighbors[ip] = (neighbor["asn"], neighbor["asn"] in overlay_asns)

    # VTEP: one source interface (lo0.0) everywhere it is named.
    if vtep_sources:
        (source,) = vtep_sources
        assert source.endswith(".0")
        parsed.vtep_interface = source.removesuffix(".0")
        # The VTEP sources from the unit's primary address: marked when the unit has more than one.
        addresses = parsed.addresses[parsed.vtep_interface]
        (address,) = [primaries[parsed.vtep_interface]] if len(addresses) > 1 else addresses
        parsed.vtep_ip = address.split("/")[0]

    # Layer 2: default-switch VLANs (static flooding) and vlan-based MAC-VRF instances (EVPN).
    parsed.vlan_names = {}
    member_vlan: dict[str, int] = {}
    udp_ports: set[int | None] = set()

    def add_vlan(name: str, vlan: Vlan) -> None:
        assert vlan.vlan_id not in parsed.vlan_vni, f"VLAN {vlan.vlan_id} twice"
        parsed.vlan_vni[vlan.vlan_id] = vlan.vni
        parsed.vlan_names[vlan.vlan_id] = name
        member_vlan.update(dict.fromkeys(vlan.members, vlan.vlan_id))
        udp_ports.add(vlan.udp_port)
        if vlan.l3_interface:
            assert vlan.l3_interface == f"irb.{vlan.vlan_id}"

    for name, vlan in switch_vlans.items():
        add_vlan(name, vlan)
        assert vlan.replication, "static VXLAN needs ingress-node-replication"
        parsed.flood[vlan.vni] = vlan.static_vteps
    assert remote_vteps == set().union(*parsed.flood.values()) if parsed.flood else not remote_vteps
    for name, instance in instances.items():
        (kind,) = instance["instance-type"]
        if kind == ["mac-vrf"]:
            assert instance["service-type"] == [["vlan-based"]]
            ((vlan_name, vlan),) = instance["vlans"].items()
            add_vlan(vlan_name, vlan)
            assert instance["interfaces"] == vlan.members, "instance and VLAN list the same units"
            assert ["encapsulation", "vxlan"] in instance["evpn"]
            assert ["extended-vni-list", str(vlan.vni)] in instance["evpn"]
            targets = targets_of(instance)
            (rd,) = instance["route-distinguisher"]
            parsed.evpn[vlan.vni] = (rd[0], targets["import"], targets["export"])
        elif kind == ["vrf"]:
            targets = targets_of(instance)
            (rd,) = instance["route-distinguisher"]
            (vni,) = {int(words[-1]) for words in instance["evpn"] if words[-2] == "vni"}
            assert ["irb-symmetric-routing", "vni", str(vni)] in instance["evpn"]
            parsed.l3[name] = (vni, rd[0], targets["import"], targets["export"], None)
        else:
            assert kind == ["virtual-router"]
        for interface in instance["interfaces"] if kind != ["mac-vrf"] else ():
            vlan_id = int(interface.removeprefix("irb."))
            parsed.gateways[vlan_id] = (name, irb[vlan_id]["family"], irb[vlan_id]["mac"])
    (parsed.udp_port,) = udp_ports or {None}

    # Ports: service-provider style, one unit per VLAN, untagged frames on the native VLAN's unit.
    for port, port_units in units.items():
        assert sp_style[port] == {"flexible-vlan-tagging", "encapsulation"}
        for unit, vlan_id in port_units.items():
            assert unit == str(vlan_id) and member_vlan[f"{port}.{unit}"] == vlan_id, f"{port}.{unit}"
        access = native.get(port)
        parsed.ports[port] = (access, frozenset(set(port_units.values()) - {access}))
    return parsed


def targets_of(instance: dict) -> dict[str, set[str]]:
    targets: dict[str, set[str]] = {"import": set(), "export": set()}
    for direction, community in instance["vrf-target"]:
        assert community.startswith("target:")
        targets[direction].add(community.removeprefix("target:"))
    return targets


@pytest.mark.parametrize("variant", ["evpn", "static"])
def test_every_device_renders_the_intent(variant, vendor_render, device_checker, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, variant)
    assert set(fabric.configs) == set(fabric.expected)
    for host, text in fabric.configs.items():
        device_checker(parse_junos(text, new_parsed()), fabric.expected[host], l3vlan=False)


def test_evpn_uses_one_vlan_based_mac_vrf_per_segment(vendor_render) -> None:
    fabric = vendor_render(PLATFORM, "evpn")
    commands = set_commands(fabric.configs["leaf1"])
    mac_vrfs = {words[1] for words in commands if words[0] == "routing-instances" and words[2:] == [
        "instance-type", "mac-vrf"]}
    assert mac_vrfs == {"mac-red-web", "mac-red-db", "mac-blue-app"}
    assert ["forwarding-options", "evpn-vxlan", "shared-tunnels"] in commands
    assert not [words for words in commands if words[0] in ("vlans", "switch-options")]


def test_static_variant_uses_the_default_switch(vendor_render) -> None:
    fabric = vendor_render(PLATFORM, "static")
    for host in fabric.leaves():
        commands = set_commands(fabric.configs[host])
        assert not [words for words in commands if words[0] == "routing-instances"]
        assert not [words for words in commands if "evpn" in words]


def test_spine_keeps_all_evpn_routes(vendor_render) -> None:
    fabric = vendor_render(PLATFORM, "evpn")
    assert ["protocols", "bgp", "group", "overlay", "keep", "all"] in set_commands(fabric.configs["spine1"])
    assert ["protocols", "bgp", "group", "overlay", "keep", "all"] not in set_commands(fabric.configs["leaf1"])


def test_evpn_runs_between_loopbacks_apart_from_the_underlay(vendor_render, new_parsed) -> None:
    """netlab refuses EVPN on the underlay eBGP session for Junos (quirk evpn_ebgp): overlay sessions go
    from router ID to router ID, one per peer device, and each router ID is announced into the underlay."""
    fabric = vendor_render(PLATFORM, "evpn")
    router_ids = {name: device.router_id for name, device in fabric.expected.items()}
    asns = {name: device.asn for name, device in fabric.expected.items()}
    for host, text in fabric.configs.items():
        parsed = parse_junos(text, new_parsed())
        peers = {"spine1", "spine2"} if host.startswith("leaf") else set(fabric.leaves())
        assert parsed.overlay_peers == {router_ids[peer]: asns[peer] for peer in peers}, host
        assert f"{router_ids[host]}/32" in parsed.announce


def test_four_byte_asn_route_targets_carry_the_l_suffix(vendor_render) -> None:
    fabric = vendor_render(PLATFORM, "evpn", edits={"asn: 65000\n  flood": "asn: 4200000000\n  flood",
                                                     'route_target: "64999:40"': 'route_target: "4200000001:40"'})
    targets = {words[-1] for words in set_commands(fabric.configs["leaf1"]) if words[2:3] == ["vrf-target"]}
    assert targets == {"target:4200000000L:10010", "target:4200000000L:10020", "target:4200000001L:40",
                       "target:4200000000L:50001"}
    two_byte = {words[-1] for words in set_commands(vendor_render(PLATFORM, "evpn").configs["leaf1"])
                if words[2:3] == ["vrf-target"]}
    assert two_byte == {"target:65000:10010", "target:65000:10020", "target:64999:40", "target:65000:50001"}


def test_vni_outside_the_junos_range_is_refused(vendor_render) -> None:
    with pytest.raises(VxautoError) as refused:
        vendor_render(PLATFORM, "evpn", edits={"vni: 10040": "vni: 16777215"})
    assert "VNI 16777215 is outside 1-16777214, the VNIs junos accepts" in str(refused.value)


def test_ipv4_transit_routes_get_next_hop_self(vendor_render) -> None:
    # no-nexthop-change keeps the VTEP as EVPN next hop; IPv4 routes passed on must still carry our address.
    commands = set_commands(vendor_render(PLATFORM, "evpn").configs["spine1"])
    term = [words[5:] for words in commands if words[:5] == [
        "policy-options", "policy-statement", "VXAUTO-UNDERLAY-EXPORT", "term", "transit"]]
    assert term == [["from", "family", "inet"], ["from", "protocol", "bgp"], ["then", "next-hop", "self"],
                    ["then", "accept"]]


def test_udp_port_is_rendered_only_when_not_the_default(vendor_render, new_parsed) -> None:
    assert parse_junos(vendor_render(PLATFORM, "evpn").configs["leaf1"], new_parsed()).udp_port is None
    for variant in ("evpn", "static"):
        other = vendor_render(PLATFORM, variant, udp_port=4790)
        for host in other.leaves():
            assert parse_junos(other.configs[host], new_parsed()).udp_port == 4790
