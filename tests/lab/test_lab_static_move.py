"""`vxauto lab move` between hypervisors that are VTEPs themselves (static-linux: kernel VXLAN with static
flood lists and data-plane learning): the VM's NIC joins the target's bridge of the same VNI, and its
announcement re-teaches the other hypervisors' FDBs where it is now (the static-hypervisor case)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.lab.conftest import CONTAINERLAB, cli, needs_lab_machine, rendered_lab
from vxauto.lab import api

pytestmark = [pytest.mark.lab, pytest.mark.slow, needs_lab_machine]

TOPOLOGY = CONTAINERLAB / "static-linux.clab.yml"
INVENTORY = CONTAINERLAB / "static-linux" / "inventory"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[api.Lab]:
    with rendered_lab(INVENTORY, TOPOLOGY, tmp_path_factory.mktemp("static-move")) as running:
        yield running


def learned_at(lab: api.Lab, node: str, mac: str) -> list[str]:
    """Remote VTEPs `node`'s VXLAN device for web (VNI 30010) forwards `mac` to (data-plane learned)."""
    entries = json.loads(lab.exec_in(node, "bridge -j fdb show dev vxlan30010").stdout or "[]")
    return [entry["dst"] for entry in entries if entry.get("mac") == mac and entry.get("dst")]


def test_vm_moves_between_vtep_hypervisors_and_the_fdbs_follow(lab: api.Lab) -> None:
    mac = lab.exec_in("vm2", "cat /sys/class/net/eth1/address").stdout.strip()
    assert lab.wait_reachable("vm3", "10.30.10.2", 60) >= 0
    assert learned_at(lab, "hv3", mac) == ["10.0.1.12"]  # hv3 learned vm2 behind hv2 from the traffic
    code, output = cli("lab", "move", str(TOPOLOGY), "vm2", "--to", "hv1", "--json")
    assert code == 0, output
    nic = json.loads(output)["nics"][0]
    assert (nic["vni"], nic["bridge"], nic["target_interface"]) == (30010, "br30010", "vm2-eth1")
    # the gratuitous ARP, flooded by hv1 to its static list, re-taught hv3: no stale entry to hv2 is left
    assert learned_at(lab, "hv3", mac) == ["10.0.1.11"]
    assert lab.wait_reachable("vm3", "10.30.10.2", 30) >= 0
    assert lab.exec_in("vm2", "cat /sys/class/net/eth1/address").stdout.strip() == mac
    code, output = cli("lab", "move", str(TOPOLOGY), "vm2", "--to", "hv2")
    assert code == 0 and "hv2:eth3" in output, output


def test_a_vtep_without_the_vni_refuses_the_vm(lab: api.Lab) -> None:
    code, output = cli("lab", "move", str(TOPOLOGY), "vm1", "--to", "hv2")  # vm1 is on web and db; hv2 lacks db
    assert code == 1 and "hv2 carries no VNI 30020" in output, output
    assert lab.wait_reachable("vm3", "10.30.20.1", 30) >= 0  # control: vm1 still in place on db
