"""Helpers of the lab tests: rendering with the real CLI, checks that a lab left nothing behind.

Lab names used here: evpn-frr, static-linux (the real topologies) and vxt-* (small generated ones);
management subnets 172.20.20.0/24, 172.20.21.0/24 and 172.20.3x.0/24. Every lab a test brings up is
removed in a `finally`, also when the test fails.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from vxauto.cli.main import app
from vxauto.lab import api, netns
from vxauto.lab.state import LabState, state_path
from vxauto.lab.topology import load_topology

CONTAINERLAB = REPO / "containerlab"


def lab_machine_missing() -> str | None:
    """Why this machine cannot run the netns lab (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for path in (netns.FRR_BIN / "zebra", netns.SSHD, Path("/usr/bin/vtysh")):
        if not path.exists():
            return f"needs {path}"
    return None


needs_lab_machine = pytest.mark.skipif(lab_machine_missing() is not None, reason=lab_machine_missing() or "")


def cli(*arguments: str) -> tuple[int, str]:
    """Run `vxauto ...` in-process; returns (exit code, stdout+stderr)."""
    result = CliRunner().invoke(app, list(arguments))
    return result.exit_code, result.output


def render(inventory: Path, out: Path) -> Path:
    """`vxauto render -i INVENTORY --out OUT` through the real CLI."""
    code, output = cli("render", "-i", str(inventory), "--out", str(out))
    assert code == 0, output
    return out


@dataclass
class Footprint:
    """Everything of a lab that must be gone after `down`."""

    namespaces: list[str]
    root_links: list[str]
    pids: list[int]
    paths: list[Path] = field(default_factory=list)


def footprint(lab: api.Lab) -> Footprint:
    """Take stock of a running lab: its namespaces, root links, every process in its namespaces, its files."""
    namespaces = [node.namespace for node in lab.nodes.values()]
    identities = [identity for identity in map(netns.netns_identity, namespaces) if identity]
    pids = netns.pids_in_namespaces(identities)
    paths = [lab.lab_dir, state_path(lab.name)]
    for node in lab.nodes.values():
        if node.frr_run_dir:
            paths += [Path(node.frr_run_dir), Path(node.frr_etc_link)]
    return Footprint(namespaces, [lab.state.bridge, *(n.mgmt_veth for n in lab.nodes.values())], pids, paths)


def assert_gone(before: Footprint) -> None:
    """No namespace, root link, live process or file of the lab remains."""
    left = [f"namespace {ns}" for ns in before.namespaces if netns.netns_exists(ns)]
    left += [f"link {name}" for name in before.root_links if netns.root_link_exists(name)]
    deadline = time.monotonic() + 2
    alive = [pid for pid in before.pids if netns.process_alive(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if netns.process_alive(pid)]
    left += [f"process {pid}" for pid in alive]
    left += [str(path) for path in before.paths if path.exists() or path.is_symlink()]
    assert not left, f"left behind: {left}"


def reaches(lab: api.Lab, node: str, address: str, timeout: float = 30) -> bool:
    """Whether `node` reaches `address` within `timeout`: the lab's own wait for the overlay to converge
    (`Lab.wait_reachable`), not a retry loop of the test's."""
    try:
        lab.wait_reachable(node, address, timeout)
    except api.LabError:
        return False
    return True


def own_up(topology: Path, configs: Path | None = None) -> api.Lab:
    """`api.up` that insists on a lab of its own: not one someone else already runs from the same file."""
    lab = api.up(topology, configs)
    if lab.state.owner_pid != os.getpid():
        pytest.fail(f"lab {lab.name} is already up from {topology} (process {lab.state.owner_pid}); lab names "
                    "are global on a machine: run this test when that lab is down")
    return lab


@contextmanager
def rendered_lab(inventory: Path, topology: Path, work: Path) -> Iterator[api.Lab]:
    """The lab of `topology` up with the configs `vxauto render` writes for `inventory`; down in `finally`."""
    configs = render(inventory, work / "configs")
    try:
        yield own_up(topology, configs)
    finally:
        force_down(topology)


def force_down(topology: Path, owner: int | None = None) -> None:
    """Teardown for `finally` blocks, whatever state the lab is in, but only of a lab this test process (or
    `owner`) brought up: on a shared machine someone else may run a lab of the same name and file."""
    try:
        loaded = load_topology(topology)
    except Exception:  # the test may have broken the file on purpose
        return
    state = LabState.load(loaded.name)
    if state is not None and state.topology == str(loaded.file) and state.owner_pid in (os.getpid(), owner):
        api.down(loaded)
