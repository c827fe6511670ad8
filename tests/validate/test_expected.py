"""Expected state derived from the intent, checked against values worked out by hand from the inventories."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO_INVENTORY, REPO
from vxauto.model import load_fabric
from vxauto.validate.expected import Endpoint, expected_state, reachability_probes

STATIC_INVENTORY = REPO / "containerlab" / "static-linux" / "inventory"


@pytest.fixture(scope="module")
def demo():
    return expected_state(load_fabric(DEMO_INVENTORY))


def test_devices_are_the_vteps_and_routers_not_the_endpoint_hosts(demo) -> None:
    assert list(demo.devices) == ["spine1", "spine2", "leaf1", "leaf2", "leaf3", "leaf4"]
    assert demo.devices["spine1"].driver == "frr"
    assert not demo.devices["spine1"].is_vtep


def test_vnis_of_a_leaf_with_vlans_sources_and_evpn_peers(demo) -> None:
    leaf1 = demo.devices["leaf1"]
    assert {v.vni: (v.vlan, v.name, v.tenant, v.learning) for v in leaf1.vnis.values()} == {
        10010: (10, "red-web", "red", "evpn"),
        10020: (20, "red-db", "red", "evpn"),
        10030: (30, "blue-web", "blue", "evpn"),
    }
    assert {v.source_ip for v in leaf1.vnis.values()} == {"10.0.0.11"}
    assert {v.source_interface for v in leaf1.vnis.values()} == {"lo"}
    assert leaf1.vnis[10010].remote_vteps == ("10.0.0.12", "10.0.0.13", "10.0.0.14")
    assert leaf1.vnis[10020].remote_vteps == ("10.0.0.12",)  # red-db lives on leaf1 and leaf2 only
    # the segment's ports on this leaf: one access port per segment
    assert leaf1.vnis[10010].ports == ("eth3",)
    assert leaf1.vnis[10020].ports == ("eth4",)
    assert leaf1.vnis[10030].ports == ()  # blue-web is attached to leaf1 but has no port there


def test_remote_vteps_list_the_vnis_shared_with_each(demo) -> None:
    assert demo.devices["leaf1"].remote_vteps == {
        "10.0.0.12": (10010, 10020, 10030),
        "10.0.0.13": (10010, 10030),
        "10.0.0.14": (10010, 10030),
    }
    assert demo.devices["leaf1"].vtep_names["10.0.0.13"] == "leaf3"


def test_bgp_sessions_and_underlay_mtu(demo) -> None:
    leaf3 = demo.devices["leaf3"]
    assert [(s.peer, s.ip, s.remote_as, s.evpn) for s in leaf3.sessions] == [
        ("spine1", "10.1.3.0", 65000, True), ("spine2", "10.2.3.0", 65000, True),
    ]
    spine2 = demo.devices["spine2"]
    assert [(s.peer, s.ip, s.remote_as) for s in spine2.sessions] == [
        ("leaf1", "10.2.1.1", 65101), ("leaf2", "10.2.2.1", 65102), ("leaf3", "10.2.3.1", 65103),
        ("leaf4", "10.2.4.1", 65104),
    ]
    assert [(i.name, i.mtu, i.peer) for i in leaf3.underlay] == [("eth1", 9100, "spine1"), ("eth2", 9100, "spine2")]


def test_reachability_probes_pair_endpoints_of_the_same_segment(demo) -> None:
    pings = sorted((p.source.label, p.target.label) for p in demo.probes if p.kind == "ping")
    assert pings == [
        ("h1 eth1 10.10.10.1", "h2 eth1 10.10.10.2"),
        ("h1 eth2 10.10.20.1", "h2 eth2 10.10.20.2"),
        ("h3 eth1 10.20.30.3", "h4 eth1 10.20.30.4"),
        ("h3 eth2 10.20.40.3", "h4 eth2 10.20.40.4"),
    ]
    mtu = [p for p in demo.probes if p.kind == "mtu"]
    assert len(mtu) == 4
    assert {p.size for p in mtu} == {1500 - 28}  # overlay_mtu minus IPv4 and ICMP headers


def test_isolation_probes_cross_segments_but_skip_hosts_sharing_the_source_segment(demo) -> None:
    isolation = [(p.source.label, p.target.label) for p in demo.probes if p.kind == "isolation"]
    # h1 and h2 share both red segments: h2 answers ARP for its red-db address on its red-web interface
    # (Linux arp_ignore=0), so a red-web -> red-db probe between them would prove nothing.
    assert not [pair for pair in isolation if {pair[0][:2], pair[1][:2]} == {"h1", "h2"}]
    from_h1_web = sorted(t for s, t in isolation if s == "h1 eth1 10.10.10.1")
    assert from_h1_web == ["h3 eth1 10.20.30.3", "h3 eth2 10.20.40.3",
                           "h4 eth1 10.20.30.4", "h4 eth2 10.20.40.4"]
    assert len(isolation) == 8 * 4  # every endpoint against the 4 endpoints of the other tenant


def test_carriers_are_the_vteps_of_each_vni(demo) -> None:
    assert demo.carriers == {
        10010: ("leaf1", "leaf2", "leaf3", "leaf4"),
        10020: ("leaf1", "leaf2"),
        10030: ("leaf1", "leaf2", "leaf3", "leaf4"),
        10040: ("leaf3", "leaf4"),
    }


def test_selection_narrows_checks_not_expectations() -> None:
    fabric = load_fabric(DEMO_INVENTORY)
    only_leaf2 = expected_state(fabric, ["leaf2"])
    assert list(only_leaf2.devices) == ["leaf2"]
    assert only_leaf2.probes == ()
    # leaf2 still expects every remote VTEP of its segments, selected or not
    assert only_leaf2.devices["leaf2"].remote_vteps["10.0.0.11"] == (10010, 10020, 10030)
    only_h3 = expected_state(fabric, ["h3"])
    assert only_h3.devices == {}
    assert {p.source.node for p in only_h3.probes} == {"h3"}
    assert sum(p.kind == "ping" for p in only_h3.probes) == 2


def test_static_fabric_expects_static_flood_lists() -> None:
    state = expected_state(load_fabric(STATIC_INVENTORY))
    hv1 = state.devices["hv1"]
    assert {v.vni: (v.learning, v.remote_vteps, v.ports) for v in hv1.vnis.values()} == {
        30010: ("static", ("10.0.1.12", "10.0.1.13"), ("eth3",)),
        30020: ("static", ("10.0.1.13",), ("eth4",)),
    }
    assert list(state.devices["hv2"].vnis) == [30010]
    # hypervisors speak plain eBGP for the underlay: sessions expected, none of them EVPN
    assert hv1.sessions and not any(s.evpn for s in hv1.sessions)


def test_local_vlan_override_is_the_expected_vlan(demo_inventory: Path) -> None:
    fabric_file = demo_inventory / "fabric.yaml"
    data = yaml.safe_load(fabric_file.read_text())
    data["segments"][0]["local_vlans"] = {"leaf3": 110}
    fabric_file.write_text(yaml.safe_dump(data, sort_keys=False))
    state = expected_state(load_fabric(demo_inventory))
    assert state.devices["leaf3"].vnis[10010].vlan == 110
    assert state.devices["leaf1"].vnis[10010].vlan == 10


def test_ipv6_endpoints_get_the_ipv6_header_overhead() -> None:
    a = Endpoint("a", "eth1", "s", "t", 5000, "2001:db8::1", "2001:db8::/64")
    b = Endpoint("b", "eth1", "s", "t", 5000, "2001:db8::2", "2001:db8::/64")
    probes = reachability_probes([a, b], {"a", "b"}, 1450)
    assert [(p.kind, p.size) for p in probes] == [("ping", None), ("mtu", 1450 - 48)]
