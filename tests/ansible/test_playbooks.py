"""Issue 9: the Ansible path, for real: ansible-playbook against the netns lab, check mode, apply, and a
second apply with changed=0; ansible-lint passes offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.lab.conftest import force_down, needs_lab_machine
from vxauto.lab import api

BIN = Path(sys.executable).parent
TOPOLOGY = REPO / "containerlab" / "evpn-frr.clab.yml"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def ansible(tool: str, *arguments: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    return subprocess.run([str(BIN / tool), *arguments], cwd=REPO, capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def failed_tasks(output: str) -> str:
    """The lines that say which host failed which task and why (the tail of the output may not hold them)."""
    return "\n".join(line for line in output.splitlines()
                     if line.startswith(("TASK [", "fatal: [", "failed: [")) or "FAILED!" in line)


def recap(output: str) -> dict[str, dict[str, int]]:
    return {m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]), "failed": int(m[5])}
            for m in RECAP.finditer(output)}


@pytest.mark.skipif(shutil.which("ansible-lint", path=str(BIN)) is None, reason="ansible-lint not installed")
def test_ansible_lint_passes_offline() -> None:
    result = ansible("ansible-lint", "--offline", "playbooks/")
    assert result.returncode == 0, result.stdout + result.stderr


def test_inventory_plugin_reads_the_vxauto_inventory() -> None:
    result = ansible("ansible-inventory", "--host", "leaf3")
    assert result.returncode == 0, result.stderr
    assert '"vtep_ip": "10.0.0.13"' in result.stdout
    assert '"ansible_host": "172.20.20.23"' in result.stdout


def test_render_check_mode_writes_nothing_and_apply_is_idempotent(tmp_path: Path) -> None:
    out = tmp_path / "configs"
    check = ansible("ansible-playbook", "playbooks/render.yml", "--check", "-l", "leaf1", "-e", f"vxauto_out={out}")
    assert check.returncode == 0, check.stdout
    assert recap(check.stdout)["leaf1"]["changed"] == 1
    assert not out.exists()
    first = ansible("ansible-playbook", "playbooks/render.yml", "-l", "leaf1,h1", "-e", f"vxauto_out={out}")
    assert recap(first.stdout)["leaf1"]["changed"] == 1
    assert (out / "leaf1" / "frr.conf").exists() and (out / "h1.sh").exists()
    second = ansible("ansible-playbook", "playbooks/render.yml", "-l", "leaf1,h1", "-e", f"vxauto_out={out}")
    assert {host["changed"] for host in recap(second.stdout).values()} == {0}


@pytest.fixture(scope="module")
def lab_from_playbook() -> Iterator[None]:
    """The default lab brought up by playbooks/lab.yml (and taken down by it, or by force at the end)."""
    owner = None
    try:
        first = ansible("ansible-playbook", "playbooks/lab.yml")
        assert first.returncode == 0, first.stdout + first.stderr
        assert recap(first.stdout)["localhost"]["changed"] == 1
        state = api.status(TOPOLOGY)
        assert state.state == "running", state
        again = ansible("ansible-playbook", "playbooks/lab.yml")
        assert recap(again.stdout)["localhost"]["changed"] == 0  # idempotent: the lab is already up
        yield
        down = ansible("ansible-playbook", "playbooks/lab.yml", "-e", "lab_state=absent")
        assert down.returncode == 0, down.stdout
        assert recap(down.stdout)["localhost"]["changed"] == 1
        assert api.status(TOPOLOGY).state == "down"
    finally:
        from vxauto.lab.state import LabState

        recorded = LabState.load("evpn-frr")
        owner = recorded.owner_pid if recorded else None
        force_down(TOPOLOGY, owner)


@pytest.mark.lab
@needs_lab_machine
def test_lab_ansible_inventory_pings_every_node(lab_from_playbook: None) -> None:
    """The lab's own inventory names the Python for the nodes: no interpreter discovery on them."""
    inventory = TOPOLOGY.parent / "clab-evpn-frr" / "ansible-inventory.yml"
    result = ansible("ansible", "-i", str(inventory), "all", "-m", "ansible.builtin.ping", "-o")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(re.findall(r"^clab-evpn-frr-\S+ \| SUCCESS", result.stdout, re.M)) == 10, result.stdout


@pytest.mark.lab
@needs_lab_machine
def test_check_apply_and_idempotent_second_apply(lab_from_playbook: None, tmp_path: Path) -> None:
    out = tmp_path / "configs"
    check = ansible("ansible-playbook", "playbooks/site.yml", "--check", "--diff", "-v", "-e", f"vxauto_out={out}")
    assert check.returncode == 0, failed_tasks(check.stdout) + "\n" + check.stdout[-1500:]
    totals = recap(check.stdout)
    assert all(host["failed"] == 0 and host["changed"] == 2 for host in totals.values()), totals  # render+deploy
    assert "vxlan10010" in check.stdout  # the deploy diff is shown
    assert "+++ after: " in check.stdout  # and the render diff
    assert re.search(r'"msg": "check mode: would run \d+ checks on 10 hosts"', check.stdout), check.stdout[-2000:]
    lab = api.attach(TOPOLOGY)
    assert "vxlan10010" not in lab.exec_in("leaf1", "ip -br link").stdout  # check mode changed nothing
    assert not out.exists()

    first = ansible("ansible-playbook", "playbooks/site.yml")
    assert first.returncode == 0, failed_tasks(first.stdout) + "\n" + first.stdout[-1500:]
    assert recap(first.stdout)["leaf1"]["changed"] >= 1

    second = ansible("ansible-playbook", "playbooks/site.yml")
    assert second.returncode == 0, failed_tasks(second.stdout) + "\n" + second.stdout[-1500:]
    totals = recap(second.stdout)
    assert totals and all(host["changed"] == 0 and host["failed"] == 0 for host in totals.values()), totals
