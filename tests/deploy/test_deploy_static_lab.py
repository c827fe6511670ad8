"""`vxauto deploy` on the static-linux lab: Linux hypervisors as VTEPs with static flood lists (no EVPN),
FRR only for the underlay, plain Linux VMs. One lab for the module, brought up without configs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.deploy.conftest import RunningLab
from vxauto.cli.main import app

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTS = ["spine1", "spine2", "hv1", "hv2", "hv3", "vm1", "vm2", "vm3"]


def deploy(lab: RunningLab, backups: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["deploy", "-i", str(lab.fabric.inventory), "--lab", str(lab.fabric.topology),
                                      "--backups", str(backups), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {row["host"]: row["status"] for row in report["hosts"]}


def flood_list(lab: RunningLab, node: str, device: str) -> set[str]:
    entries = json.loads(lab.lab.exec_in(node, f"bridge -j fdb show dev {device}", check=True).stdout)
    return {entry["dst"] for entry in entries if entry["mac"] == "00:00:00:00:00:00" and "dst" in entry}


def reaches(lab: RunningLab, source: str, address: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while lab.lab.exec_in(source, f"ping -c1 -W1 {address}").returncode != 0:
        if time.monotonic() > deadline:
            return False
    return True


def attach_db(inventory: Path, hosts: list[str]) -> None:
    path = inventory / "fabric.yaml"
    data = yaml.safe_load(path.read_text())
    for segment in data["segments"]:
        if segment["name"] == "db":
            segment["attach"] = {"hosts": hosts}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_static_fabric_deploys_forwards_and_redeploys_as_no_op(static_lab: RunningLab, tmp_path: Path) -> None:
    report = deploy(static_lab, tmp_path, "--commit")
    assert statuses(report) == dict.fromkeys(HOSTS, "changed")
    assert flood_list(static_lab, "hv1", "vxlan30010") == {"10.0.1.12", "10.0.1.13"}
    assert flood_list(static_lab, "hv1", "vxlan30020") == {"10.0.1.13"}
    static_lab.lab.wait_bgp(timeout=60)
    assert reaches(static_lab, "vm1", "10.30.10.2"), "vm1 -> vm2 over VNI 30010"
    assert reaches(static_lab, "vm1", "10.30.20.3"), "vm1 -> vm3 over VNI 30020"
    assert statuses(deploy(static_lab, tmp_path, "--commit")) == dict.fromkeys(HOSTS, "unchanged")


def test_flood_lists_follow_the_intent_both_ways(static_lab: RunningLab, tmp_path: Path) -> None:
    attach_db(static_lab.fabric.inventory, ["hv1", "hv2", "hv3"])
    report = deploy(static_lab, tmp_path, "--commit")
    assert statuses(report) == {**dict.fromkeys(HOSTS, "unchanged"), "hv1": "changed", "hv2": "changed",
                                "hv3": "changed"}
    hv1 = next(row for row in report["hosts"] if row["host"] == "hv1")
    assert [line for line in hv1["diff"].splitlines() if line.startswith(("+", "-"))] == [
        "--- 172.20.21.21 kernel (running)", "+++ 172.20.21.21 kernel (candidate)", "+flood vxlan30020 10.0.1.12"]
    assert flood_list(static_lab, "hv1", "vxlan30020") == {"10.0.1.12", "10.0.1.13"}
    assert "vxlan30020" in {link["ifname"] for link in json.loads(
        static_lab.lab.exec_in("hv2", "ip -j link show", check=True).stdout)}
    attach_db(static_lab.fabric.inventory, ["hv1", "hv3"])  # back: hv2 leaves the segment again
    report = deploy(static_lab, tmp_path, "--commit")
    assert statuses(report)["hv2"] == "changed"
    assert flood_list(static_lab, "hv1", "vxlan30020") == {"10.0.1.13"}
    assert "vxlan30020" not in {link["ifname"] for link in json.loads(
        static_lab.lab.exec_in("hv2", "ip -j link show", check=True).stdout)}
    assert reaches(static_lab, "vm1", "10.30.20.3"), "the db segment still works between hv1 and hv3"
