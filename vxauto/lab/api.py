"""Python API of the lab, for deploy, validate, Ansible and test code.

    from vxauto.lab import api
    lab = api.up("containerlab/evpn-frr.clab.yml", configs="out/evpn-frr")
    lab.wait_bgp()
    with ConnectHandler(**lab.netmiko_params("leaf1")) as conn: ...
    lab.ssh_options("leaf1")   # host, port, username, key_file, known_hosts
    lab.napalm_params("leaf1") # hostname, username, port, optional_args of the NAPALM frr driver
    lab.exec_in("h1", "ping -c1 10.10.10.2")
    api.down("containerlab/evpn-frr.clab.yml")

These functions drive the netns runtime (the one that runs here and in CI). The `vxauto lab` CLI also
hands over to the real containerlab when Docker is there; see vxauto.lab.containerlab.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from vxauto.lab import build, teardown
from vxauto.lab.build import Progress
from vxauto.lab.handle import NAPALM_STATE_SUBDIR, Lab, NodeStatus, lab_healthy, node_statuses
from vxauto.lab.netns import LabError
from vxauto.lab.state import LabState
from vxauto.lab.topology import Topology, load_topology

__all__ = [
    "NAPALM_STATE_SUBDIR", "Lab", "LabError", "LabStatus", "attach", "down", "down_all", "exec_in", "load", "status",
    "up",
]


def load(topology: Topology | Path | str) -> Topology:
    return topology if isinstance(topology, Topology) else load_topology(topology)


def up(
    topology: Topology | Path | str,
    configs: Path | str | None = None,
    reconfigure: bool = False,
    progress: Progress | None = None,
) -> Lab:
    """Bring a lab up (or find it already running, unchanged); returns the running lab."""
    return build.up(
        load(topology), Path(configs) if configs is not None else None, reconfigure, progress or (lambda _: None)
    )


def down(topology: Topology | Path | str) -> list[str]:
    """Remove a lab; returns what could not be removed (empty when everything is gone)."""
    return teardown.down(load(topology))


def down_all() -> dict[str, list[str]]:
    """Remove every lab on record (lab name -> leftovers)."""
    return teardown.down_all()


def attach(topology: Topology | Path | str) -> Lab:
    """The running lab of a topology (brought up earlier, e.g. by `vxauto lab up`)."""
    loaded = load(topology)
    state = LabState.load(loaded.name)
    if state is None or state.topology != str(loaded.file):
        raise LabError(f"lab {loaded.name} is not up (from {loaded.file})")
    return Lab(loaded, state)


def exec_in(
    topology: Topology | Path | str, node: str, command: str | list[str], timeout: float | None = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command inside a node of a running lab (a string goes through `sh -c`)."""
    return attach(topology).exec_in(node, command, timeout=timeout)


@dataclass
class LabStatus:
    name: str
    state: str  # running | degraded | creating | failed | down
    nodes: list[NodeStatus]
    lab_dir: str | None


def status(topology: Topology | Path | str) -> LabStatus:
    loaded = load(topology)
    state = LabState.load(loaded.name)
    if state is None or state.topology != str(loaded.file):
        return LabStatus(loaded.name, "down", [], None)
    nodes = node_statuses(state)
    healthy = "running" if lab_healthy(state) else "degraded"
    condition = healthy if state.phase == "running" else state.phase
    return LabStatus(loaded.name, condition, nodes, state.lab_dir)
