"""The lab fabrics and the faults the validate tests inject into them, one at a time.

Shared by the live tests (tests/validate/test_validate_lab.py) and the capture script
(tests/validate/lab_capture.py), so the recorded fixtures come from exactly the faults the live test makes.

Labs: `evpn-frr` (the demo fabric: namespaces evpn-frr-*, management 172.20.20.0/24) and `static-linux`
(static-linux-*, 172.20.21.0/24), each always from a topology file copied to a private directory, so
`api.up` can never adopt somebody else's running lab of the same name; while anybody's lab of that name
is up, we wait. An inventory with 802.1Q trunks runs as its access-port variant on a kernel without VLAN
support (tests/lab/variants.py); the faults do not depend on which.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import DEMO_INVENTORY, REPO
from tests.lab.variants import vlan_free_variant
from vxauto.cli.main import app
from vxauto.lab import api, netns
from vxauto.lab.state import LabState
from vxauto.lab.topology import load_topology
from vxauto.model import load_fabric
from vxauto.validate.checks import Check
from vxauto.validate.convergence import DEFAULT_WAIT_S, ValidationRun, run_validation
from vxauto.validate.expected import expected_state
from vxauto.validate.sessions import lab_access

TOPOLOGY = REPO / "containerlab" / "evpn-frr.clab.yml"
STATIC_INVENTORY = REPO / "containerlab" / "static-linux" / "inventory"
STATIC_TOPOLOGY = REPO / "containerlab" / "static-linux.clab.yml"
WAIT_FOR_OTHERS_S = 1800.0
BGP_TIMEOUT_S = 90.0
#: Deadline of a validation with a fault in place: it cannot converge; a few rounds let the checks that
#: the fault does not concern settle, so every remaining failure must be the fault's.
FAULT_WAIT_S = 8.0


def lab_machine_missing() -> str | None:
    """Why this machine cannot run the netns lab with FRR (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for path in (netns.FRR_BIN / "zebra", netns.FRR_BIN / "bgpd", netns.SSHD, Path("/usr/bin/vtysh")):
        if not path.exists():
            return f"needs {path}"
    return None


def others_lab_up(name: str) -> bool:
    """Whether a lab of this name (anybody's) has namespaces on this machine."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return any(line.split()[0].startswith(f"{name}-") for line in listed.splitlines() if line.split())


@dataclass
class DemoLab:
    lab: api.Lab
    topology: Path
    inventory: Path
    configs: Path
    vlan_free: bool

    def sh(self, node: str, command: str) -> str:
        result = self.lab.exec_in(node, command)
        if result.returncode != 0:
            raise AssertionError(f"{node}: {command!r} failed: {(result.stderr or result.stdout).strip()}")
        return result.stdout

    def rerun_scripts(self, node: str) -> None:
        """Re-apply a node's rendered kernel configuration (the scripts are idempotent)."""
        for script in sorted((self.configs / node).glob("*.sh")):
            self.sh(node, f"sh {script}")


def _render(inventory: Path, out: Path) -> Path:
    result = CliRunner().invoke(app, ["render", "-i", str(inventory), "--out", str(out)])
    if result.exit_code != 0:
        raise AssertionError(f"vxauto render failed: {result.output}")
    return out


def _force_down(topology: Path) -> None:
    loaded = load_topology(topology)
    state = LabState.load(loaded.name)
    if state is not None and state.topology == str(loaded.file):
        api.down(loaded)


def wait_for_others(name: str, limit: float = WAIT_FOR_OTHERS_S) -> None:
    deadline = time.monotonic() + limit
    while others_lab_up(name):
        if time.monotonic() > deadline:
            raise TimeoutError(f"another {name} lab is still up after {limit:.0f} s")
        time.sleep(5)


def demo_lab(work: Path) -> AbstractContextManager[DemoLab]:
    """The demo fabric (inventory/ on evpn-frr)."""
    return running_lab(work, DEMO_INVENTORY, TOPOLOGY)


def static_lab(work: Path) -> AbstractContextManager[DemoLab]:
    """The hypervisor fabric with static flood lists (static-linux)."""
    return running_lab(work, STATIC_INVENTORY, STATIC_TOPOLOGY)


@contextmanager
def running_lab(work: Path, inventory_source: Path, topology_source: Path) -> Iterator[DemoLab]:
    """A fabric up with the configs vxauto renders for it; down in `finally`, whatever happens."""
    vlan_free = "vlan" in netns.missing_link_kinds()
    if vlan_free:
        inventory, topology = vlan_free_variant(inventory_source, topology_source, work)
    else:
        inventory, topology = work / "inventory", work / topology_source.name
        shutil.copytree(inventory_source, inventory)
        shutil.copy(topology_source, topology)
    configs = _render(inventory, work / "configs")
    name = load_topology(topology).name
    while True:
        wait_for_others(name)
        try:
            lab = api.up(topology, configs)
            break
        except api.LabError as error:
            if "already up" not in str(error) and "running with" not in str(error):
                raise
            # somebody else got there first between our check and `up`: their lab, not ours; wait again
    try:
        # no wait for BGP here: validating right after `up` is what users do, and validate's own wait must
        # cover the convergence
        yield DemoLab(lab, topology, inventory, configs, vlan_free)
    finally:
        _force_down(topology)


def validate(demo: DemoLab, wait: float = DEFAULT_WAIT_S) -> ValidationRun:
    """`vxauto validate --lab` on the whole fabric, as the CLI runs it, with the product's own wait."""
    fabric = load_fabric(demo.inventory)
    state = expected_state(fabric)
    access = lab_access(demo.topology, fabric, sorted({*state.devices, *(e.node for e in state.endpoints)}))
    try:
        return run_validation(fabric, None, access.shell, access.params_for, wait=wait)
    finally:
        access.close()


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    """One fault: how to make it, how to undo it, and what validate must blame."""

    name: str
    description: str
    inject: Callable[[DemoLab], None]
    restore: Callable[[DemoLab], None]
    #: (host, check) pairs that must fail.
    must_fail: frozenset[tuple[str, str]]
    #: Words one of which every failed check must contain (host, check name or actual): the fault and
    #: what depends on it, nothing else.
    related: tuple[str, ...]

    def blames(self, check: Check) -> bool:
        text = f"{check.host} | {check.check} | {check.actual}"
        return any(word in text for word in self.related)


def _del_vni(lab: DemoLab) -> None:
    lab.sh("leaf1", "ip link del vxlan10020")


def _restore_scripts(node: str) -> Callable[[DemoLab], None]:
    def restore(lab: DemoLab) -> None:
        lab.rerun_scripts(node)

    return restore


def _wrong_vni(lab: DemoLab) -> None:
    # red-web's bridge on leaf1 (VLAN 10's broadcast domain) now carries VNI 10040: blue-db's VNI
    lab.sh("leaf1", "ip link del vxlan10010 && "
                    "ip link add vxlan10010 type vxlan id 10040 local 10.0.0.11 dstport 4789 nolearning && "
                    "ip link set dev vxlan10010 master br10010 mtu 1500 up && "
                    "bridge link set dev vxlan10010 learning off")


def _right_vni(lab: DemoLab) -> None:
    lab.sh("leaf1", "ip link del vxlan10010")
    lab.rerun_scripts("leaf1")


def _stop_bgpd(lab: DemoLab) -> None:
    lab.sh("leaf1", "kill $(cat /run/frr/bgpd.pid)")
    deadline = time.monotonic() + 30
    while lab.lab.bgp_peers("spine1").get("ipv4Unicast/10.1.1.1") == "Established":
        if time.monotonic() > deadline:
            raise AssertionError("spine1 still has its session to leaf1 30 s after bgpd stopped")
        time.sleep(0.2)


def _start_bgpd(lab: DemoLab) -> None:
    lab.sh("leaf1", "/usr/lib/frr/bgpd -d -P 0 -i /run/frr/bgpd.pid --log file:/run/frr/frr.log")
    deadline = time.monotonic() + 20
    while lab.lab.exec_in("leaf1", "vtysh -c 'show bgp summary json'").returncode != 0:
        if time.monotonic() > deadline:
            raise AssertionError("bgpd on leaf1 does not answer 20 s after its start")
        time.sleep(0.2)
    lab.sh("leaf1", "vtysh -b")  # integrated configuration: vtysh hands it to the new bgpd


def _blue_web_port(lab: DemoLab) -> str:
    """h3's blue-web port on leaf3 (`eth3.30` on the demo, `eth3` on the vlan-free variant)."""
    return expected_state(load_fabric(lab.inventory)).devices["leaf3"].vnis[10030].ports[0]


def _leak_port(lab: DemoLab) -> None:
    # h3's blue-web port joins red-web's bridge: tenant blue's host now sits in tenant red's segment
    lab.sh("leaf3", f"ip link set dev {_blue_web_port(lab)} master br10010")


def _lower_mtu(lab: DemoLab) -> None:
    lab.sh("leaf1", "ip link set dev eth1 mtu 1400")
    lab.sh("spine1", "ip link set dev eth1 mtu 1400")


def _restore_mtu(lab: DemoLab) -> None:
    lab.rerun_scripts("leaf1")
    lab.rerun_scripts("spine1")


FAULTS: tuple[Fault, ...] = (
    Fault(
        "vni-removed", "VNI 10020 (red-db) removed by hand on leaf1: ip link del vxlan10020",
        _del_vni, _restore_scripts("leaf1"),
        frozenset({("leaf1", "vni 10020 map"), ("leaf2", "vni 10020 flood")}),
        ("10020", "red-db"),
    ),
    Fault(
        "wrong-vni", "leaf1 maps red-web (VLAN 10) to VNI 10040 (blue-db) instead of 10010",
        _wrong_vni, _right_vni,
        frozenset({("leaf1", "vni 10010 map"), ("leaf1", "vni 10040 unexpected"), ("leaf2", "vni 10010 flood")}),
        ("10010", "10040", "red-web"),
    ),
    Fault(
        "bgpd-stopped", "bgpd stopped on leaf1",
        _stop_bgpd, _start_bgpd,
        frozenset({("leaf1", "bgp 10.1.1.0 (spine1)"), ("leaf1", "bgp 10.2.1.0 (spine2)"),
                   ("spine1", "bgp 10.1.1.1 (leaf1)"), ("spine2", "bgp 10.2.1.1 (leaf1)")}),
        # leaf1 itself, its VTEP address on the other leaves, and the host behind it (h1)
        ("leaf1", "10.0.0.11", "h1"),
    ),
    Fault(
        "mtu-1400", "the leaf1-spine1 underlay link lowered to MTU 1400 (both ends)",
        _lower_mtu, _restore_mtu,
        frozenset({("leaf1", "mtu eth1 (to spine1)"), ("spine1", "mtu eth1 (to leaf1)")}),
        ("mtu",),
    ),
    Fault(
        "port-leak", "leaf3 puts h3's blue-web port into red-web's bridge (tenant blue leaks into red)",
        _leak_port, _restore_scripts("leaf3"),
        # the isolation probes see the leak; so do the leaves that learn h3's MAC in the wrong VNI
        frozenset({("h1", "isolation red-web -x- blue-web: h3 10.20.30.3"),
                   ("h3", "isolation blue-web -x- red-web: h1 10.10.10.1"),
                   ("leaf1", "mac h3 eth1 (vni 10030)")}),
        ("h3",),
    ),
)


def _drop_flood_entry(lab: DemoLab) -> None:
    lab.sh("hv1", "bridge fdb del 00:00:00:00:00:00 dev vxlan30010 dst 10.0.1.12")


#: Faults of the static-linux fabric (static flood lists, no EVPN).
STATIC_FAULTS: tuple[Fault, ...] = (
    Fault(
        "flood-entry-removed", "hv1 loses hv2 from the flood list of VNI 30010 (web)",
        _drop_flood_entry, _restore_scripts("hv1"),
        frozenset({("hv1", "vni 30010 flood")}),
        ("30010", "10.0.1.12", "web"),
    ),
)
