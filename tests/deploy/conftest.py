"""Shared helpers of the deploy tests: the demo fabric as the lab runs it, lab up/down, drivers.

Lab names: evpn-frr and static-linux only (management subnets 172.20.20.0/24, 172.20.21.0/24), through
vxauto.lab.api, from containerlab/*.clab.yml; each test module works on its own copy of the inventory
so it can change the intent, and waits while someone else runs a lab of the same name.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEMO_INVENTORY, REPO
from vxauto.devices.access import lab_optional_args
from vxauto.devices.napalm_frr.driver import FrrDriver
from vxauto.lab import api, netns
from vxauto.lab.state import LabState
from vxauto.lab.topology import load_topology

FIXTURES = REPO / "tests" / "fixtures" / "deploy" / "lab-evpn-frr"
TOPOLOGY = REPO / "containerlab" / "evpn-frr.clab.yml"
STATIC_TOPOLOGY = REPO / "containerlab" / "static-linux.clab.yml"
STATIC_INVENTORY = REPO / "containerlab" / "static-linux" / "inventory"
WAIT_FOR_OTHERS = 900.0  # another helper's lab of the same name: wait this long for it to go


def fixture_text(node: str, name: str) -> str:
    return (FIXTURES / node / name).read_text(encoding="utf-8")


@dataclass
class Fabric:
    """An inventory directory (a private copy) and the containerlab topology that runs it."""

    inventory: Path
    topology: Path


def private_fabric(work: Path, inventory: Path = DEMO_INVENTORY, topology: Path = TOPOLOGY) -> Fabric:
    copy = work / "inventory"
    shutil.copytree(inventory, copy)
    return Fabric(copy, topology)


@dataclass
class RunningLab:
    fabric: Fabric
    lab: api.Lab

    def driver(self, node: str, **extra: object) -> FrrDriver:
        """The NAPALM driver for a node, set up as `vxauto deploy --lab` sets it up."""
        ssh = self.lab.ssh_options(node)
        optional = {**lab_optional_args(self.lab, node), **extra}
        return FrrDriver(str(ssh["host"]), "root", "", optional_args=optional)


def sshd_pids(lab: RunningLab, node: str) -> list[int]:
    """Every sshd process of a node: the listener and the sessions."""
    identity = netns.netns_identity(lab.lab.namespace(node))
    pids = netns.pids_in_namespaces([identity] if identity else [])
    return [pid for pid in pids if _comm(pid) == "sshd"]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def kill_sshd(lab: RunningLab, node: str) -> None:
    for pid in sshd_pids(lab, node):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def restart_sshd(lab: RunningLab, node: str) -> None:
    """Start the node's sshd again the way the lab started it."""
    directory = lab.lab.node(node).node_dir
    lab.lab.exec_in(node, f"/usr/sbin/sshd -f {directory}/sshd_config -E {directory}/sshd.log", check=True)
    assert netns.wait_for_ssh(lab.lab.node(node).mgmt_ipv4, 20)


def lab_machine_missing() -> str | None:
    """Why this machine cannot run the netns lab (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for path in (netns.FRR_BIN / "zebra", netns.SSHD, Path("/usr/bin/vtysh"), Path("/usr/lib/frr/frr-reload.py")):
        if not path.exists():
            return f"needs {path}"
    return None


def force_down(topology: Path) -> None:
    """Teardown for `finally`: remove the lab if it is the one this topology file brought up."""
    loaded = load_topology(topology)
    state = LabState.load(loaded.name)
    if state is not None and state.topology == str(loaded.file):
        api.down(loaded)


def _others_lab_up(name: str) -> bool:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return any(line.split()[0].startswith(f"{name}-") for line in listed.splitlines() if line.split())


def _lab(fabric: Fabric) -> Iterator[RunningLab]:
    """The fabric's lab, brought up WITHOUT configs (deploy configures it), always taken down again."""
    missing = lab_machine_missing()
    if missing:
        pytest.skip(missing)
    name = load_topology(fabric.topology).name
    deadline = time.monotonic() + WAIT_FOR_OTHERS
    while _others_lab_up(name):  # never share the name with a lab someone else is running
        if time.monotonic() > deadline:
            pytest.fail(f"lab {name} is up (someone else's) for more than {WAIT_FOR_OTHERS:.0f}s")
        time.sleep(5)
    try:
        lab = api.up(fabric.topology)
        yield RunningLab(fabric, lab)
    finally:
        force_down(fabric.topology)


@pytest.fixture(scope="module")
def running_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """evpn-frr with a private copy of inventory/."""
    yield from _lab(private_fabric(tmp_path_factory.mktemp("deploy-lab")))


@pytest.fixture(scope="module")
def static_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """static-linux with a private copy of its inventory."""
    yield from _lab(private_fabric(tmp_path_factory.mktemp("static-lab"), STATIC_INVENTORY, STATIC_TOPOLOGY))


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Block until process `pid` has exited (its pidfd turns readable), at most `timeout` seconds.

    The kernel's own signal of the exit, not a poll; True when it exited (or was already gone)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def live_processes(marker: bytes) -> list[int]:
    """Processes (not zombies) whose command line contains `marker`, e.g. a node's timer.sh path."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline and entry.name != str(os.getpid()):  # a zombie's cmdline is empty
            found.append(int(entry.name))
    return found


def timer_pid(state_dir: str) -> int:
    """The commit-confirm timer's process (the group leader setsid made it), as the device recorded it."""
    return int((Path(state_dir) / "pending" / "timer.pgid").read_text().strip())
