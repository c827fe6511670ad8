"""Lab lifecycle on small generated topologies (vxt-*): a lab without configs is ready for deploy, `down`
cleans a killed `up`, `down --all`, a failing `up` rolls back, and nothing foreign is ever touched."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netmiko import ConnectHandler

from tests.lab.conftest import Footprint, assert_gone, cli, footprint, force_down, needs_lab_machine
from vxauto.lab import api, netns
from vxauto.lab.state import REGISTRY_ENV, LabState, state_path

pytestmark = [pytest.mark.lab, needs_lab_machine]

VXAUTO = str(Path(sys.executable).parent / "vxauto")


def small_topology(name: str, octet: int, extra_nodes: str = "", routers: int = 2) -> str:
    nodes = "".join(f"    r{i}: {{kind: linux, image: quay.io/frrouting/frr:8.4.1}}\n" for i in range(1, routers + 1))
    links = "".join(f'    - endpoints: ["r{i}:eth1", "r{i + 1}:eth2"]\n' for i in range(1, routers))
    return (f"name: {name}\nmgmt:\n  ipv4-subnet: 172.20.{octet}.0/24\ntopology:\n  nodes:\n{nodes}{extra_nodes}"
            f"  links:\n{links}")


PLAIN = """\
name: vxt-plain
mgmt:
  ipv4-subnet: 172.20.33.0/24
topology:
  kinds:
    linux: {image: quay.io/frrouting/frr:8.4.1}
  nodes:
    r1: {kind: linux}
    r2:
      kind: linux
      startup-config: |
        hostname r2-from-startup
        router bgp 65002
         bgp router-id 192.0.2.2
        !
    h1:
      kind: linux
      image: ghcr.io/hellt/network-multitool
      sysctls: {net.ipv6.conf.all.disable_ipv6: "1"}
      exec:
        - ip addr add 198.51.100.1/32 dev lo
        - sh -c 'exit 4'
  links:
    - endpoints: ["r1:eth1", "r2:eth2"]
    - endpoints: ["h1:eth1", "r1:eth3"]
