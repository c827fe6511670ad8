"""The plan of a netns lab: every name it will create, decided (and recorded) before anything exists.

One namespace per node (`<lab>-<node>`), a management bridge and one management veth per node with names
that fit Linux's 15-byte limit, a device group of the lab's own, the node and FRR directories. `plan`
returns them as the `LabState` that `up` saves first, so `down` can clean a crashed or killed `up`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from vxauto.lab import netns
from vxauto.lab.kinds import Role
from vxauto.lab.state import LabState, NodeState
from vxauto.lab.topology import Topology


def _short_hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def bridge_name(lab: str) -> str:
    """`vx-<lab>` when it fits the 15-byte interface name limit, else a shortened, hashed form."""
    name = f"vx-{lab}"
    return name if netns.valid_ifname(name) else f"vx-{lab[:6]}-{_short_hash(lab, 5)}"


def mgmt_veth_name(lab: str, node: str) -> str:
    return f"vx{_short_hash(f'{lab}/{node}', 10)}"


def link_group(lab: str) -> int:
    """A device group number of the lab's own (28 hashed bits above the groups people number by hand)."""
    return 0x10000000 | int(_short_hash(lab, 7), 16)


def plan(topology: Topology, fingerprint: str, configs: Path | None) -> LabState:
    lab_dir = topology.lab_dir
    state = LabState(
        name=topology.name, topology=str(topology.file), lab_dir=str(lab_dir), runtime="netns",
        bridge=bridge_name(topology.name), subnet=str(topology.mgmt.subnet),
        gateway=str(topology.mgmt.gateway), link_group=link_group(topology.name),
        fingerprint=fingerprint, configs=str(configs) if configs else None, owner_pid=os.getpid(),
    )
    for name, node in topology.nodes.items():
        namespace = topology.namespace(name)
        frr = node.role is Role.FRR
        state.nodes[name] = NodeState(
            name=name, namespace=namespace, kind=node.kind, role=node.role.value, image=node.image,
            mgmt_ipv4=node.mgmt_ipv4, mgmt_veth=mgmt_veth_name(topology.name, name), node_dir=str(lab_dir / name),
            frr_run_dir=str(netns.FRR_RUN / namespace) if frr else "",
            frr_etc_link=str(netns.FRR_ETC / namespace) if frr else "",
            interfaces=[interface for interface, _ in topology.interfaces_of(name)],
        )
    state.links = [[str(link.a), str(link.b)] for link in topology.links]
    return state
