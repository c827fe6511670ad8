"""Arista EOS template (templates/eos/vxlan.j2): render the vendor-eos fixture, parse the CLI back, compare."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the helpers live in conftest.py and reach the tests as fixtures
    from conftest import Block, Parsed

PLATFORM = "eos"
# A segment on leaf1 only: a static segment without any other VTEP to flood to.
SOLO_SEGMENT = "segments:\n  - {name: solo, vlan: 50, vni: 10050, tenant: blue, attach: {hosts: [leaf1]}}\n"


def parse_eos(text: str, tree: Callable[[str], Block], parsed: Parsed) -> Parsed:
    root = tree(text)
    parsed.vlan_names = {}
    virtual_mac = None
    gateway_vrf: dict[int, tuple[str, str]] = {}
    l3_vni: dict[str, int] = {}
    for block in root.children:
        words = block.line.split()
        if words[0] == "hostname":
            parsed.hostname = words[1]
        elif words[0] == "vlan":
            (name,) = [line.split()[1] for line in block.lines() if line.startswith("name ")]
            parsed.vlan_names[int(words[1])] = name
        elif block.line.startswith("ip virtual-router mac-address "):
            virtual_mac = words[-1]
        elif words[0] == "interface" and words[1] == "Vxlan1":
            for line in block.lines():
                part = line.split()
                if part[1] == "source-interface":
                    parsed.vtep_interface = part[2]
                elif part[1] == "udp-port":
                    parsed.udp_port = int(part[2])
                elif part[1] == "vlan" and part[3] == "vni":
                    assert int(part[2]) not in parsed.vlan_vni, f"VLAN {part[2]} mapped twice"
                    parsed.vlan_vni[int(part[2])] = int(part[4])
                elif part[1] == "vlan" and part[3:5] == ["flood", "vtep"]:
                    parsed.flood[int(part[2])] = set(part[5:])  # by VLAN for now, by VNI below
                elif part[1] == "vrf":
                    l3_vni[part[2]] = int(part[4])
                else:
                    raise AssertionError(f"unexpected Vxlan1 line {line!r}")
        elif words[0] == "interface" and words[1].startswith("Vlan"):
            vlan = int(words[1][4:])
            (vrf,) = [line.split()[1] for line in block.lines() if line.startswith("vrf ")]
            (address,) = [line.split()[3] for line in block.lines() if line.startswith("ip address virtual ")]
            gateway_vrf[vlan] = (vrf, address)
        elif words[0] == "interface":
            parsed.read_cli_interface(block)
        elif words[0] == "router" and words[1] == "bgp":
            parse_bgp(block, parsed, l3_vni)
    parsed.flood = {parsed.vlan_vni[vlan]: peers for vlan, peers in parsed.flood.items()}
    parsed.evpn = {parsed.vlan_vni[vlan]: value for vlan, value in parsed.evpn.items()}
    parsed.gateways = {vlan: (vrf, address, virtual_mac) for vlan, (vrf, address) in gateway_vrf.items()}
    if parsed.vtep_interface:
        parsed.vtep_ip = next(iter(parsed.addresses[parsed.vtep_interface])).split("/")[0]
    return parsed


def parse_bgp(block: Block, parsed: Parsed, l3_vni: dict[str, int]) -> None:
    parsed.asn = int(block.line.split()[2])
    remote_as: dict[str, int] = {}
    extended: set[str] = set()
    ipv4: set[str] = set()
    evpn: set[str] = set()
    for child in block.children:
        part = child.line.split()
        if part[0] == "router-id":
            parsed.router_id = part[1]
        elif part[0] == "neighbor" and part[2] == "remote-as":
            remote_as[part[1]] = int(part[3])
        elif part[0] == "neighbor" and part[2:] == ["send-community", "extended"]:
            extended.add(part[1])
        elif part[0] == "vlan":
            values = route_values(child)
            parsed.evpn[int(part[1])] = (values["rd"], values["import"], values["export"])
            assert "redistribute learned" in child.lines()
        elif child.line == "address-family evpn":
            evpn |= {line.split()[1] for line in child.lines() if line.endswith(" activate")}
        elif child.line == "address-family ipv4":
            ipv4 |= {line.split()[1] for line in child.lines() if line.endswith(" activate")}
            parsed.announce |= {line.split()[1] for line in child.lines() if line.startswith("network ")}
        elif part[0] == "vrf":
            values = route_values(child, "evpn")
            parsed.l3[part[1]] = (l3_vni[part[1]], values["rd"], values["import"], values["export"], None)
    assert ipv4 == set(remote_as), "every neighbour carries the IPv4 underlay"
    assert evpn <= extended, "EVPN needs extended communities"
    parsed.neighbors = {ip: (asn, ip in evpn) for ip, asn in remote_as.items()}


def route_values(block: Block, family: str | None = None) -> dict:
    values: dict = {"import": set(), "export": set()}
    for line in block.lines():
        part = line.split()
        if part[0] == "rd":
            values["rd"] = part[1]
        elif part[0] == "route-target":
            if family:
                assert part[2] == family
            values[part[1]].add(part[-1])
    return values


@pytest.mark.parametrize("variant", ["evpn", "static"])
def test_every_device_renders_the_intent(variant, vendor_render, device_checker, cli_tree, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, variant)
    assert set(fabric.configs) == set(fabric.expected)
    for host, text in fabric.configs.items():
        device_checker(parse_eos(text, cli_tree, new_parsed()), fabric.expected[host], l3vlan=False)


def test_static_variant_has_no_evpn_and_floods_to_the_other_vteps(vendor_render, cli_tree, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, "static")
    for host in fabric.leaves():
        parsed = parse_eos(fabric.configs[host], cli_tree, new_parsed())
        assert not parsed.evpn and not any(evpn for _, evpn in parsed.neighbors.values())
        assert parsed.flood, f"{host}: static segments need flood lists"
        assert not cli_tree(fabric.configs[host]).find("router bgp")[0].find("address-family evpn")


def test_evpn_variant_has_l3vni_gateways_and_no_static_lists(vendor_render, cli_tree, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, "evpn")
    leaf1 = parse_eos(fabric.configs["leaf1"], cli_tree, new_parsed())
    assert leaf1.l3 == {"RED": (50001, "10.0.0.11:3001", {"65000:50001"}, {"65000:50001"}, None)}
    assert leaf1.gateways[10] == ("RED", "10.10.10.1/24", "00:1c:73:00:00:99")
    assert not leaf1.flood
    leaf1_tree = cli_tree(fabric.configs["leaf1"])
    assert leaf1_tree.find("vrf instance RED") and leaf1_tree.find("ip routing vrf RED")


def test_spine_keeps_the_evpn_next_hop_and_has_no_vtep(vendor_render, cli_tree, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, "evpn")
    spine = cli_tree(fabric.configs["spine1"])
    (bgp,) = spine.find("router bgp")
    (evpn,) = bgp.find("address-family evpn")
    activated = {line.split()[1] for line in evpn.lines() if line.endswith("activate")}
    unchanged = {line.split()[1] for line in evpn.lines() if line.endswith("next-hop-unchanged")}
    assert activated == unchanged == {"10.1.1.1", "10.1.2.1", "10.1.3.1"}
    assert not spine.find("interface Vxlan1")
    leaf = cli_tree(fabric.configs["leaf1"])
    (leaf_evpn,) = leaf.find("router bgp")[0].find("address-family evpn")
    assert not [line for line in leaf_evpn.lines() if "next-hop-unchanged" in line], "a VTEP sets its own next hop"
    assert leaf.find("service routing protocols model multi-agent")


def test_router_id_apart_from_the_vtep_address_gets_loopback0(vendor_render, cli_tree, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, "evpn")
    leaf1 = parse_eos(fabric.configs["leaf1"], cli_tree, new_parsed())
    assert leaf1.addresses["Loopback0"] == {"10.0.0.11/32"} and leaf1.addresses["Loopback1"] == {"10.0.1.11/32"}
    leaf3 = parse_eos(fabric.configs["leaf3"], cli_tree, new_parsed())
    assert "Loopback0" not in leaf3.addresses and leaf3.addresses["Loopback1"] == {"10.0.0.13/32"}


def test_udp_port_is_rendered_only_when_not_the_default(vendor_render, cli_tree, new_parsed) -> None:
    default = vendor_render(PLATFORM, "evpn")
    assert parse_eos(default.configs["leaf1"], cli_tree, new_parsed()).udp_port is None
    other = vendor_render(PLATFORM, "static", udp_port=4790)
    for host in other.leaves():
        parsed = parse_eos(other.configs[host], cli_tree, new_parsed())
        assert parsed.udp_port == 4790
        assert parsed.vlan_vni == other.expected[host].vlan_vni



def test_a_static_segment_on_one_vtep_has_no_flood_list(vendor_render, device_checker, cli_tree, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, "static", edits={"segments:\n": SOLO_SEGMENT})
    parsed = parse_eos(fabric.configs["leaf1"], cli_tree, new_parsed())
    assert parsed.vlan_vni[50] == 10050 and 10050 not in parsed.flood
    device_checker(parsed, fabric.expected["leaf1"], l3vlan=False)
