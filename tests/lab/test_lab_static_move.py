"""`vxauto lab move` between hypervisors that are VTEPs themselves (static-linux: kernel VXLAN with static
flood lists and data-plane learning): the VM's NIC joins the target's bridge of the same VNI, and its
announcement re-teaches the other hypervisors' FDBs where it is now (the static-hypervisor case)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.lab.conftest import CONTAINERLAB, cli, needs_lab_machine, rendered_lab
from vxauto.lab import api, move

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


def mobile_inventory(work: Path, mac: str) -> Path:
    """The static-linux intent with vm2 declared a mobile endpoint (its MAC, any hypervisor of web) instead of
    an endpoint pinned to hv2: validate's own probes and priming then never make vm2 talk, so what it finds
    is what the move and the announcement left."""
    inventory = work / "inventory"
    shutil.copytree(INVENTORY, inventory)
    fabric = yaml.safe_load((inventory / "fabric.yaml").read_text())
    fabric["mobile"] = [{"name": "vm2", "segment": "web", "mac": mac, "ip": "10.30.10.2/24"}]
    (inventory / "fabric.yaml").write_text(yaml.safe_dump(fabric, sort_keys=False))
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    del hosts["vm2"]["data"]["endpoints"]
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return inventory


def forwarding(inventory: Path) -> tuple[int, dict[str, dict]]:
    """`vxauto validate --json` (a short deadline: a stale entry stays until the VM talks) -> exit code and
    the `mobile vm2 (vni 30010) forwarding` check per VTEP."""
    code, output = cli("validate", "-i", str(inventory), "--lab", str(TOPOLOGY), "--json", "--wait", "3")
    report = json.loads(output)
    return code, {c["host"]: c for c in report["checks"] if c["check"] == "mobile vm2 (vni 30010) forwarding"}


def test_validate_names_the_stale_entry_of_an_unannounced_move_and_the_announcement_fixes_it(
        lab: api.Lab, tmp_path: Path) -> None:
    mac = lab.exec_in("vm2", "cat /sys/class/net/eth1/address").stdout.strip()
    inventory = mobile_inventory(tmp_path, mac)
    for peer in ("10.30.10.1", "10.30.10.3"):  # vm2 talks to both: hv1 and hv3 learn it behind hv2
        assert lab.wait_reachable("vm2", peer, 60) >= 0
    assert learned_at(lab, "hv1", mac) == learned_at(lab, "hv3", mac) == ["10.0.1.12"]
    code, output = cli("lab", "move", str(TOPOLOGY), "vm2", "--to", "hv1", "--no-announce", "--json")
    assert code == 0, output
    moved = json.loads(output)
    assert f"hv3: {mac} -> 10.0.1.12" in moved["stale"] and moved["announcements"] == 0, moved
    code, found = forwarding(inventory)
    assert code == 1 and set(found) == {"hv1", "hv2", "hv3"}
    for holder in ("hv1", "hv3"):  # both still send vm2 to hv2, which no longer has it
        assert not found[holder]["passed"], found[holder]
        assert found[holder]["actual"].startswith("stale: forwards behind 10.0.1.12 (hv2), which no longer has it")
    # the announcement re-teaches every VTEP: green, and hv3 forwards to hv1, where vm2 is local
    told = move.announce_vm(api.attach(TOPOLOGY).state, "vm2", moved["left"])
    assert told.sent > 0 and told.stale == []
    code, found = forwarding(inventory)
    assert code == 0 and all(c["passed"] for c in found.values()), found
    assert found["hv3"]["actual"] == "behind 10.0.1.11 (hv1), where it is local"
    # positive control in the same lab: the same kind of move with the announcement is green at once
    code, output = cli("lab", "move", str(TOPOLOGY), "vm2", "--to", "hv2", "--json")
    assert code == 0 and json.loads(output)["stale"] == [], output
    code, found = forwarding(inventory)
    assert code == 0 and found["hv1"]["actual"] == "behind 10.0.1.12 (hv2), where it is local", found
