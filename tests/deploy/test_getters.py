"""NAPALM getters of the Linux/FRR driver on outputs captured from the lab (tests/fixtures/deploy).

Each getter must return NAPALM's model (`napalm.base.test.helpers.test_model`, as NAPALM's own driver
test suite checks it) and the values a person reads in the capture.
"""

from __future__ import annotations

import json

from napalm.base import models
from napalm.base.test.helpers import test_model as fits_model

from tests.deploy.conftest import fixture_text
from vxauto.devices.napalm_frr import parse_core as getters


def load(node: str, name: str) -> object:
    return json.loads(fixture_text(node, name))


def test_bgp_neighbors_of_a_leaf_have_both_address_families() -> None:
    result = getters.bgp_neighbors(load("leaf1", "show_bgp_vrf_all_summary_json"),
                                   load("leaf1", "show_bgp_vrf_all_neighbors_json"))
    assert list(result) == ["global"]
    assert result["global"]["router_id"] == "10.0.0.11"
    peers = result["global"]["peers"]
    assert sorted(peers) == ["10.1.1.0", "10.2.1.0"]
    for peer in peers.values():
        assert fits_model(models.PeerDict, peer)
        assert sorted(peer["address_family"]) == ["ipv4", "l2vpn_evpn"]
        for family in peer["address_family"].values():
            assert fits_model(models.AFDict, family)
    spine1 = peers["10.1.1.0"]
    assert (spine1["remote_as"], spine1["local_as"], spine1["description"], spine1["remote_id"]) == (
        65000, 65101, "spine1", "10.0.0.1")
    assert spine1["is_up"] and spine1["is_enabled"] and spine1["uptime"] >= 0
    # the capture: 4 IPv4 prefixes in from spine1, 6 out; EVPN as zebra had it then
    assert spine1["address_family"]["ipv4"] == {"received_prefixes": 4, "accepted_prefixes": 4, "sent_prefixes": 6}


def test_bgp_neighbors_of_a_spine_list_every_leaf() -> None:
    result = getters.bgp_neighbors(load("spine1", "show_bgp_vrf_all_summary_json"),
                                   load("spine1", "show_bgp_vrf_all_neighbors_json"))
    peers = result["global"]["peers"]
    assert {address: peer["remote_as"] for address, peer in peers.items()} == {
        "10.1.1.1": 65101, "10.1.2.1": 65102, "10.1.3.1": 65103, "10.1.4.1": 65104}
    assert all(peer["is_up"] for peer in peers.values())


def test_interfaces_and_addresses_of_a_leaf() -> None:
    links = load("leaf1", "ip_-j_-d_link_show")
    result = getters.interfaces(links, getters.speeds("eth1 10000\nlo -1\nbr10010 -1\n"))
    for data in result.values():
        assert fits_model(models.InterfaceDict, data)
    assert set(result) >= {"lo", "eth0", "eth1", "eth2", "eth3", "eth4", "vxlan10010", "br10010"}
    assert (result["eth1"]["mtu"], result["eth1"]["speed"], result["eth1"]["is_up"]) == (9100, 10000.0, True)
    assert result["lo"]["mac_address"] == "" and result["lo"]["speed"] == -1.0
    ips = getters.interfaces_ip(load("leaf1", "ip_-j_addr_show"))
    assert ips["lo"]["ipv4"]["10.0.0.11"] == {"prefix_length": 32}
    assert ips["eth1"]["ipv4"] == {"10.1.1.1": {"prefix_length": 31}}
    assert all(family in ("ipv4", "ipv6") for data in ips.values() for family in data)


def test_lldp_neighbors_from_lldpd() -> None:
    result = getters.lldp_neighbors(load("leaf1", "lldpctl_-f_json"))
    assert result == {"eth1": [{"hostname": "spine1", "port": "eth1"}],
                      "eth2": [{"hostname": "spine2", "port": "eth1"}]}
    for neighbors in result.values():
        assert all(fits_model(models.LLDPNeighborDict, neighbor) for neighbor in neighbors)
    assert getters.lldp_neighbors({"lldp": {}}) == {}


def test_mac_table_has_bridge_entries_but_no_flood_entries() -> None:
    table = getters.mac_address_table(load("leaf1", "bridge_-j_fdb_show"))
    assert table and all(fits_model(models.MACAdressTable, entry) for entry in table)
    assert all(entry["mac"] != "00:00:00:00:00:00" for entry in table)
    interfaces = {entry["interface"] for entry in table}
    assert {"eth3", "eth4", "vxlan10010"} <= interfaces and "eth0" not in interfaces
    # remote hosts learned over EVPN sit behind the VXLAN port and are not static
    assert any(entry["interface"].startswith("vxlan") and not entry["static"] for entry in table)


def test_facts_name_frr_and_the_kernel() -> None:
    version = getters.frr_version(fixture_text("leaf1", "show_version"))
    assert version == "8.4.4"
    facts = getters.facts("leaf1\n", "leaf1\n", "123.45 200.0\n", "Linux 6.18.44\n", version,
                          load("leaf1", "ip_-j_-d_link_show"), "", "")
    assert fits_model(models.FactsDict, facts)
    assert facts["os_version"] == "FRRouting 8.4.4 on Linux 6.18.44" and facts["uptime"] == 123.45
    assert facts["interface_list"] == sorted(facts["interface_list"]) and "vxlan10030" in facts["interface_list"]
