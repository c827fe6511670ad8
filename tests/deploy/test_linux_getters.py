"""The Linux/FRR driver's extra getters (parse_more.py) on the answers recorded from the lab.

tests/napalm_frr/ runs NAPALM's suite on the same recordings, comparing with expected_result.json, which is the
driver's own answer at recording time. These tests say what the answers must mean, from the lab's intent and
the additions record.py made (spine2 announces 8.8.8.8/32, 1.0.4.0/24 and 1.0.4.128/25; VRF TEST on leaf1 with
192.0.2.1 on vxt-a, 192.0.2.2 on vxt-b; lldpd on leaf1 and both spines; three NTP sources).
"""

from __future__ import annotations

import json
from pathlib import Path

from napalm.base import models
from napalm.base.test.helpers import test_model as fits_model

from tests.napalm_frr.double import MOCKED_DATA, mock_key
from vxauto.devices.napalm_frr import parse_more as parse
from vxauto.devices.napalm_frr.getters_more import AUTHORIZED_KEYS

CASE = "evpn-frr-leaf1"


def recorded(test: str, command: str) -> str:
    return (MOCKED_DATA / test / CASE / f"{mock_key(command)}.txt").read_text()


def frr(test: str, command: str) -> str:
    return recorded(test, f"vtysh -c '{command}'")


def test_routes_to_spine2s_prefixes() -> None:
    tables = parse.route_tables(frr("test_get_route_to", "show ip route vrf all json"))
    exact = parse.routes_to(tables, "1.0.4.0/24", "bgp", longer=False)
    assert list(exact) == ["1.0.4.0/24"]
    (route,) = exact["1.0.4.0/24"]  # learned from spine2 only: one next hop
    assert (route["next_hop"], route["outgoing_interface"], route["routing_table"]) == ("10.2.1.0", "eth2", "default")
    assert route["current_active"] and route["selected_next_hop"] and route["preference"] == 20
    assert fits_model(models.RouteDict, route)
    longer = parse.routes_to(tables, "1.0.4.0/24", "bgp", longer=True)
    assert sorted(longer) == ["1.0.4.0/24", "1.0.4.128/25"]
    # an address: the longest match only
    assert list(parse.routes_to(tables, "1.0.4.200", "", longer=False)) == ["1.0.4.128/25"]
    assert list(parse.routes_to(tables, "1.0.4.1", "", longer=False)) == ["1.0.4.0/24"]
    # two equal-cost next hops to another leaf's loopback, one RouteDict each
    assert {r["next_hop"] for r in parse.routes_to(tables, "10.0.0.12/32", "bgp", False)["10.0.0.12/32"]} == {
        "10.1.1.0", "10.2.1.0"}
    attributes = parse.bgp_path_attributes(json.loads(frr("test_get_route_to",
                                                          "show bgp vrf default ipv4 unicast 1.0.4.0/24 json")), 65101)
    assert (attributes["as_path"], attributes["remote_as"], attributes["peer_id"]) == ("65000", 65000, "10.0.0.2")


def test_arp_and_ipv6_neighbour_tables() -> None:
    default = parse.arp_table(json.loads(recorded("test_get_arp_table", "ip -j -s -4 neigh show")))
    assert {(entry["interface"], entry["ip"]) for entry in default} >= {("eth1", "10.1.1.0"), ("eth2", "10.2.1.0")}
    assert all(fits_model(models.ARPTableDict, entry) and entry["mac"] == entry["mac"].upper() for entry in default)
    ipv6 = parse.ipv6_neighbors(json.loads(recorded("test_get_ipv6_neighbors_table", "ip -j -s -6 neigh show")))
    assert any(entry["interface"] == "eth1" and entry["ip"].startswith("fe80::") for entry in ipv6)
    assert all(fits_model(models.IPV6NeighborDict, entry) for entry in ipv6)


def test_counters_and_network_instances() -> None:
    links = json.loads(recorded("test_get_interfaces_counters", "ip -j -s -s link show"))
    counters = parse.interfaces_counters(links)
    assert counters["eth1"]["rx_octets"] > 0 and counters["eth1"]["tx_unicast_packets"] > 0
    assert counters["eth1"]["tx_broadcast_packets"] == -1  # the kernel does not count them
    assert all(fits_model(models.InterfaceCounterDict, data) for data in counters.values())
    instances = parse.network_instances(json.loads(recorded("test_get_network_instances", "ip -j -d link show")),
                                        frr("test_get_network_instances", "show running-config"))
    assert list(instances) == ["default"]  # the demo's tenants have no L3 VNI: no VRF device
    assert instances["default"]["type"] == "DEFAULT_INSTANCE"
    assert {"eth1", "eth2", "lo", "br10010", "vxlan10010"} <= set(instances["default"]["interfaces"]["interface"])


