"""Nokia SR Linux template (templates/srlinux/vxlan.j2): render the vendor-srlinux fixture, parse the flat
`set /` commands back, compare. SR Linux is EVPN-only (no static flooding): only the EVPN variant exists."""

from __future__ import annotations

import shlex
from collections import defaultdict
from typing import TYPE_CHECKING

import pytest

from vxauto.errors import VxautoError

if TYPE_CHECKING:  # the helpers live in conftest.py and reach the tests as fixtures
    from conftest import Parsed

PLATFORM = "srlinux"


def set_commands(text: str) -> list[list[str]]:
    commands = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        words = shlex.split(line)
        assert words[:2] == ["set", "/"], f"not a flat set command: {line!r}"
        if "[" in words:  # a leaf-list value `[ a b ]` becomes the one word "[a b]"
            start = words.index("[")
            assert words[-1] == "]"
            words = [*words[:start], "[" + " ".join(words[start + 1 : -1]) + "]"]
        commands.append(words[2:])
    return commands


def tree(commands: list[list[str]]) -> dict:
    """Nest the flat commands into a dict (leaf values as lists, since `set` of a leaf-list adds)."""
    root: dict = {}
    for words in commands:
        node = root
        for word in words[:-2]:
            node = node.setdefault(word, {})
        node.setdefault(words[-2], []).append(words[-1])
    return root


def parse_srlinux(text: str, parsed: Parsed) -> Parsed:
    commands = set_commands(text)
    interfaces: dict[str, dict] = defaultdict(dict)
    instances: dict[str, list[list[str]]] = defaultdict(list)
    vxlan_interfaces: dict[int, list[list[str]]] = defaultdict(list)
    policies: list[list[str]] = []
    for words in commands:
        match words:
            case ["system", "name", "host-name", name]:
                parsed.hostname = name
            case ["interface", name, *rest]:
                interfaces[name].setdefault("lines", []).append(rest)
            case ["network-instance", name, *rest]:
                instances[name].append(rest)
            case ["tunnel-interface", "vxlan1", "vxlan-interface", index, *rest]:
                vxlan_interfaces[int(index)].append(rest)
            case ["routing-policy", *rest]:
                policies.append(rest)
            case _:
                raise AssertionError(f"unexpected statement {words}")

    # Interfaces: routed subinterface 0 (underlay, loopbacks), bridged subinterfaces (ports), irb0 (gateways).
    bridged: dict[str, dict[int, int | None]] = defaultdict(dict)  # port -> subinterface -> tag (None: untagged)
    irb: dict[int, dict] = defaultdict(dict)
    for name, data in interfaces.items():
        for rest in data["lines"]:
            match rest:
                case ["subinterface", "0", "ipv4", "address", address]:
                    parsed.addresses.setdefault(name, set()).add(address)
                case ["subinterface", "0", "ip-mtu", mtu]:
                    parsed.mtus[name] = int(mtu)
                case ["subinterface", index, "vlan", "encap", "untagged"]:
                    bridged[name][int(index)] = None
                case ["subinterface", index, "vlan", "encap", "single-tagged", "vlan-id", tag]:
                    bridged[name][int(index)] = int(tag)
                case ["subinterface", index, "ipv4", "address", address, "anycast-gw", "true"] if name == "irb0":
                    irb[int(index)]["address"] = address
                case ["subinterface", index, "anycast-gw", "anycast-gw-mac", mac] if name == "irb0":
                    irb[int(index)]["mac"] = mac
                case ["subinterface", index, "type", kind]:
                    assert kind == "bridged" and index != "0"
                case ["vlan-tagging", "true"] | ["admin-state", "enable"] | ["description", _]:
                    pass
                case ["subinterface", _, ("admin-state" | "description" | "ipv4"), *_]:
                    pass
                case _:
                    raise AssertionError(f"unexpected interface statement {name} {rest}")

    # Routing policy: the export policy announces exactly the prefix-set.
    announce = {rest[3] for rest in policies if rest[:3] == ["prefix-set", "vxauto-announce", "prefix"]}

    # Default network-instance: interfaces and BGP.
    default = tree(instances.pop("default"))
    bgp = default["protocols"]["bgp"]
    parsed.asn = int(bgp["autonomous-system"][0])
    parsed.router_id = bgp["router-id"][0]
    group = bgp["group"]["underlay"]
    assert group["export-policy"] == ["[vxauto-export]"] and group["import-policy"] == ["[vxauto-import]"]
    for ip, neighbor in bgp["neighbor"].items():
        assert neighbor["peer-group"] == ["underlay"]
        assert neighbor["afi-safi"]["ipv4-unicast"]["admin-state"] == ["enable"]
        evpn = neighbor["afi-safi"].get("evpn", {}).get("admin-state") == ["enable"]
        parsed.neighbors[ip] = (int(neighbor["peer-as"][0]), evpn)
    if any(evpn for _, evpn in parsed.neighbors.values()):
        assert bgp["afi-safi"]["evpn"]["admin-state"] == ["enable"]
        assert ["statement", "evpn", "match", "protocol", "bgp-evpn"] in [p[2:] for p in policies]
    parsed.announce = announce
    attached = set(default["interface"])
    assert {f"{name}.0" for name in parsed.addresses} == attached, "routed subinterfaces join the default instance"

    # VXLAN interfaces: index = VNI, sourced from system0.
    vxlan: dict[int, tuple[str, int]] = {}
    for index, lines in vxlan_interfaces.items():
        data = tree(lines)
        assert data["egress"]["source-ip"] == ["use-system-ipv4-address"]
        vxlan[index] = (data["type"][0], int(data["ingress"]["vni"][0]))
        assert vxlan[index][1] == index
    if vxlan:
        parsed.vtep_interface = "system0"
        (address,) = parsed.addresses["system0"]
        parsed.vtep_ip = address.split("/")[0]

    # mac-vrf per segment (EVI = local VLAN), ip-vrf per tenant.
    parsed.vlan_names = {}
    irb_vrf: dict[int, str] = {}
    for name, lines in instances.items():
        data = tree(lines)
        (vxlan_ref,) = data.get("vxlan-interface", [None])
        if data["type"] == ["mac-vrf"]:
            evpn = data["protocols"]["bgp-evpn"]["bgp-instance"]["1"]
            vlan = int(evpn["evi"][0])
            vni = vxlan[int(vxlan_ref.split(".")[1])][1]
            assert evpn["vxlan-interface"] == [vxlan_ref] and vxlan[vni][0] == "bridged"
            parsed.vlan_vni[vlan] = vni
            parsed.vlan_names[vlan] = name.removeprefix("mac-")
            parsed.evpn[vni] = bgp_vpn(data)
            for member in data.get("interface", {}):
                port, index = member.split(".")
                assert int(index) == vlan, f"{member} in the mac-vrf of VLAN {vlan}"
                if port != "irb0":
                    assert bridged[port][vlan] in (None, vlan)
        else:
            assert data["type"] == ["ip-vrf"]
            irb_vrf.update({int(member.split(".")[1]): name for member in data.get("interface", {})})
            if vxlan_ref:
                vni = int(vxlan_ref.split(".")[1])
                assert vxlan[vni][0] == "routed"
                rd, imports, exports = bgp_vpn(data)
                parsed.l3[name] = (vni, rd, imports, exports, None)
    parsed.gateways = {vlan: (irb_vrf[vlan], data["address"], data["mac"]) for vlan, data in irb.items()}
    for port, subinterfaces in bridged.items():
        untagged = [index for index, tag in subinterfaces.items() if tag is None]
        parsed.ports[port] = (untagged[0] if untagged else None,
                              frozenset(tag for tag in subinterfaces.values() if tag is not None))
    return parsed


