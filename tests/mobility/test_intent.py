"""Sites, DCI borders and mobile endpoints in the intent: derived facts, and broken intents that exit 2
naming file, line, path and value (the multisite inventory is the valid base of every case)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO, edit
from vxauto.cli.main import app
from vxauto.model import mobility
from vxauto.model.fabric import load_fabric

MULTISITE = REPO / "containerlab" / "multisite" / "inventory"


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    target = tmp_path / "inventory"
    shutil.copytree(MULTISITE, target)
    return target



def test_multisite_inventory_is_valid_with_sites_and_dci() -> None:
    fabric = load_fabric(MULTISITE)
    assert [(s.name, s.borders) for s in fabric.intent.sites] == [("dc1", ["spine1"]), ("dc2", ["spine2"])]
    assert mobility.dci_links(fabric) == [mobility.DciLink("spine1", "eth3", "dc1", "spine2", "eth3", "dc2")]
    # one overlay: the segment keeps the fabric-wide RT in both sites, EVPN runs across the DCI link
    assert {fabric.device(leaf).segments[0].route_target for leaf in ("leaf1", "leaf4")} == {"65000:40010"}
    dci = [n for n in fabric.device("spine1").bgp_neighbors if n.name == "spine2"]
    assert dci and dci[0].evpn and dci[0].asn == 65002


def test_mobile_endpoints_may_sit_behind_every_vtep_of_their_segment() -> None:
    vms = {vm.name: vm for vm in mobility.mobile_facts(load_fabric(MULTISITE))}
    assert set(vms) == {"vm1", "vm2", "vm3", "vm4"}
    assert vms["vm1"].mac == "02:00:00:40:00:01" and vms["vm1"].vni == 40010
    assert vms["vm1"].vteps == {"leaf1": "10.0.4.11", "leaf2": "10.0.4.12", "leaf3": "10.0.4.13",
                                "leaf4": "10.0.4.14"}


def test_site_route_target_override_applies_inside_its_site(inventory: Path) -> None:
    # web only in dc1: a per-site RT there is consistent (no other site carries it)
    edit(inventory, "fabric.yaml", "    attach: all", "    attach: {hosts: [leaf1, leaf2]}")
    edit(inventory, "fabric.yaml", "    borders: [spine1]",
         "    borders: [spine1]\n    route_targets: {web: '65001:40010'}")
    hosts = inventory / "hosts.yaml"
    head, tail = hosts.read_text().split("leaf3:", 1)
    hosts.write_text(head + "leaf3:" + tail.replace("    ports:\n      - {interface: eth3, segment: web}\n", ""))
    fabric = load_fabric(inventory)
    assert fabric.device("leaf1").segments[0].route_target == "65001:40010"


def test_the_lab_topology_gives_each_vm_its_intent_mac_and_ip() -> None:
    """The VMs of containerlab/multisite.clab.yml are the inventory's mobile endpoints (same MAC and IP)."""
    from vxauto.lab.topology import load_topology

    topology = load_topology(REPO / "containerlab" / "multisite.clab.yml")
    for vm in mobility.mobile_facts(load_fabric(MULTISITE)):
        lines = " ".join(topology.nodes[vm.name].exec)
        assert f"address {vm.mac}" in lines and f"addr add {vm.ip} dev eth1" in lines


CASES = [
    ("unknown site", "hosts.yaml", "    site: dc2\n    asn: 65203", "    site: dc3\n    asn: 65203",
     "hosts.yaml", "leaf3.data.site", "unknown site", "dc3"),
    ("host without site", "hosts.yaml", "    site: dc2\n    asn: 65204", "    asn: 65204",
     "hosts.yaml", "leaf4.data", "needs data.site", None),
    ("dci end not a border", "fabric.yaml", "    borders: [spine2]", "    borders: []",
     "hosts.yaml", "spine2.data.underlay[2].peer", "must be a border of site dc2", "spine1"),
    ("border in another site", "fabric.yaml", "    borders: [spine1]", "    borders: [spine1, leaf3]",
     "fabric.yaml", "sites[0].borders[1]", "host is in site dc2", "leaf3"),
    ("duplicate mobile mac", "fabric.yaml", 'mac: "02:00:00:40:00:02"', 'mac: "02:00:00:40:00:01"',
     "fabric.yaml", "mobile[1].mac", "MAC already used by mobile[0]", "02:00:00:40:00:01"),
    ("multicast mobile mac", "fabric.yaml", 'mac: "02:00:00:40:00:03"', 'mac: "03:00:00:40:00:03"',
     "fabric.yaml", "mobile[2].mac", "multicast MAC", "03:00:00:40:00:03"),
    ("duplicate mobile ip", "fabric.yaml", "ip: 10.40.10.4/24", "ip: 10.40.10.3/24",
     "fabric.yaml", "mobile[3].ip", "already used in segment web", "10.40.10.3/24"),
    ("mobile unknown segment", "fabric.yaml", "{name: vm4, segment: web", "{name: vm4, segment: app",
     "fabric.yaml", "mobile[3].segment", "unknown segment", "app"),
    ("site rt spanning sites", "fabric.yaml", "    borders: [spine1]",
     "    borders: [spine1]\n    route_targets: {web: '65001:40010'}",
     "fabric.yaml", "sites[0].route_targets.web", "needs the borders to rewrite it", "65001:40010"),
    ("mobile bad mac", "fabric.yaml", 'mac: "02:00:00:40:00:04"', 'mac: "02:00:00:40:00"',
     "fabric.yaml", "mobile[3].mac", "must be a MAC address", None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_broken_multisite_intent_names_file_line_and_value(case: tuple, inventory: Path) -> None:
    _, file, old, new, where, path, message, value = case
    edit(inventory, file, old, new)
    result = CliRunner().invoke(app, ["check", "-i", str(inventory)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if f"{where}:" in line and f": {path}:" in line]
    assert any(message in line for line in lines), result.output
    if value is not None:
        assert any(repr(value) in line for line in lines), result.output


def test_mobile_vteps_must_carry_the_segment(inventory: Path) -> None:
    edit(inventory, "fabric.yaml", "    attach: all", "    attach: {hosts: [leaf1, leaf2, leaf3]}")
    edit(inventory, "fabric.yaml", "ip: 10.40.10.4/24}", "ip: 10.40.10.4/24, vteps: [leaf3, leaf4]}")
    result = CliRunner().invoke(app, ["check", "-i", str(inventory)])
    assert result.exit_code == 2, result.output
    assert "mobile[3].vteps[1]: does not carry segment web" in result.output and "'leaf4'" in result.output
    assert "vteps[0]" not in result.output  # leaf3 carries web: the positive control in the same run