def test_bgp_details_and_configuration() -> None:
    detail = parse.bgp_neighbors_detail(json.loads(frr("test_get_bgp_neighbors_detail",
                                                       "show bgp vrf all neighbors json")))
    peers = detail["global"][65000]
    assert sorted(peer["remote_address"] for peer in peers) == ["10.1.1.0", "10.2.1.0"]
    assert all(peer["up"] and peer["local_as"] == 65101 and peer["remote_port"] == 179 for peer in peers)
    config = parse.bgp_config(frr("test_get_bgp_config", "show running-config"))
    assert list(config) == ["_"]
    assert {address: (n["remote_as"], n["description"]) for address, n in config["_"]["neighbors"].items()} == {
        "10.1.1.0": (65000, "spine1"), "10.2.1.0": (65000, "spine2")}
    assert config["_"]["local_as"] == 65101


def test_lldp_users_ntp() -> None:
    lldp = parse.lldp_neighbors_detail(json.loads(recorded("test_get_lldp_neighbors_detail", "command -v lldpctl "
                                                           ">/dev/null 2>&1 || exit 127; lldpctl -f json")))
    assert {local: (n[0]["remote_system_name"], n[0]["remote_port_description"]) for local, n in lldp.items()} == {
        "eth1": ("spine1", "eth1"), "eth2": ("spine2", "eth1")}
    assert lldp["eth1"][0]["remote_system_enable_capab"] == ["router"]
    users = parse.users(recorded("test_get_users", "cat /etc/passwd"),
                        parse.authorized_keys(recorded("test_get_users", AUTHORIZED_KEYS)))
    assert users["root"]["level"] == 15 and users["root"]["password"] == ""
    assert "nobody" not in users  # /usr/sbin/nologin
    files = "/etc/chrony/chrony.conf /etc/chrony.conf /etc/ntp.conf /etc/ntpsec/ntp.conf /etc/systemd/timesyncd.conf"
    servers = parse.ntp_servers(recorded("test_get_ntp_servers", f"cat {files} 2>/dev/null; true"))
    assert sorted(servers) == ["10.0.0.1", "10.0.0.2", "2.debian.pool.ntp.org"]
    assert servers["10.0.0.2"]["prefer"] and servers["2.debian.pool.ntp.org"]["association_type"] == "POOL"


def test_ping_and_traceroute_to_spine2s_8_8_8_8() -> None:
    directory = MOCKED_DATA / "test_ping" / CASE
    (answer,) = list(directory.glob("ping*.txt"))
    result = parse.ping_result(answer.read_text(), 0)["success"]
    assert (result["probes_sent"], result["packet_loss"]) == (5, 0)
    assert {entry["ip_address"] for entry in result["results"]} == {"8.8.8.8"}
    assert result["rtt_min"] <= result["rtt_avg"] <= result["rtt_max"]
    (trace,) = list((MOCKED_DATA / "test_traceroute" / CASE).glob("traceroute*.txt"))
    hops = parse.traceroute_result(trace.read_text(), 0)["success"]
    assert list(hops) == [1]  # spine2 owns 8.8.8.8: one hop
    assert {probe["ip_address"] for probe in hops[1]["probes"].values()} == {"8.8.8.8"}
    assert "error" in parse.ping_result("ping: unknown host nowhere\n", 2)


def test_vlans_from_a_vlan_aware_bridge() -> None:
    text = (MOCKED_DATA / "test_get_vlans" / "cumulus379-dual-evpn-leaf01" / "bridge__c_vlan_show.txt").read_text()
    assert parse.vlans(text)[13] == {"name": "vlan13", "interfaces": ["peerlink", "vni13", "bond01", "bridge"]}
    assert parse.vlans("port\tvlan ids\n") == {}  # a VLAN-unaware bridge lists nothing


def test_recordings_name_their_source() -> None:
    readme = (Path(MOCKED_DATA) / "README.md").read_text()
    assert "FRRouting" in readme and "record.py" in readme


def test_environment_from_proc() -> None:
    stat = recorded("test_get_environment", "cat /proc/stat")
    environment = parse.environment(stat, recorded("test_get_environment", "cat /proc/meminfo"), "")
    assert sorted(environment["cpu"]) == list(range(stat.count("\ncpu")))  # one entry per cpuN line
    assert all(0.0 <= cpu["%usage"] <= 100.0 for cpu in environment["cpu"].values())
    memory = environment["memory"]
    assert 0 < memory["used_ram"] < memory["available_ram"]
    assert environment["fans"] == {} and environment["power"] == {}
    # a thermal zone line as the driver's shell loop prints it: 95 degrees against a 100 degree critical trip
    hot = parse.environment("", "", "thermal_zone0 x86_pkg_temp 95000 100000\n")["temperature"]
    assert hot == {"thermal_zone0 x86_pkg_temp": {"temperature": 95.0, "is_alert": True, "is_critical": False}}
