"""SONiC template (templates/sonic/config_db.json.j2): render the vendor-sonic fixture, load the config_db JSON
back (rejecting duplicate keys), compare. SONiC is EVPN + L3 VNI only: no static flooding, no anycast gateway."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from vxauto.errors import VxautoError

if TYPE_CHECKING:  # the helpers live in conftest.py and reach the tests as fixtures
    from conftest import Parsed

PLATFORM = "sonic"


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = {key for key in keys if keys.count(key) > 1}
    assert not duplicates, f"duplicate keys {sorted(duplicates)}"
    return dict(pairs)


def load_config_db(text: str) -> dict[str, dict[str, dict[str, Any]]]:
    config = json.loads(text, object_pairs_hook=_unique)
    for table, entries in config.items():
        assert table.isupper(), f"{table}: config_db tables are upper case"
        for key, fields in entries.items():
            for field, value in fields.items():
                # config_db stores strings; list fields (name@) are lists of strings.
                ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
                assert ok, f"{table}|{key} {field}={value!r}"
    return config


def addresses_of(table: dict[str, dict]) -> dict[str, set[str]]:
    addresses: dict[str, set[str]] = {}
    for key in table:
        if "|" in key:
            name, prefix = key.split("|")
            assert name in table, f"{key} without its interface entry"
            addresses.setdefault(name, set()).add(prefix)
    return addresses


def intent_vrf(name: str) -> str:
    return name.removeprefix("Vrf-")


def parse_config_db(text: str, parsed: Parsed) -> Parsed:
    config = load_config_db(text)
    metadata = config["DEVICE_METADATA"]["localhost"]
    parsed.hostname = metadata["hostname"]
    assert metadata["frr_mgmt_framework_config"] == "true" and metadata["docker_routing_config_mode"] == "unified"
    parsed.addresses = addresses_of(config["LOOPBACK_INTERFACE"]) | addresses_of(config["INTERFACE"])
    parsed.mtus = {name: int(port["mtu"]) for name, port in config["PORT"].items() if "mtu" in port}

    if "VXLAN_TUNNEL" in config:
        ((tunnel, fields),) = config["VXLAN_TUNNEL"].items()
        assert config["VXLAN_EVPN_NVO"] == {"nvo": {"source_vtep": tunnel}}
        parsed.vtep_ip = fields["src_ip"]
        parsed.vtep_interface = next(
            name for name, prefixes in addresses_of(config["LOOPBACK_INTERFACE"]).items()
            if f"{parsed.vtep_ip}/32" in prefixes
        )
        l3_vnis = {int(vrf["vni"]): name for name, vrf in config.get("VRF", {}).items()}
        vlans = config["VLAN"]
        parsed.vlan_names = {}
        l3_vlan: dict[int, int] = {}
        for key, mapping in config["VXLAN_TUNNEL_MAP"].items():
            name, map_name = key.split("|")
            vlan, vni = int(mapping["vlan"].removeprefix("Vlan")), int(mapping["vni"])
            assert name == tunnel and map_name == f"map_{vni}_Vlan{vlan}"
            assert vlans[f"Vlan{vlan}"]["vlanid"] == str(vlan)
            if vni in l3_vnis:
                l3_vlan[vni] = vlan
                assert config["VLAN_INTERFACE"][f"Vlan{vlan}"] == {"vrf_name": l3_vnis[vni]}
            else:
                parsed.vlan_vni[vlan] = vni
                parsed.vlan_names[vlan] = vlans[f"Vlan{vlan}"]["description"]
        assert set(vlans) == {f"Vlan{v}" for v in [*parsed.vlan_vni, *l3_vlan.values()]}, "no VLAN without VNI"
        for key, member in config["VLAN_MEMBER"].items():
            vlan_name, port = key.split("|")
            access, tagged = parsed.ports.get(port, (None, frozenset()))
            vlan = int(vlan_name.removeprefix("Vlan"))
            if member["tagging_mode"] == "untagged":
                assert access is None, f"{port} untagged in two VLANs"
                parsed.ports[port] = (vlan, tagged)
            else:
                assert member["tagging_mode"] == "tagged"
                parsed.ports[port] = (access, tagged | {vlan})
        for key, entry in config.get("BGP_GLOBALS_EVPN_VNI", {}).items():
            vrf, family, vni = key.split("|")
            assert vrf == "default" and family == "l2vpn_evpn"
            parsed.evpn[int(vni)] = (entry["route-distinguisher"], set(entry["import-rts"]), set(entry["export-rts"]))
        for vni, name in l3_vnis.items():
            family = config["BGP_GLOBALS_AF"][f"{name}|l2vpn_evpn"]
            assert family["advertise-ipv4-unicast"] == "true"
            assert config["BGP_GLOBALS"][name]["local_asn"] == config["BGP_GLOBALS"]["default"]["local_asn"]
            parsed.l3[intent_vrf(name)] = (
                vni, family["route-distinguisher"], set(family["import-rts"]), set(family["export-rts"]), l3_vlan[vni]
            )

    # BGP through frrcfgd: every session filtered by the permit-all route-map (eBGP needs a policy in FRR).
    default = config["BGP_GLOBALS"]["default"]
    parsed.asn, parsed.router_id = int(default["local_asn"]), default["router_id"]
    assert config["ROUTE_MAP"] == {"VXAUTO_ALLOW|10": {"route_operation": "permit"}}
    parsed.announce = {key.split("|")[2] for key in config["BGP_GLOBALS_AF_NETWORK"]}
    families = config["BGP_NEIGHBOR_AF"]
    for key, neighbor in config["BGP_NEIGHBOR"].items():
        vrf, ip = key.split("|")
        assert vrf == "default" and neighbor["admin_status"] == "up"
        assert families[f"default|{ip}|ipv4_unicast"]["admin_status"] == "up"
        evpn = families.get(f"default|{ip}|l2vpn_evpn", {})
        for family in filter(None, (families[f"default|{ip}|ipv4_unicast"], evpn)):
            assert family["route_map_in"] == family["route_map_out"] == ["VXAUTO_ALLOW"]
        parsed.neighbors[ip] = (int(neighbor["asn"]), evpn.get("admin_status") == "up")
    if any(evpn for _, evpn in parsed.neighbors.values()):
        vtep = "VXLAN_TUNNEL" in config
        assert config["BGP_GLOBALS_AF"]["default|l2vpn_evpn"]["advertise-all-vni"] == ("true" if vtep else "false")
    return parsed


def test_every_device_renders_the_intent(vendor_render, device_checker, new_parsed) -> None:
    fabric = vendor_render(PLATFORM, "evpn")
    assert set(fabric.configs) == set(fabric.expected)
    for host, text in fabric.configs.items():
        device_checker(parse_config_db(text, new_parsed()), fabric.expected[host], l3vlan=True)


def test_duplicate_keys_are_caught() -> None:
    with pytest.raises(AssertionError, match="duplicate keys"):
        load_config_db('{"VLAN": {"Vlan10": {}, "Vlan10": {}}}')


def test_spine_keeps_the_evpn_next_hop_and_has_no_vxlan_tables(vendor_render) -> None:
    config = load_config_db(vendor_render(PLATFORM, "evpn").configs["spine1"])
    assert not {"VXLAN_TUNNEL", "VXLAN_TUNNEL_MAP", "VXLAN_EVPN_NVO", "VLAN", "VRF"} & set(config)
    evpn = {key: af for key, af in config["BGP_NEIGHBOR_AF"].items() if key.endswith("|l2vpn_evpn")}
    assert len(evpn) == 3 and all(af["unchanged_nexthop"] == "true" for af in evpn.values())
    leaf = load_config_db(vendor_render(PLATFORM, "evpn").configs["leaf1"])
    assert not [af for af in leaf["BGP_NEIGHBOR_AF"].values() if "unchanged_nexthop" in af]


def test_vrf_names_get_the_prefix_sonic_requires(vendor_render) -> None:
    config = load_config_db(vendor_render(PLATFORM, "evpn").configs["leaf1"])
    assert set(config["VRF"]) == {"Vrf-RED"}
    assert all(name == "default" or name.startswith("Vrf") for name in config["BGP_GLOBALS"])


def test_a_non_default_udp_port_fails_loudly(vendor_render) -> None:
    # The VXLAN port is no CONFIG_DB field: the model must refuse it instead of rendering a 4789 config.
    with pytest.raises(VxautoError, match="does not support custom_udp_port"):
        vendor_render(PLATFORM, "evpn", udp_port=4790)
