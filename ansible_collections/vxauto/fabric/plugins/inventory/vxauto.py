"""Ansible inventory plugin over the vxauto inventory (host data is never kept twice)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: vxauto
short_description: Use a vxauto (Nornir) inventory as the Ansible inventory
description:
  - Reads and validates the vxauto inventory directory (Nornir SimpleInventory plus fabric.yaml) and adds
    its hosts and groups. Hosts get C(ansible_host) from the inventory C(hostname) and their vxauto data
    (platform, role, asn, VTEP IP) as variables under C(vxauto).
  - The modules of this collection run on the controller, so every host gets C(ansible_connection=local)
    and the playbook's Python as interpreter.
  - The inventory file name must end in C(vxauto.yml) or C(vxauto.yaml).
options:
  plugin:
    description: Name of the plugin.
    required: true
    choices: [vxauto.fabric.vxauto]
  directory:
    description: The vxauto inventory directory, relative to the inventory file.
    type: str
    default: .
  lab:
    description:
      - A containerlab topology (relative to the inventory file) whose running lab the modules connect
        through (SSH key, known_hosts, FRR pathspace); exposed as C(vxauto_lab). Leave it out for a real fabric.
    type: str
"""

EXAMPLES = r"""
# inventory/vxauto.yml
plugin: vxauto.fabric.vxauto
directory: .
lab: ../containerlab/evpn-frr.clab.yml
"""

import os
import sys

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin


class InventoryModule(BaseInventoryPlugin):
    NAME = "vxauto.fabric.vxauto"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("vxauto.yml", "vxauto.yaml"))

    def parse(self, inventory, loader, path, cache=True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        directory = os.path.join(os.path.dirname(path), self.get_option("directory"))
        try:
            from vxauto.errors import VxautoError
            from vxauto.model import load_fabric
        except ImportError as error:
            raise AnsibleParserError(f"vxauto is not importable by the Python running Ansible: {error}") from error
        try:
            fabric = load_fabric(directory)
        except VxautoError as error:
            raise AnsibleParserError(f"invalid vxauto inventory {directory}:\n{error}") from error
        self.inventory.set_variable("all", "ansible_connection", "local")
        # The modules import vxauto: run them with the Python running Ansible (the one that has vxauto).
        self.inventory.set_variable("all", "ansible_python_interpreter", sys.executable)
        self.inventory.set_variable("all", "vxauto_inventory", os.path.abspath(directory))
        if self.get_option("lab"):
            lab = os.path.abspath(os.path.join(os.path.dirname(path), self.get_option("lab")))
            self.inventory.set_variable("all", "vxauto_lab", lab)
        for group in fabric.group_members:
            self.inventory.add_group(group)
        for name, host in fabric.hosts.items():
            self.inventory.add_host(name)
            for group in host.groups:
                self.inventory.add_child(group, name)
            if host.hostname:
                self.inventory.set_variable(name, "ansible_host", host.hostname)
            device = fabric.device(name)
            self.inventory.set_variable(name, "vxauto", {
                "platform": host.platform,
                "role": device.role,
                "asn": device.asn,
                "vtep_ip": device.vtep_ip,
                "vnis": [s.vni for s in device.segments],
            })
