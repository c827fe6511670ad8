"""The lab's nornir-simple-inventory.yml and ansible-inventory.yml: containerlab's layout, loadable by the tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from nornir.plugins.inventory.simple import SimpleInventory

from vxauto.lab.inventories import InventoryNode, ansible_inventory, nornir_simple_inventory

NODES = [
    InventoryNode("leaf2", "clab-lab-leaf2", "linux", "172.20.39.22", {"ansible-group": "leaves"}),
    InventoryNode("leaf1", "clab-lab-leaf1", "linux", "172.20.39.21",
                  {"ansible-group": "leaves", "nornir-group-1": "fabric", "nornir-group": "leaves"}),
    InventoryNode("spine1", "clab-lab-spine1", "frr", "172.20.39.11", {}),
]
KEY, KNOWN = Path("/lab/id_ed25519"), Path("/lab/known_hosts")
# ansible-core installs its commands next to the interpreter (a venv's bin/ need not be on PATH)
ANSIBLE_INVENTORY = shutil.which("ansible-inventory") or shutil.which(
    "ansible-inventory", path=str(Path(sys.executable).parent)
)


def test_nornir_inventory_loads_with_keys_and_known_hosts(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(nornir_simple_inventory(NODES, KEY, KNOWN))
    (tmp_path / "groups.yaml").write_text("fabric: {}\nleaves: {}\n")
    inventory = SimpleInventory(str(hosts), str(tmp_path / "groups.yaml"), str(tmp_path / "none.yaml")).load()
    # containerlab: grouped by kind (sorted), then by node name; keyed by the short name
    assert list(inventory.hosts) == ["spine1", "leaf1", "leaf2"]
    leaf1 = inventory.hosts["leaf1"]
    assert (leaf1.hostname, leaf1.username, leaf1.platform) == ("172.20.39.21", "root", "linux")
    assert [group.name for group in leaf1.groups] == ["fabric", "leaves"]
    extras = leaf1.connection_options["netmiko"].extras
    assert extras["key_file"] == str(KEY) and extras["alt_key_file"] == str(KNOWN)
    assert extras["ssh_strict"] is True and extras["system_host_keys"] is False
    assert inventory.hosts["spine1"].platform == "frr"


@pytest.mark.skipif(ANSIBLE_INVENTORY is None, reason="ansible-core is not installed")
def test_ansible_inventory_parses_with_ansible(tmp_path: Path) -> None:
    file = tmp_path / "ansible-inventory.yml"
    file.write_text(ansible_inventory(NODES, KEY, KNOWN))
    raw = yaml.safe_load(file.read_text())
    assert raw["all"]["vars"]["ansible_httpapi_use_proxy"] is False
    assert list(raw["all"]["children"]) == ["frr", "linux", "leaves"]  # kinds (sorted), then label groups
    # run outside the repository: its ansible.cfg enables only vxauto's own inventory plugin
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    result = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(file), "--list"], capture_output=True, text=True,
                            check=True, timeout=120, cwd=tmp_path, env=environment)
    listed = json.loads(result.stdout)
    assert listed["linux"]["hosts"] == ["clab-lab-leaf1", "clab-lab-leaf2"]
    assert sorted(listed["leaves"]["hosts"]) == ["clab-lab-leaf1", "clab-lab-leaf2"]
    host_vars = listed["_meta"]["hostvars"]["clab-lab-leaf1"]
    assert host_vars["ansible_host"] == "172.20.39.21"
    assert host_vars["ansible_ssh_private_key_file"] == str(KEY)
    assert f"UserKnownHostsFile={KNOWN}" in host_vars["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in host_vars["ansible_ssh_common_args"]
    # modules run with the Python running vxauto (nodes share this machine's file system), never a discovered one
    assert host_vars["ansible_python_interpreter"] == sys.executable
