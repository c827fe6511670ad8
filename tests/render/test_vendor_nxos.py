"""Cisco NX-OS template (templates/nxos/vxlan.j2): render the vendor-nxos fixture, parse the CLI back, compare."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from vxauto.errors import VxautoError

if TYPE_CHECKING:  # the helpers live in conftest.py and reach the tests as fixtures
    from conftest import Block, Parsed

PLATFORM = "nxos"


def parse_nxos(text: str, tree: Callable[[str], Block], parsed: Parsed) -> Parsed:
    root = tree(text)
    parsed.vlan_names = {}
    vlan_segment: dict[int, int] = {}  # every vlan -> vn-segment, L3 VNI VLANs included
    l3_vnis: set[int] = set()
    ingress: dict[int, tuple[str, set[str]]] = {}
    vrf_context: dict[str, tuple[int, str, set[str], set[str]]] = {}
    gateway_svis: dict[int, tuple[str, str]] = {}
    l3_svis: dict[int, str] = {}
    anycast_mac = None
    for block in root.children:
        words = block.line.split()
        if words[0] == "hostname":
            parsed.hostname = words[1]
        elif block.line.startswith("vxlan udp port "):
            parsed.udp_port = int(words[-1])
        elif block.line.startswith("fabric forwarding anycast-gateway-mac "):
            anycast_mac = words[-1]
        elif words[0] == "vlan":
            vlan = int(words[1])
            (vni,) = [int(line.split()[1]) for line in block.lines() if line.startswith("vn-segment ")]
            (name,) = [line.split()[1] for line in block.lines() if line.startswith("name ")]
            vlan_segment[vlan] = vni
            parsed.vlan_names[vlan] = name
        elif block.line.startswith("vrf context "):
            vrf_context[words[2]] = parse_vrf_context(block)
        elif block.line == "interface nve1":
            for member in block.find("member vni"):
                part = member.line.split()
                if part[-1] == "associate-vrf":
                    l3_vnis.add(int(part[2]))
                    continue
                (mode,) = member.find("ingress-replication protocol")
                peers = {child.line.split()[1] for child in mode.children}
                ingress[int(part[2])] = (mode.line.split()[-1], peers)
            for line in block.lines():
                if line.startswith("source-interface "):
                    parsed.vtep_interface = line.split()[1]
        elif words[0] == "interface" and words[1].startswith("Vlan"):
            lines = block.lines()
            (vrf,) = [line.split()[2] for line in lines if line.startswith("vrf member ")]
            if "ip forward" in lines:
                l3_svis[int(words[1][4:])] = vrf
            else:
                assert "fabric forwarding mode anycast-gateway" in lines
                (address,) = [line.split()[2] for line in lines if line.startswith("ip address ")]
                gateway_svis[int(words[1][4:])] = (vrf, address)
        elif words[0] == "interface":
            parsed.read_cli_interface(block)
        elif words[0] == "router" and words[1] == "bgp":
            parse_bgp(block, parsed)
        elif block.line == "evpn":
            for vni in block.find("vni"):
                values = route_values(vni)
                parsed.evpn[int(vni.line.split()[1])] = (values["rd"], values["import"], values["export"])
    # Split VLAN <-> VNI mappings: those of an L3 VNI belong to a VRF, the others are segments.
    vlan_of_l3 = {vni: vlan for vlan, vni in vlan_segment.items() if vni in l3_vnis}
    parsed.vlan_vni = {vlan: vni for vlan, vni in vlan_segment.items() if vni not in l3_vnis}
    parsed.vlan_names = {vlan: name for vlan, name in parsed.vlan_names.items() if vlan in parsed.vlan_vni}
    assert set(ingress) == set(parsed.vlan_vni.values()), "every segment VNI is an NVE member"
    parsed.flood = {vni: peers for vni, (mode, peers) in ingress.items() if mode == "static"}
    assert all(not peers for mode, peers in ingress.values() if mode == "bgp")
    assert set(parsed.evpn) == {vni for vni, (mode, _) in ingress.items() if mode == "bgp"}
    for vrf, (vni, rd, imports, exports) in vrf_context.items():
        assert l3_svis[vlan_of_l3[vni]] == vrf, "the L3 VNI VLAN interface is in its VRF"
        parsed.l3[vrf] = (vni, rd, imports, exports, vlan_of_l3[vni])
    mac = colon_mac(anycast_mac) if anycast_mac else None
    parsed.gateways = {vlan: (vrf, address, mac) for vlan, (vrf, address) in gateway_svis.items()}
    if parsed.vtep_interface:
        parsed.vtep_ip = next(iter(parsed.addresses[parsed.vtep_interface])).split("/")[0]
    return parsed


def colon_mac(dotted: str) -> str:
    """001c.7300.0099 -> 00:1c:73:00:00:99"""
    digits = dotted.replace(".", "")
    assert len(digits) == 12
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def parse_vrf_context(block: Block) -> tuple[int, str, set[str], set[str]]:
    (vni,) = [int(line.split()[1]) for line in block.lines() if line.startswith("vni ")]
    (rd,) = [line.split()[1] for line in block.lines() if line.startswith("rd ")]
    (family,) = block.find("address-family ipv4 unicast")
    imports, exports = set(), set()
    for line in family.lines():
        _, direction, target, kind = line.split()
        assert kind == "evpn"
        (imports if direction == "import" else exports).add(target)
    return vni, rd, imports, exports


def parse_bgp(block: Block, parsed: Parsed) -> None:
    parsed.asn = int(block.line.split()[2])
    for child in block.children:
        part = child.line.split()
        if part[0] == "router-id":
            parsed.router_id = part[1]
        elif child.line == "address-family ipv4 unicast":
            parsed.announce = {line.split()[1] for line in child.lines() if line.startswith("network ")}
        elif part[0] == "neighbor":
            (asn,) = [int(line.split()[1]) for line in child.lines() if line.startswith("remote-as ")]
            assert child.find("address-family ipv4 unicast"), "every neighbour carries the IPv4 underlay"
            evpn = child.find("address-family l2vpn evpn")
            if evpn:
                assert {"send-community", "send-community extended"} <= set(evpn[0].lines())
            parsed.neighbors[part[1]] = (asn, bool(evpn))


def route_values(block: Block) -> dict:
    values: dict = {"import": set(), "export": set()}
    for line in block.lines():
        part = line.split()
        if part[0] == "rd":
            values["rd"] = part[1]
        elif part[0] == "route-target":
            values[part[1]].add(part[2])
    return values


@pytest.mark.parametrize("variant", ["evpn", "static"])
def test_every_device_renders_the_intent(variant, vendor_render, device_checker, cli_tree, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, variant)
    assert set(fabric.configs) == set(fabric.expected)
    for host, text in fabric.configs.items():
        device_checker(parse_nxos(text, cli_tree, new_parsed()), fabric.expected[host], l3vlan=True)


def test_static_variant_is_flood_and_learn(vendor_render, cli_tree) -> None:
    fabric = vendor_render(PLATFORM, "static")
    for host in fabric.leaves():
        root = cli_tree(fabric.configs[host])
        (nve,) = root.find("interface nve1")
        assert "host-reachability protocol bgp" not in nve.lines(), "static flooding is flood-and-learn"
        assert not root.find("nv overlay evpn") and not root.find("evpn")
        assert root.find("feature nv overlay") and root.find("feature vn-segment-vlan-based")


def test_evpn_features_and_anycast_gateway_mac(vendor_render, cli_tree) -> None:
    fabric = vendor_render(PLATFORM, "evpn")
    root = cli_tree(fabric.configs["leaf1"])
    for line in ("nv overlay evpn", "feature fabric forwarding", "feature interface-vlan", "feature bgp"):
        assert root.find(line), line
    assert root.find("fabric forwarding anycast-gateway-mac 001c.7300.0099")
    (nve,) = root.find("interface nve1")
    assert "host-reachability protocol bgp" in nve.lines()


def test_spine_retains_all_routes_and_keeps_the_next_hop(vendor_render, cli_tree) -> None:
    fabric = vendor_render(PLATFORM, "evpn")
    spine = cli_tree(fabric.configs["spine1"])
    (bgp,) = spine.find("router bgp")
    (evpn,) = bgp.find("address-family l2vpn evpn")
    assert "retain route-target all" in evpn.lines()
    (route_map,) = spine.find("route-map VXAUTO-EVPN-NH-UNCHANGED permit 10")
    assert route_map.lines() == ["set ip next-hop unchanged"]
    for neighbor in bgp.find("neighbor"):
        (family,) = neighbor.find("address-family l2vpn evpn")
        assert "route-map VXAUTO-EVPN-NH-UNCHANGED out" in family.lines()
    assert not spine.find("interface nve1") and not spine.find("feature vn-segment-vlan-based")
    leaf = cli_tree(fabric.configs["leaf1"])
    assert "retain route-target all" not in leaf.find("router bgp")[0].find("address-family l2vpn evpn")[0].lines()


def test_no_udp_port_is_rendered_and_another_port_is_refused(vendor_render, cli_tree, new_parsed) -> None:
    # Nexus 9000 VXLAN guide, "Guidelines and Limitations for VXLAN": the port is 4789 and not configurable
    default = vendor_render(PLATFORM, "evpn")
    for host, text in default.configs.items():
        assert parse_nxos(text, cli_tree, new_parsed()).udp_port is None, host
        assert "udp port" not in text, host
    with pytest.raises(VxautoError) as refused:
        vendor_render(PLATFORM, "evpn", udp_port=4790)
    message = str(refused.value)
    assert "platform nxos does not support custom_udp_port (needed by fabric.udp_port" in message
    assert "the VXLAN UDP port number is 4789 and is not configurable" in message


def test_tenant_subnets_are_advertised_as_type5(vendor_render, cli_tree) -> None:
    """Like EOS, Junos and FRR for the same intent: the anycast-gateway subnets leave as EVPN type-5 routes."""
    root = cli_tree(vendor_render(PLATFORM, "evpn").configs["leaf1"])
    (bgp,) = root.find("router bgp")
    (vrf,) = bgp.find("vrf RED")
    (family,) = vrf.find("address-family ipv4 unicast")
    assert family.lines() == ["advertise l2vpn evpn", "redistribute direct route-map VXAUTO-CONNECTED"]
    (route_map,) = root.find("route-map VXAUTO-CONNECTED permit 10")
    assert route_map.lines() == []  # no match: every connected subnet of the VRF


def test_vni_outside_the_nxos_range_is_refused(vendor_render) -> None:
    with pytest.raises(VxautoError) as refused:
        vendor_render(PLATFORM, "evpn", edits={"vni: 10010": "vni: 4095"})
    assert "VNI 4095 is outside 4096-16773119, the VNIs nxos accepts" in str(refused.value)
    vendor_render(PLATFORM, "evpn", edits={"vni: 10010": "vni: 4096"})  # the lowest it takes renders
