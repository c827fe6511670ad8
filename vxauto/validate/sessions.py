"""How `vxauto validate` reaches devices and hosts: a getter session per device and a shell for probes.

Where the parameters come from (a running lab or the inventory) is decided by `vxauto.devices.access`,
the module deploy uses too, so validate reads what deploy wrote:

- Lab (`--lab TOPOLOGY`): getters over SSH with the lab's key and known_hosts, probes inside the host
  nodes with `Lab.exec_in`.
- Inventory: NAPALM parameters as nornir-napalm builds them, probes over SSH to the hosts' `hostname`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vxauto.devices.access import (
    DriverParams,
    attach_lab,
    inventory_driver_params,
    inventory_missing_files,
    inventory_ssh_targets,
    lab_connection_options,
    lab_driver_params,
)
from vxauto.errors import Problem, VxautoError
from vxauto.model.fabric import Fabric
from vxauto.model.nornir_inventory import build_inventory
from vxauto.validate.convergence import ParamsFor
from vxauto.validate.dataplane import LabShell, Shell, SshShell
from vxauto.validate.expected import ExpectedDevice


@dataclass
class Access:
    shell: Shell
    params_for: ParamsFor

    def close(self) -> None:
        closer = getattr(self.shell, "close", None)
        if callable(closer):
            closer()


def lab_access(topology: Path, fabric: Fabric, needed: Sequence[str]) -> Access:
    """Access through the running lab of `topology`; every needed host must be a node of it."""
    lab = attach_lab(topology)
    missing = [name for name in needed if name not in lab.nodes]
    if missing:
        raise VxautoError([Problem(str(topology), "topology.nodes", f"--lab: inventory host {name} is not a "
                                   f"node of lab {lab.name}", name) for name in missing])
    devices = [name for name in needed if fabric.hosts[name].data.role != "host"]
    options = lab_connection_options(fabric, devices, topology, lab)

    def params_for(device: ExpectedDevice) -> DriverParams:
        return lab_driver_params(options[device.name], device.driver or "")

    return Access(LabShell(lab), params_for)


def inventory_access(fabric: Fabric) -> Access:
    """Access with the inventory's own connection data (a real fabric)."""
    inventory = build_inventory(fabric)
    VxautoError.collect(inventory_missing_files(inventory))

    def params_for(device: ExpectedDevice) -> DriverParams:
        return inventory_driver_params(inventory.hosts[device.name], device.driver)

    return Access(SshShell(inventory_ssh_targets(inventory)), params_for)