def bgp_vpn(data: dict) -> tuple[str, set[str], set[str]]:
    vpn = data["protocols"]["bgp-vpn"]["bgp-instance"]["1"]
    targets = vpn["route-target"]
    return (
        vpn["route-distinguisher"]["rd"][0],
        {t.removeprefix("target:") for t in targets["import-rt"]},
        {t.removeprefix("target:") for t in targets["export-rt"]},
    )


def test_every_device_renders_the_intent(vendor_render, device_checker, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, "evpn")
    assert set(fabric.configs) == set(fabric.expected)
    for host, text in fabric.configs.items():
        device_checker(parse_srlinux(text, new_parsed()), fabric.expected[host], l3vlan=False)


def test_spine_relays_evpn_between_ases_without_vteps(vendor_render) -> None:
    commands = set_commands(vendor_render(PLATFORM, "evpn").configs["spine1"])
    assert ["network-instance", "default", "protocols", "bgp", "afi-safi", "evpn", "evpn", "inter-as-vpn",
            "true"] in commands
    assert not [words for words in commands if words[0] == "tunnel-interface"]
    assert ["interface", "system0", "subinterface", "0", "ipv4", "address", "10.0.0.1/32"] in commands


def test_router_id_apart_from_the_vtep_address_gets_lo0(vendor_render, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, "evpn")
    leaf1 = parse_srlinux(fabric.configs["leaf1"], new_parsed())
    assert leaf1.addresses["lo0"] == {"10.0.0.11/32"} and leaf1.addresses["system0"] == {"10.0.1.11/32"}
    leaf3 = parse_srlinux(fabric.configs["leaf3"], new_parsed())
    assert "lo0" not in leaf3.addresses and leaf3.addresses["system0"] == {"10.0.0.13/32"}


def test_a_non_default_udp_port_fails_loudly(vendor_render) -> None:
    # SR Linux has no setting for the VXLAN port: rendering must not silently produce a 4789 configuration.
    with pytest.raises(VxautoError, match="does not support custom_udp_port"):
        vendor_render(PLATFORM, "evpn", udp_port=4790)
