"""The lab directory: SSH keys, known_hosts, ssh_config, sshd and FRR configs per node, inventories.

Everything a user or a tool needs to reach the nodes is a file here (`<topology dir>/clab-<lab>/`, as with
containerlab); `down` removes the directory only if it carries the lab's MARKER.
"""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

from vxauto.lab.configs import NodeStartup
from vxauto.lab.inventories import InventoryNode, ansible_inventory, nornir_simple_inventory
from vxauto.lab.kinds import Role
from vxauto.lab.netns import LabError
from vxauto.lab.sshkeys import ensure_keypair, known_hosts_text, ssh_config_text, sshd_config_text
from vxauto.lab.state import LabState, NodeState
from vxauto.lab.topology import Topology

MARKER = ".vxauto-lab"
LOGIN_KEY = "id_ed25519"
KNOWN_HOSTS = "known_hosts"
AUTHORIZED_KEYS = "authorized_keys"
SSH_CONFIG = "ssh_config"
NORNIR_INVENTORY = "nornir-simple-inventory.yml"
ANSIBLE_INVENTORY = "ansible-inventory.yml"


def write_lab_dir(topology: Topology, state: LabState, startups: dict[str, NodeStartup]) -> None:
    lab_dir = Path(state.lab_dir)
    lab_dir.mkdir(parents=True, exist_ok=True)
    (lab_dir / MARKER).write_text(json.dumps({"lab": state.name, "topology": state.topology}) + "\n")
    login = ensure_keypair(lab_dir / LOGIN_KEY, f"vxauto-lab-{state.name}")
    (lab_dir / AUTHORIZED_KEYS).write_text(login.public_line() + "\n", encoding="utf-8")
    known: list[tuple[list[str], str]] = []
    for name, node in state.nodes.items():
        node_dir = Path(node.node_dir)
        node_dir.mkdir(parents=True, exist_ok=True)
        host_key = ensure_keypair(node_dir / "ssh_host_ed25519_key", f"root@{name}")
        known.append(([node.mgmt_ipv4, topology.long_name(name), name], host_key.public_key()))
        (node_dir / "sshd_config").write_text(
            sshd_config_text(node.mgmt_ipv4, host_key.private, lab_dir / AUTHORIZED_KEYS, node_dir / "sshd.pid"),
            encoding="utf-8",
        )
        if node.role == Role.FRR:
            _prepare_frr_dirs(node, startups[name])
    (lab_dir / KNOWN_HOSTS).write_text(known_hosts_text(known), encoding="utf-8")
    hosts = [(name, topology.long_name(name), node.mgmt_ipv4) for name, node in state.nodes.items()]
    (lab_dir / SSH_CONFIG).write_text(
        ssh_config_text(hosts, lab_dir / LOGIN_KEY, lab_dir / KNOWN_HOSTS), encoding="utf-8"
    )


def _prepare_frr_dirs(node: NodeState, startup: NodeStartup) -> None:
    """The node's /etc/frr (in the lab directory) and /run/frr (owned by FRR's user)."""
    etc = Path(node.node_dir) / "frr"
    etc.mkdir(exist_ok=True)
    (etc / "frr.conf").write_text(startup.frr_config or "", encoding="utf-8")
    (etc / "vtysh.conf").write_text("service integrated-vtysh-config\n", encoding="utf-8")
    (etc / "daemons.vxauto").write_text("".join(f"{d}=yes\n" for d in startup.daemons), encoding="utf-8")
    _symlink(etc / node.namespace, Path("."))  # `vtysh -N <ns>` inside the node finds the same files
    run = Path(node.frr_run_dir)
    run.mkdir(parents=True, exist_ok=True)
    frr_user = pwd.getpwnam("frr")
    os.chown(run, frr_user.pw_uid, frr_user.pw_gid)
    _symlink(run / node.namespace, Path("."))
    _symlink(Path(node.frr_etc_link), etc)  # root's `vtysh -N <ns>` reads and writes the node's config


def _symlink(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(os.readlink(link)) == target:
            return
        if link.is_symlink():
            link.unlink()
        else:
            raise LabError(f"{link} exists and is not a vxauto symlink")
    link.symlink_to(target)


def write_inventories(topology: Topology, state: LabState) -> None:
    lab_dir = Path(state.lab_dir)
    nodes = [
        InventoryNode(name, topology.long_name(name), node.kind, node.mgmt_ipv4, topology.nodes[name].labels)
        for name, node in state.nodes.items()
    ]
    key, known = lab_dir / LOGIN_KEY, lab_dir / KNOWN_HOSTS
    (lab_dir / NORNIR_INVENTORY).write_text(nornir_simple_inventory(nodes, key, known), encoding="utf-8")
    (lab_dir / ANSIBLE_INVENTORY).write_text(ansible_inventory(nodes, key, known), encoding="utf-8")