"""


def test_lab_without_configs_is_ready_for_deploy(tmp_path: Path) -> None:
    topology = tmp_path / "vxt-plain.clab.yml"
    topology.write_text(PLAIN)
    system_frr_conf = hashlib.sha256(Path("/etc/frr/frr.conf").read_bytes()).hexdigest()
    try:
        lab = api.up(topology)
        # exec lines ran after start; a failing one is a warning, as in containerlab
        assert "198.51.100.1" in lab.exec_in("h1", "ip -4 addr show dev lo").stdout
        assert any("exit 4" in warning for warning in lab.warnings), lab.warnings
        assert lab.exec_in("h1", "sysctl -n net.ipv6.conf.all.disable_ipv6").stdout.strip() == "1"
        # FRR runs with an empty configuration on r1, with its startup-config on r2
        assert "hostname r1" in lab.vtysh("r1", "show running-config")
        assert "router bgp 65002" in lab.vtysh("r2", "show running-config")
        assert lab.exec_in("r1", "sysctl -n net.ipv4.ip_forward").stdout.strip() == "1"
        # deploy's path: SSH in, configure through vtysh, save; the saved file is the node's, not the machine's
        with ConnectHandler(**lab.netmiko_params("r1")) as connection:
            connection.send_command("vtysh -c 'configure terminal' -c 'router bgp 65001' "
                                    "-c 'bgp router-id 192.0.2.1' -c 'end' -c 'write memory'")
            assert "router bgp 65001" in connection.send_command("vtysh -c 'show running-config'")
        assert "router bgp 65001" in (lab.lab_dir / "r1" / "frr" / "frr.conf").read_text()
        assert hashlib.sha256(Path("/etc/frr/frr.conf").read_bytes()).hexdigest() == system_frr_conf
        # the root-side `vtysh -N <namespace>` of the FRR recipe reaches the same daemons
        shown = subprocess.run(["vtysh", "-N", "vxt-plain-r1", "-c", "show running-config"],
                               capture_output=True, text=True, timeout=30, check=True).stdout
        assert "router bgp 65001" in shown
        _changed_topology_needs_reconfigure(topology, lab)
        _same_subnet_is_refused(tmp_path)
        lab = api.attach(topology)
        before = footprint(lab)
        assert api.down(topology) == []
        assert_gone(before)
    finally:
        force_down(topology)


def _changed_topology_needs_reconfigure(topology: Path, lab: api.Lab) -> None:
    topology.write_text(PLAIN.replace("198.51.100.1/32", "198.51.100.9/32"))
    code, output = cli("lab", "up", str(topology), "--runtime", "netns")
    assert code == 1 and "--reconfigure" in output, output
    assert footprint(api.attach(topology)).pids == footprint(lab).pids  # untouched
    rebuilt = api.up(topology, reconfigure=True)
    assert "198.51.100.9" in rebuilt.exec_in("h1", "ip -4 addr show dev lo").stdout


def _same_subnet_is_refused(tmp_path: Path) -> None:
    clash = tmp_path / "vxt-clash.clab.yml"
    clash.write_text(small_topology("vxt-clash", 33))
    code, output = cli("lab", "up", str(clash), "--runtime", "netns")
    assert code == 2, output
    assert "mgmt.ipv4-subnet" in output and "vx-vxt-plain" in output
    assert not state_path("vxt-clash").exists() and not netns.netns_exists("vxt-clash-r1")


def test_down_cleans_a_killed_up(tmp_path: Path) -> None:
    topology = tmp_path / "vxt-kill.clab.yml"
    topology.write_text(small_topology("vxt-kill", 34, routers=8))
    process = subprocess.Popen([VXAUTO, "lab", "up", str(topology), "--runtime", "netns"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (netns.netns_exists("vxt-kill-r1") and state_path("vxt-kill").exists()):
            assert process.poll() is None and time.monotonic() < deadline, "up ended before it could be killed"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        state = LabState.load("vxt-kill")
        assert state is not None and state.phase == "creating"  # killed midway
        time.sleep(0.3)  # children of the killed process finish what they were doing
        namespaces = [node.namespace for node in state.nodes.values()]
        identities = [i for i in map(netns.netns_identity, namespaces) if i]
        leftover_pids = netns.pids_in_namespaces(identities)
        result = subprocess.run([VXAUTO, "lab", "down", str(topology), "--runtime", "netns"],
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        assert_gone(Footprint(
            namespaces, [state.bridge, *(n.mgmt_veth for n in state.nodes.values())], leftover_pids,
            [Path(state.lab_dir), state_path("vxt-kill"), *(Path(n.frr_run_dir) for n in state.nodes.values())],
        ))
    finally:
        if process.poll() is None:
            process.kill()
        force_down(topology, owner=process.pid)


def test_down_all_removes_every_recorded_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A private registry: `down --all` must not reach labs of anyone else running on this machine.
    monkeypatch.setenv(REGISTRY_ENV, str(tmp_path / "registry"))
    files = []
    for name, octet in (("vxt-all-a", 35), ("vxt-all-b", 36)):
        files.append(tmp_path / f"{name}.clab.yml")
        files[-1].write_text(small_topology(name, octet))
    try:
        footprints = [footprint(api.up(file)) for file in files]
        code, output = cli("lab", "down", "--all")
        assert code == 0, output
        assert "lab vxt-all-a is down" in output and "lab vxt-all-b is down" in output
        for before in footprints:
            assert_gone(before)
        assert list((tmp_path / "registry").glob("*.json")) == []
    finally:
        for file in files:
            force_down(file)


def test_failing_up_rolls_back(tmp_path: Path) -> None:
    topology = tmp_path / "vxt-fail.clab.yml"
    topology.write_text(small_topology("vxt-fail", 37))
    configs = tmp_path / "configs"
    (configs / "r2").mkdir(parents=True)
    (configs / "r2" / "interfaces.sh").write_text("#!/bin/sh\necho broken on purpose >&2\nexit 7\n")
    try:
        code, output = cli("lab", "up", str(topology), "--configs", str(configs), "--runtime", "netns")
        assert code == 1, output
        assert "r2" in output and "exit 7" in output and "broken on purpose" in output
        assert not state_path("vxt-fail").exists()
        assert not (tmp_path / "clab-vxt-fail").exists()
        assert not any(netns.netns_exists(f"vxt-fail-r{i}") for i in (1, 2))
    finally:
        force_down(topology)


def test_rendered_frr_config_for_a_host_is_refused(tmp_path: Path) -> None:
    topology = tmp_path / "vxt-mismatch.clab.yml"
    topology.write_text(small_topology("vxt-mismatch", 37, '    h1: {kind: linux, image: alpine}\n'))
    (tmp_path / "configs" / "h1").mkdir(parents=True)
    (tmp_path / "configs" / "h1" / "frr.conf").write_text("hostname h1\n")
    code, output = cli("lab", "up", str(topology), "--configs", str(tmp_path / "configs"), "--runtime", "netns")
    assert code == 2 and "node h1 runs no FRR" in output, output
    assert not state_path("vxt-mismatch").exists()


def test_foreign_namespace_is_never_touched(tmp_path: Path) -> None:
    topology = tmp_path / "vxt-foreign.clab.yml"
    topology.write_text(small_topology("vxt-foreign", 38))
    netns.create_netns("vxt-foreign-r1")  # not created by a lab: up must refuse, down must leave it
    try:
        code, output = cli("lab", "up", str(topology), "--runtime", "netns")
        assert code == 1 and "not recorded as a vxauto lab" in output, output
        assert cli("lab", "down", str(topology), "--runtime", "netns")[0] == 0
        assert netns.netns_exists("vxt-foreign-r1")
    finally:
        netns.remove_netns("vxt-foreign-r1")


def test_foreign_lab_directory_is_never_touched(tmp_path: Path) -> None:
    topology = tmp_path / "vxt-dir.clab.yml"
    topology.write_text(small_topology("vxt-dir", 38))
    foreign = tmp_path / "clab-vxt-dir"
    foreign.mkdir()
    (foreign / "topology-data.json").write_text("{}")  # e.g. left by containerlab itself
    code, output = cli("lab", "up", str(topology), "--runtime", "netns")
    assert code == 1 and "clab-vxt-dir" in output and "refusing" in output, output
    assert (foreign / "topology-data.json").read_text() == "{}"
    assert not state_path("vxt-dir").exists() and not netns.netns_exists("vxt-dir-r1")


def test_down_by_name_when_the_topology_file_is_gone(tmp_path: Path) -> None:
    topology = tmp_path / "vxt-name.clab.yml"
    topology.write_text(small_topology("vxt-name", 38))
    try:
        before = footprint(api.up(topology))
        topology.rename(tmp_path / "moved.yml")
        code, output = cli("lab", "down", "vxt-name", "--runtime", "netns")
        assert code == 0 and "lab vxt-name is down" in output, output
        assert_gone(before)
    finally:
        if (tmp_path / "moved.yml").exists():
            (tmp_path / "moved.yml").rename(topology)
        force_down(topology)


def test_down_works_from_the_record_in_the_lab_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` ran with another registry (another environment): the copy in clab-<lab>/ is enough for `down`."""
    topology = tmp_path / "vxt-copy.clab.yml"
    topology.write_text(small_topology("vxt-copy", 38))
    try:
        monkeypatch.setenv(REGISTRY_ENV, str(tmp_path / "elsewhere"))
        lab = api.up(topology)
        before = footprint(lab)
        assert (lab.lab_dir / "vxauto-state.json").is_file()
        monkeypatch.delenv(REGISTRY_ENV)
        assert api.down(topology) == []
        stale = tmp_path / "elsewhere" / "vxt-copy.json"  # the other environment's record is now stale ...
        assert_gone(Footprint(before.namespaces, before.root_links, before.pids,
                              [p for p in before.paths if p != stale]))
        monkeypatch.setenv(REGISTRY_ENV, str(tmp_path / "elsewhere"))
        assert cli("lab", "down", "--all")[0] == 0  # ... and harmless: down --all there just forgets it
        assert not stale.exists()
    finally:
        monkeypatch.setenv(REGISTRY_ENV, str(tmp_path / "elsewhere"))
        force_down(topology)
