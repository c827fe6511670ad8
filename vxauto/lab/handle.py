"""The lab handle: a running netns lab (`Lab`), its paths, node access and waits, and node health.

`vxauto.lab.api.up` and `attach` return a `Lab`; deploy, validate, Ansible and tests reach nodes through it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vxauto.errors import VxautoError
from vxauto.lab import netns
from vxauto.lab.daemons import frr_dirs, tail
from vxauto.lab.kinds import Role
from vxauto.lab.labdir import ANSIBLE_INVENTORY, KNOWN_HOSTS, LOGIN_KEY, NORNIR_INVENTORY, SSH_CONFIG
from vxauto.lab.netns import LabError
from vxauto.lab.state import LabState, NodeState
from vxauto.lab.teardown import down
from vxauto.lab.topology import Topology

#: Threads for per-node work (namespaces, node starts, BGP reads): nodes are independent of each other.
MAX_WORKERS = 16


@dataclass
class NodeStatus:
    name: str
    kind: str
    role: str
    namespace: str
    mgmt_ipv4: str
    state: str  # running | degraded | missing
    processes: dict[str, bool] = field(default_factory=dict)


#: Where a lab node keeps the NAPALM frr driver's rollback points, under its node directory.
NAPALM_STATE_SUBDIR = "vxauto-deploy"


class Lab:
    """A running netns lab: paths of its SSH material, node access, shell-in."""

    def __init__(self, topology: Topology, state: LabState, warnings: list[str] | None = None) -> None:
        self.topology = topology
        self.state = state
        self.warnings = warnings or []

    # paths
    @property
    def name(self) -> str:
        return self.state.name

    @property
    def lab_dir(self) -> Path:
        return Path(self.state.lab_dir)

    @property
    def key_file(self) -> Path:
        return self.lab_dir / LOGIN_KEY

    @property
    def known_hosts(self) -> Path:
        return self.lab_dir / KNOWN_HOSTS

    @property
    def nornir_inventory(self) -> Path:
        return self.lab_dir / NORNIR_INVENTORY

    @property
    def ansible_inventory(self) -> Path:
        return self.lab_dir / ANSIBLE_INVENTORY

    @property
    def ssh_config(self) -> Path:
        return self.lab_dir / SSH_CONFIG

    @property
    def nodes(self) -> dict[str, NodeState]:
        return self.state.nodes

    def node(self, name: str) -> NodeState:
        if name not in self.state.nodes:
            raise VxautoError.single(str(self.topology.file), "topology.nodes", "unknown node", name)
        return self.state.nodes[name]

    def namespace(self, node: str) -> str:
        return self.node(node).namespace

    # access
    def ssh_options(self, node: str) -> dict[str, object]:
        """How to reach a node over SSH; host keys are in `known_hosts` (check them, never skip)."""
        state = self.node(node)
        return {
            "host": state.mgmt_ipv4,
            "port": 22,
            "username": "root",
            "key_file": str(self.key_file),
            "known_hosts": str(self.known_hosts),
            "node": node,
            "namespace": state.namespace,
        }

    def napalm_params(self, node: str) -> dict[str, Any]:
        """How vxauto's NAPALM `frr` and `pyvtep` drivers reach a node (hostname, username, port,
        optional_args): key login, host key checked against the lab's known_hosts, rollback points in the
        node's own directory (lab nodes share one filesystem), vtysh in the node's FRR pathspace (the
        namespace name), a pyvtep node's API socket."""
        ssh = self.ssh_options(node)
        state = self.node(node)
        optional: dict[str, Any] = {"key_file": ssh["key_file"], "known_hosts": ssh["known_hosts"],
                                    "state_dir": str(Path(state.node_dir) / NAPALM_STATE_SUBDIR)}
        if state.role == "frr":
            optional["vtysh_pathspace"] = ssh["namespace"]
        elif state.role == Role.PYVTEP:
            # the pyvtep driver talks to the API socket pyvtep was started with (lab nodes share /run/pyvtep)
            optional["api_socket"] = next((path for path in state.runtime_files if path.endswith(".sock")), None)
        else:
            optional["frr"] = False  # a plain host shares the machine's vtysh binary but runs no FRR
        return {"hostname": state.mgmt_ipv4, "username": ssh["username"], "port": ssh["port"],
                "optional_args": optional}

    def netmiko_params(self, node: str, device_type: str = "linux") -> dict[str, object]:
        """Arguments for `netmiko.ConnectHandler`: key login, host key checked against the lab's known_hosts."""
        options = self.ssh_options(node)
        return {
            "device_type": device_type,
            "host": options["host"],
            "username": options["username"],
            "use_keys": True,
            "key_file": options["key_file"],
            "allow_agent": False,
            "ssh_strict": True,
            "system_host_keys": False,
            "alt_host_keys": True,
            "alt_key_file": options["known_hosts"],
        }

    def node_argv(self, node: str, argv: list[str]) -> list[str]:
        state = self.node(node)
        return netns.node_argv(state.namespace, node, argv, frr_dirs(state))

    def exec_in(
        self, node: str, command: str | list[str], check: bool = False, timeout: float | None = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a node (a string goes through `sh -c`); returns the completed process."""
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        env = {**os.environ, **self.topology.nodes[node].env} if node in self.topology.nodes else None
        return subprocess.run(
            self.node_argv(node, argv), capture_output=True, text=True, check=check, timeout=timeout, env=env
        )

    def vtysh(self, node: str, command: str, timeout: float = 30) -> str:
        result = self.exec_in(node, ["vtysh", "-c", command], timeout=timeout)
        if result.returncode != 0:
            raise LabError(f"{node}: vtysh -c {command!r} failed: {(result.stderr or result.stdout).strip()}")
        return result.stdout

    def bgp_peers(self, node: str) -> dict[str, str]:
        """`afi/peer -> state` from `show bgp summary json` of one FRR node."""
        state = self.node(node)
        result = subprocess.run(
            ["vtysh", "-N", state.namespace, "-c", "show bgp summary json"],
            capture_output=True, text=True, timeout=30, check=False,
        )
        try:
            summary = json.loads(result.stdout or "{}")
        except ValueError:
            return {}
        peers: dict[str, str] = {}
        for afi, data in summary.items():
            if isinstance(data, dict):
                for peer, info in (data.get("peers") or {}).items():
                    peers[f"{afi}/{peer}"] = str(info.get("state", "?"))
        return peers

    def wait_bgp(self, timeout: float = 60.0) -> dict[str, dict[str, str]]:
        """Wait until every BGP session of every FRR node is Established; raises `LabError` on timeout."""
        routers = [name for name, node in self.nodes.items() if node.role == Role.FRR]
        deadline = time.monotonic() + timeout
        while True:
            with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(routers) or 1)) as pool:
                peers = dict(zip(routers, pool.map(self.bgp_peers, routers), strict=True))
            down = {f"{node} {peer}: {state}" for node, table in peers.items()
                    for peer, state in table.items() if state != "Established"}
            if not down:
                return peers
            if time.monotonic() > deadline:
                raise LabError("BGP not established: " + "; ".join(sorted(down)[:10]))
            time.sleep(0.2)

    def wait_reachable(self, node: str, address: str, timeout: float = 60.0) -> float:
        """Wait until `node` gets an answer from `address` (the overlay has converged between them);
        returns the seconds it took, raises `LabError` naming both ends at the deadline."""
        started = time.monotonic()
        family = "-6" if ":" in address else "-4"
        while True:
            answered = self.exec_in(node, ["ping", family, "-n", "-c", "1", "-W", "1", address], timeout=10)
            if answered.returncode == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise LabError(f"{node} gets no answer from {address} after {timeout:g} s: "
                               f"{tail(answered.stdout + answered.stderr, 2)}")

    def status(self) -> list[NodeStatus]:
        return node_statuses(self.state)

    def down(self) -> list[str]:
        return down(self.topology)


def node_statuses(state: LabState) -> list[NodeStatus]:
    result = []
    for name, node in state.nodes.items():
        exists = netns.netns_exists(node.namespace)
        processes = {process: netns.process_alive(pid) for process, pid in node.pids.items()}
        if not exists:
            condition = "missing"
        elif processes and all(processes.values()):
            condition = "running"
        else:
            condition = "degraded"
        result.append(NodeStatus(name, node.kind, node.role, node.namespace, node.mgmt_ipv4, condition, processes))
    return result


def lab_healthy(state: LabState) -> bool:
    return state.phase == "running" and all(s.state == "running" for s in node_statuses(state))
