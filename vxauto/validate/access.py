"""How `vxauto validate` reaches devices and hosts: through a running lab, or through the inventory.

- Lab (`--lab TOPOLOGY`): getters over SSH with the lab's key and known_hosts (the options deploy uses),
  probes inside the host nodes with `Lab.exec_in`.
- Inventory: NAPALM parameters as nornir-napalm builds them (host fields plus
  `connection_options: napalm: {extras: {optional_args: ...}}`), probes over SSH to the hosts'
  `hostname` (system known_hosts, or `connection_options: ssh: {extras: {key_file, known_hosts}}`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vxauto.errors import Problem, VxautoError
from vxauto.model.fabric import Fabric
from vxauto.model.nornir_inventory import build_inventory, missing_connection_files
from vxauto.validate.convergence import DriverParams, ParamsFor
from vxauto.validate.dataplane import LabShell, Shell, SshShell, SshTarget
from vxauto.validate.expected import ExpectedDevice


@dataclass
class Access:
    shell: Shell
    params_for: ParamsFor

    def close(self) -> None:
        closer = getattr(self.shell, "close", None)
        if callable(closer):
            closer()


# --------------------------------------------------------------------------- lab


def lab_access(topology: Path, fabric: Fabric, needed: Sequence[str]) -> Access:
    """Access through the running lab of `topology`; every needed host must be a node of it.

    NAPALM options are the ones `vxauto deploy --lab` uses (`vxauto.deploy.run.lab_connection_options`:
    the lab's key and known_hosts, the node's FRR pathspace), so validate reads what deploy wrote.
    """
    from vxauto.deploy.run import lab_connection_options
    from vxauto.lab import api
    from vxauto.lab.netns import LabError

    try:
        lab = api.attach(topology)
    except LabError as error:
        raise VxautoError.single(str(topology), "", f"--lab: {error}") from None
    missing = [name for name in needed if name not in lab.nodes]
    if missing:
        raise VxautoError([Problem(str(topology), "topology.nodes", f"--lab: inventory host {name} is not a "
                                   f"node of lab {lab.name}", name) for name in missing])
    devices = [name for name in needed if fabric.hosts[name].data.role != "host"]
    options = lab_connection_options(fabric, devices, topology)

    def params_for(device: ExpectedDevice) -> DriverParams:
        chosen = options[device.name]
        optional_args: dict[str, Any] = dict(chosen.get("optional_args") or {})
        optional_args.setdefault("port", chosen.get("port") or 22)
        return DriverParams(
            driver=device.driver or "", hostname=str(chosen["hostname"]), username=str(chosen["username"]),
            password="", optional_args=optional_args,
        )

    return Access(LabShell(lab), params_for)


# --------------------------------------------------------------------------- inventory


def inventory_access(fabric: Fabric) -> Access:
    """Access with the inventory's own connection data (a real fabric)."""
    inventory = build_inventory(fabric)
    VxautoError.collect(missing_files(inventory))

    def params_for(device: ExpectedDevice) -> DriverParams:
        host = inventory.hosts[device.name]
        options = host.get_connection_parameters("napalm")
        extras: dict[str, Any] = dict(options.extras or {})
        optional_args = dict(extras.pop("optional_args", None) or {})
        if options.port and "port" not in optional_args:
            optional_args["port"] = options.port
        if not options.hostname:
            raise VxautoError.single("hosts.yaml", f"{device.name}.hostname", "no hostname to connect to")
        return DriverParams(
            driver=str(options.platform if options.platform and options.platform != host.platform
                       else device.driver),
            hostname=options.hostname, username=options.username, password=options.password or "",
            optional_args=optional_args, timeout=int(extras.pop("timeout", 30)),
        )

    targets: dict[str, SshTarget] = {}
    for name, host in inventory.hosts.items():
        options = host.get_connection_parameters("ssh")
        extras = options.extras or {}
        targets[name] = SshTarget(
            host=options.hostname or name, port=options.port or 22, username=options.username,
            password=options.password, key_file=extras.get("key_file"), known_hosts=extras.get("known_hosts"),
        )
    return Access(SshShell(targets), params_for)



def missing_files(inventory: Any) -> list[Problem]:
    """Key and known_hosts files that the inventory's NAPALM and SSH connection options name but that do
    not exist (the same check deploy makes)."""
    problems = []
    for name, host in inventory.hosts.items():
        napalm_extras = host.get_connection_parameters("napalm").extras or {}
        problems += missing_connection_files(f"{name}.connection_options.napalm.extras.optional_args",
                                             napalm_extras.get("optional_args") or {})
        problems += missing_connection_files(f"{name}.connection_options.ssh.extras",
                                             host.get_connection_parameters("ssh").extras or {})
    return problems
