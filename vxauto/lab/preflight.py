"""Checks before a netns lab creates anything: what the runtime can build, this machine, the subnet.

A topology the netns runtime cannot build is bad input (`VxautoError`, every problem at once, with file and
line); a machine that lacks root or a tool is a `LabError`.
"""

from __future__ import annotations

import ipaddress
import os
import shutil

from vxauto.errors import Problem, VxautoError
from vxauto.lab import netns
from vxauto.lab.kinds import Role, is_native, native_kinds_text
from vxauto.lab.netns import LabError
from vxauto.lab.topology import SPECIAL_ENDPOINT_NODES, Topology
from vxauto.model.yamlsource import format_path


def check_runnable(topology: Topology) -> None:
    """Everything the netns runtime cannot build is bad input: report it all, create nothing."""
    problems: list[Problem] = []
    source = topology.source

    def add(path: tuple, message: str, value: object) -> None:
        problems.append(Problem(source.file, format_path(path), message, value, source.line_of(path)))

    for node in topology.nodes.values():
        if not is_native(node.kind):
            add((*node.path, "kind"),
                f"kind {node.kind} needs its vendor image: run this topology with Docker and containerlab "
                f"(containerlab deploy -t {topology.file.name}); the netns runtime runs natively: "
                f"{native_kinds_text()}", node.kind)
    for link in topology.links:
        for position, end in enumerate((link.a, link.b)):
            path = ("topology", "links", link.index, "endpoints", position)
            if end.node in SPECIAL_ENDPOINT_NODES:
                add(path, f"{end.node}: endpoints would connect the lab to this machine's own network; the "
                    "netns runtime builds node-to-node links only", str(end))
            elif not netns.valid_ifname(end.interface):
                add(path, "not a Linux interface name (1-15 characters, no '/', ':' or spaces)", str(end))
    VxautoError.collect(problems)


def check_system(topology: Topology) -> None:
    """The machine side: root, iproute2, sshd, FRR. Not the user's input, so a `LabError`."""
    if os.geteuid() != 0:
        raise LabError("the netns runtime needs root (network namespaces, veths, a bridge)")
    needed = [("ip", "iproute2"), ("unshare", "util-linux"), ("sysctl", "procps")]
    missing = [f"{tool} ({package})" for tool, package in needed if shutil.which(tool) is None]
    if not netns.SSHD.exists():
        missing.append(f"{netns.SSHD} (openssh-server)")
    if any(node.role is Role.FRR for node in topology.nodes.values()):
        if not (netns.FRR_BIN / "zebra").exists():
            missing.append(f"{netns.FRR_BIN}/zebra (frr)")
        if shutil.which("vtysh") is None:
            missing.append("vtysh (frr)")
    if missing:
        raise LabError("missing on this machine: " + ", ".join(missing))


def check_mgmt_subnet(topology: Topology, own_bridge: str) -> None:
    """The management subnet must be free on this machine (another lab, a real network)."""
    subnet = topology.mgmt.subnet
    clashes = sorted(
        {f"{network} on {device}" for network, device in netns.root_networks()
         if device != own_bridge and ipaddress.ip_network(network, strict=False).overlaps(subnet)}
    )
    if clashes:
        path = ("mgmt", "ipv4-subnet")
        raise VxautoError([Problem(
            topology.source.file, format_path(path),
            f"overlaps networks already in use on this machine: {', '.join(clashes)}; choose another subnet",
            str(subnet), topology.source.line_of(path),
        )])
