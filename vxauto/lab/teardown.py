"""`down` for the netns runtime: remove everything a lab created, from its record and/or its topology.

Only what is on record as the lab's (or implied by its topology and marked as vxauto's) is touched; what
could not be removed is returned, named, so the caller can say so.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from vxauto.lab import netns
from vxauto.lab.labdir import MARKER
from vxauto.lab.netns import LabError
from vxauto.lab.plan import plan
from vxauto.lab.state import LAB_DIR_COPY, LabState, lab_lock, recorded_labs
from vxauto.lab.topology import Topology


def teardown(state: LabState | None, topology: Topology | None) -> list[str]:
    """Remove everything a lab created, from its record and/or its topology; returns what could not go."""
    names = _teardown_plan(state, topology)
    leftovers: list[str] = []
    for _attempt in range(3):  # a killed `up` may have children finishing their last step meanwhile
        _kill_lab_processes(names)
        # The management veths go as one device group: deleting veths one by one costs a kernel
        # synchronisation each (seconds for a large lab). Data links die with their namespaces.
        # The bridge goes before the namespaces: the kernel tears namespaces down in the background holding
        # the rtnl lock, which would make any later link operation wait for all of them.
        netns.delete_link_group(names.link_group, names.root_links)
        netns.delete_root_links([link for link in [*names.root_links, names.bridge] if link])
        for namespace in names.namespaces:
            netns.remove_netns(namespace)
        netns.wait_links_gone(names.root_links, timeout=5.0)
        _remove_paths(names)
        leftovers = _leftovers(names)
        if not leftovers:
            break
        time.sleep(0.2)
    if state is not None and not leftovers:
        state.forget()
    return leftovers


@dataclass
class _Names:
    namespaces: list[str] = field(default_factory=list)
    identities: set[tuple[int, int]] = field(default_factory=set)
    inodes: set[int] = field(default_factory=set)
    root_links: list[str] = field(default_factory=list)
    bridge: str = ""
    link_group: int = 0
    run_dirs: list[Path] = field(default_factory=list)
    etc_links: list[Path] = field(default_factory=list)
    sockets: list[Path] = field(default_factory=list)
    lab_dir: Path | None = None


def _teardown_plan(state: LabState | None, topology: Topology | None) -> _Names:
    names = _Names()
    if state is None:
        # Nothing on record: `up` records before it creates, so no namespace or link can be ours. Only
        # files that outlive a reboot (the lab directory, /etc/frr links into it) are worth a look.
        if topology is not None:
            planned = plan(topology, "", None)
            names.lab_dir = Path(planned.lab_dir)
            names.etc_links = [Path(n.frr_etc_link) for n in planned.nodes.values() if n.frr_etc_link]
        return names
    names.bridge = state.bridge
    names.link_group = state.link_group
    names.lab_dir = Path(state.lab_dir)
    for node in state.nodes.values():
        names.namespaces.append(node.namespace)
        names.root_links.append(node.mgmt_veth)
        if node.netns_inode:
            names.inodes.add(node.netns_inode)
        if node.frr_run_dir:
            names.run_dirs.append(Path(node.frr_run_dir))
        if node.frr_etc_link:
            names.etc_links.append(Path(node.frr_etc_link))
        names.sockets += [Path(path) for path in node.runtime_files]
    return names


def _kill_lab_processes(names: _Names) -> None:
    identities = {identity for identity in map(netns.netns_identity, names.namespaces) if identity}
    if not identities and not names.inodes:
        return
    nsfs_devices = {device for device, _ in identities} or {_nsfs_device()}
    identities |= {(device, inode) for device in nsfs_devices for inode in names.inodes}
    pids = netns.pids_in_namespaces(identities)
    stuck = netns.kill_processes(pids)
    if stuck:
        raise LabError(f"processes would not die: {stuck}")


def _nsfs_device() -> int:
    """The device number of nsfs (every namespace inode lives on it), read from our own namespace."""
    return os.stat("/proc/self/ns/net").st_dev


def _remove_paths(names: _Names) -> None:
    for run_dir in names.run_dirs:
        shutil.rmtree(run_dir, ignore_errors=True)
    for path in _our_sockets(names):
        path.unlink(missing_ok=True)
    for link in names.etc_links:
        if link.is_symlink() and names.lab_dir is not None and str(names.lab_dir) in os.readlink(link):
            link.unlink()
    if names.lab_dir is not None and (names.lab_dir / MARKER).exists():
        shutil.rmtree(names.lab_dir, ignore_errors=True)


def _our_sockets(names: _Names) -> list[Path]:
    """The recorded daemon sockets still there (only sockets: a path reused for a file is not ours)."""
    return [path for path in names.sockets if path.is_socket()]


def _leftovers(names: _Names) -> list[str]:
    found = [f"namespace {ns}" for ns in names.namespaces if netns.netns_exists(ns)]
    found += [f"link {link}" for link in [*names.root_links, names.bridge] if link and netns.root_link_exists(link)]
    found += [str(path) for path in names.run_dirs if path.exists()]
    found += [str(path) for path in _our_sockets(names)]
    found += [str(path) for path in names.etc_links
              if path.is_symlink() and names.lab_dir is not None and str(names.lab_dir) in os.readlink(path)]
    if names.lab_dir is not None and (names.lab_dir / MARKER).exists():
        found.append(str(names.lab_dir))
    return found


def down(topology: Topology) -> list[str]:
    """Remove a lab (recorded state plus the names its topology implies); returns leftovers."""
    with lab_lock(topology.name):
        state = LabState.load(topology.name)
        if state is not None and state.topology != str(topology.file):
            raise LabError(f"lab {topology.name} was brought up from {state.topology}, not {topology.file}")
        if state is None:  # e.g. another VXAUTO_LAB_REGISTRY: the copy in the lab directory is a record too
            copy = LabState.load_file(topology.lab_dir / LAB_DIR_COPY)
            state = copy if copy is not None and copy.topology == str(topology.file) else None
        return teardown(state, topology)


def down_by_name(name: str) -> list[str] | None:
    """Remove a recorded lab by its name (its topology file may be gone); None if there is no such lab."""
    with lab_lock(name):
        state = LabState.load(name)
        return None if state is None else teardown(state, None)


def down_all() -> dict[str, list[str]]:
    """Remove every lab on record; lab name -> leftovers."""
    results: dict[str, list[str]] = {}
    for name in recorded_labs():
        with lab_lock(name):
            state = LabState.load(name)
            if state is not None:
                results[name] = teardown(state, None)
    return results
