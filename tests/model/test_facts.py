"""Derived facts of the demo fabric, checked against values worked out by hand from inventory/."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO_INVENTORY
from vxauto.errors import VxautoError
from vxauto.model import load_fabric
from vxauto.model.derive import route_distinguisher
from vxauto.model.generate import GenerateOptions, generate, write_inventory
from vxauto.model.nornir_inventory import VxautoInventory, nornir_for
from vxauto.model.select import select_hosts


@pytest.fixture(scope="module")
def fabric():
    return load_fabric(DEMO_INVENTORY)


def test_leaf_carries_attached_segments_only(fabric) -> None:
    # red-web and blue-web are attached to all leaves, red-db to leaf1/leaf2, blue-db to leaf3/leaf4.
    assert fabric.device("leaf1").vlan_vni_map == {10: 10010, 20: 10020, 30: 10030}
    assert fabric.device("leaf4").vlan_vni_map == {10: 10010, 30: 10030, 40: 10040}
    assert fabric.device("spine1").segments == ()
    assert fabric.device("h1").segments == ()


def test_flood_peers_are_the_other_vteps_of_the_segment(fabric) -> None:
    leaf1 = {s.name: s for s in fabric.device("leaf1").segments}
    assert leaf1["red-web"].flood_peers == ("10.0.0.12", "10.0.0.13", "10.0.0.14")
    assert leaf1["red-db"].flood_peers == ("10.0.0.12",)
    leaf3 = {s.name: s for s in fabric.device("leaf3").segments}
    assert leaf3["red-web"].flood_peers == ("10.0.0.11", "10.0.0.12", "10.0.0.14")


def test_route_targets_are_fabric_wide_and_rds_per_vtep(fabric) -> None:
    rts = {(d, s.vni): s.route_target for d in ("leaf1", "leaf2") for s in fabric.device(d).segments}
    # One RT per segment from fabric ASN 65000, equal on leaves with different eBGP ASNs.
    assert rts[("leaf1", 10010)] == rts[("leaf2", 10010)] == "65000:10010"
    assert fabric.device("leaf1").asn != fabric.device("leaf2").asn
    rd = {s.vni: s.route_distinguisher for s in fabric.device("leaf2").segments}
    # FRR leaf: the router ID 10.0.0.12 as a number (never one of bgpd's automatic type-1 RDs), then the VLAN
    assert rd[10010] == f"{(10 << 24) + 12}:10"


def test_underlay_neighbors_resolved_from_both_link_ends(fabric) -> None:
    neighbors = {n.name: (n.ip, n.asn, n.evpn) for n in fabric.device("leaf3").bgp_neighbors}
    assert neighbors == {"spine1": ("10.1.3.0", 65000, True), "spine2": ("10.2.3.0", 65000, True)}
    spine = {n.name: n.ip for n in fabric.device("spine2").bgp_neighbors}
    assert spine["leaf4"] == "10.2.4.1"


def test_ports_and_endpoints(fabric) -> None:
    leaf2 = {s.name: s for s in fabric.device("leaf2").segments}
    assert (leaf2["red-web"].access_ports, leaf2["red-db"].access_ports) == (("eth3",), ("eth4",))
    assert leaf2["blue-web"].access_ports == leaf2["blue-web"].trunk_ports == ()
    endpoints = fabric.device("h3").endpoints
    assert [(e.interface, e.parent, e.vlan, e.vni, e.ip) for e in endpoints] == [
        ("eth1", None, None, 10030, "10.20.30.3/24"),
        ("eth2", None, None, 10040, "10.20.40.3/24"),
    ]


def test_local_vlan_override(demo_inventory: Path) -> None:
    fabric_file = demo_inventory / "fabric.yaml"
    data = yaml.safe_load(fabric_file.read_text())
    data["segments"][0]["local_vlans"] = {"leaf3": 110}
    fabric_file.write_text(yaml.safe_dump(data))
    fabric = load_fabric(demo_inventory)
    assert fabric.device("leaf3").vlan_vni_map[110] == 10010
    assert fabric.device("leaf1").vlan_vni_map[10] == 10010


def test_static_override_per_segment(demo_inventory: Path) -> None:
    fabric_file = demo_inventory / "fabric.yaml"
    data = yaml.safe_load(fabric_file.read_text())
    data["segments"][1]["flood"] = "static"
    fabric_file.write_text(yaml.safe_dump(data))
    leaf1 = load_fabric(demo_inventory).device("leaf1")
    assert [s.vni for s in leaf1.static_segments] == [10020]
    assert [s.vni for s in leaf1.evpn_segments] == [10010, 10030]


def test_host_selection(fabric) -> None:
    assert select_hosts(fabric, roles=["spine"]) == ["spine1", "spine2"]
    assert select_hosts(fabric, groups=["leaves"]) == ["leaf1", "leaf2", "leaf3", "leaf4"]
    assert select_hosts(fabric, hosts=["leaf2,h1"]) == ["leaf2", "h1"]
    assert select_hosts(fabric, platforms=["linux"], hosts=["leaf1", "h2"]) == ["h2"]
    with pytest.raises(VxautoError) as error:
        select_hosts(fabric, hosts=["leaf9"], platforms=["ios"])
    assert "--hosts: unknown host (got 'leaf9')" in str(error.value)
    assert "--platform" in str(error.value)


def test_nornir_inventory_matches_simple_inventory_semantics(fabric) -> None:
    inventory = VxautoInventory(str(DEMO_INVENTORY)).load()
    leaf1 = inventory.hosts["leaf1"]
    assert leaf1.platform == "frr"  # inherited from group `leaves`
    assert leaf1.hostname == "172.20.20.21"
    assert leaf1.username == "root"  # from defaults.yaml
    assert leaf1["role"] == "leaf"  # group data
    assert leaf1["asn"] == 65101
    nornir = nornir_for(fabric)
    assert sorted(nornir.inventory.hosts) == sorted(fabric.hosts)


@pytest.mark.parametrize(("platforms", "flood"), [(("eos", "nxos"), "evpn"), (("frr",), "static")])
def test_generated_inventory_is_valid(tmp_path: Path, platforms: tuple[str, ...], flood: str) -> None:
    files = generate(GenerateOptions(leaves=6, vnis=20, platforms=platforms, flood=flood, span=3))
    write_inventory(files, tmp_path)
    fabric = load_fabric(tmp_path)
    assert len(fabric.vteps) == 6
    assert sum(len(d.segments) for d in fabric.devices.values()) == 20 * 3
    assert {fabric.hosts[f"leaf{i}"].platform for i in range(1, 7)} == set(platforms)
    # Round robin: leaf1 gets the first platform, leaf2 the second (or the first again).
    assert fabric.hosts["leaf2"].platform == platforms[1 % len(platforms)]


def test_rds_on_frr_are_never_one_of_bgpds_automatic_rds() -> None:
    # bgpd advertises a new VNI under `<router-id>:<index>` (type 1) until the configured RD replaces it, so a
    # configured type-1 RD of the same router could be taken over (docs/mobility.md, "Route distinguishers").
    assert route_distinguisher("10.254.0.3", 10, "frr") == "184418307:10"  # type 2 (4-byte administrator)
    assert route_distinguisher("0.0.1.2", 10, "frr") == "258:10"  # type 0; still not type 1
    for name in ("cumulus", "sonic"):  # FRR under NVUE and in SONiC's bgp container
        assert route_distinguisher("10.254.0.3", 10, name) == "184418307:10"
    # platforms with their own BGP keep the type-1 RD; nothing without a router ID or number
    for name in ("eos", "nxos", "junos", "srlinux"):
        assert route_distinguisher("10.254.0.3", 10, name) == "10.254.0.3:10"
    assert route_distinguisher(None, 10, "frr") is None and route_distinguisher("10.0.0.1", None, "frr") is None


def test_rds_stay_unique_per_router_and_vlan(fabric) -> None:
    rds = [s.route_distinguisher for name in fabric.hosts for s in fabric.device(name).segments]
    rds += [v.route_distinguisher for name in fabric.hosts for v in fabric.device(name).vrfs]
    assert len(rds) == len(set(rds)) and all(rd and "." not in rd.split(":")[0] for rd in rds)
