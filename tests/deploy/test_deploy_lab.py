"""`vxauto deploy` / `vxauto rollback` end to end on the evpn-frr lab (brought up without configs, one lab
for the module): dry run, commit, zero-change redeploy, replace semantics, rollback, commit-confirm, and a
host whose sshd dies during the deploy while the others go on.

Tests run in file order; each starts by stating (or deploying) the intent it needs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from nornir.core.inventory import Host
from typer.testing import CliRunner

from tests.deploy.conftest import RunningLab, kill_sshd, live_processes, restart_sshd, timer_pid, wait_for_exit
from vxauto.cli.main import app
from vxauto.deploy.run import DeployOptions, deploy
from vxauto.devices.access import lab_optional_args
from vxauto.lab.api import NAPALM_STATE_SUBDIR as LAB_STATE_SUBDIR
from vxauto.model.fabric import load_fabric

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTS = ["spine1", "spine2", "leaf1", "leaf2", "leaf3", "leaf4", "h1", "h2", "h3", "h4"]


def vxauto(*arguments: str) -> tuple[int, Any]:
    """Run `vxauto ... --json` in-process; returns (exit code, decoded JSON or the raw output)."""
    result = CliRunner().invoke(app, [*arguments, "--json"])
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.exit_code, result.output


def deploy_cli(lab: RunningLab, backups: Path, *extra: str) -> tuple[int, Any]:
    return vxauto("deploy", "-i", str(lab.fabric.inventory), "--lab", str(lab.fabric.topology),
                  "--backups", str(backups), "--workers", "10", *extra)


def statuses(report: dict) -> dict[str, str]:
    return {row["host"]: row["status"] for row in report["hosts"]}


def set_blue_web(inventory: Path, attach: object) -> None:
    path = inventory / "fabric.yaml"
    data = yaml.safe_load(path.read_text())
    for segment in data["segments"]:
        if segment["name"] == "blue-web":
            segment["attach"] = attach
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def links(lab: RunningLab, node: str) -> set[str]:
    return {link["ifname"] for link in json.loads(lab.lab.exec_in(node, "ip -j link show", check=True).stdout)}


def device_config(lab: RunningLab, node: str) -> dict[str, str]:
    """The node's configuration as the driver reads it (FRR running config + kernel state)."""
    device = lab.driver(node)
    device.open()
    try:
        return json.loads(device.get_config(retrieve="running")["running"])["files"]
    finally:
        device.close()


@pytest.fixture(scope="module")
def backups(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backups")


def test_dry_run_shows_every_diff_and_changes_nothing(running_lab: RunningLab, backups: Path) -> None:
    before = device_config(running_lab, "leaf1")
    code, report = deploy_cli(running_lab, backups)
    assert code == 0, report
    assert report["dry_run"] is True
    assert statuses(report) == dict.fromkeys(HOSTS, "would-change")
    leaf1 = next(row for row in report["hosts"] if row["host"] == "leaf1")
    assert "+router bgp 65101" in leaf1["diff"] and "+link vxlan10010 kind=vxlan" in leaf1["diff"]
    h1 = next(row for row in report["hosts"] if row["host"] == "h1")
    assert "+address eth1 10.10.10.1/24" in h1["diff"] and "frr.conf" not in h1["diff"]
    assert device_config(running_lab, "leaf1") == before
    assert "vxlan10010" not in links(running_lab, "leaf1")
    assert list(backups.iterdir()) == []  # a dry run backs nothing up


def test_commit_configures_the_fabric_and_the_overlay_forwards(running_lab: RunningLab, backups: Path) -> None:
    code, report = deploy_cli(running_lab, backups, "--commit", "--wait", "90")  # deploy waits for convergence
    assert code == 0, report
    assert statuses(report) == dict.fromkeys(HOSTS, "changed")
    assert report["validation"]["passed"] is True and report["validation"]["hosts"] == HOSTS
    for row in report["hosts"]:
        assert row["backup"] and Path(row["backup"]).parent == backups / row["host"]
        saved = json.loads(Path(row["backup"]).read_text())
        assert saved["format"] == "vxauto-bundle/1"
    assert running_lab.lab.exec_in("h1", "ping -c1 -W1 10.10.10.2").returncode == 0  # h1 -> h2 over VNI 10010
    assert running_lab.lab.exec_in("h1", "ping -c1 -W1 10.20.30.3").returncode != 0  # other tenant: isolated


def test_second_deploy_is_a_zero_diff_no_op(running_lab: RunningLab, backups: Path) -> None:
    kept = sorted(backups.rglob("*.json"))
    code, report = deploy_cli(running_lab, backups, "--commit")
    assert code == 0, report
    assert statuses(report) == dict.fromkeys(HOSTS, "unchanged")
    assert all(row["diff"] == "" and row["backup"] is None for row in report["hosts"])
    assert sorted(backups.rglob("*.json")) == kept


def test_replace_removes_a_vni_the_intent_dropped(running_lab: RunningLab, backups: Path) -> None:
    set_blue_web(running_lab.fabric.inventory, {"hosts": ["leaf3", "leaf4"]})
    code, report = deploy_cli(running_lab, backups, "--commit")
    assert code == 0, report
    assert statuses(report) == {**dict.fromkeys(HOSTS, "unchanged"), "leaf1": "changed", "leaf2": "changed"}
    leaf1 = next(row for row in report["hosts"] if row["host"] == "leaf1")
    assert "-link vxlan10030 " in leaf1["diff"] and "-  vni 10030" in leaf1["diff"]
    assert not {"vxlan10030", "br10030"} & links(running_lab, "leaf1")
    code, report = deploy_cli(running_lab, backups, "--merge")
    assert statuses(report) == dict.fromkeys(HOSTS, "unchanged")


def test_rollback_undoes_the_last_commit_and_restores_a_backup(running_lab: RunningLab, backups: Path) -> None:
    lab_args = ["-i", str(running_lab.fabric.inventory), "--lab", str(running_lab.fabric.topology),
                "--backups", str(backups)]
    code, report = vxauto("rollback", "leaf1", *lab_args)
    assert code == 0, report
    assert report["hosts"][0]["status"] == "changed"
    assert {"vxlan10030", "br10030"} <= links(running_lab, "leaf1")
    # the first backup of leaf1 is from before the first commit: restoring it empties the node again
    first = sorted((backups / "leaf1").iterdir())[0]
    code, report = vxauto("rollback", "leaf1", "--to", first.name, *lab_args)
    assert code == 0, report
    assert not {name for name in links(running_lab, "leaf1") if name.startswith(("vxlan", "br"))}
    assert "router bgp" not in running_lab.lab.vtysh("leaf1", "show running-config")
    assert "10.1.1.1" not in running_lab.lab.exec_in("leaf1", "ip -br addr show dev eth1", check=True).stdout
    code, report = deploy_cli(running_lab, backups, "--commit", "--hosts", "leaf1")
    assert statuses(report) == {"leaf1": "changed"}


def test_commit_confirm_is_confirmed_after_a_fresh_login(running_lab: RunningLab, backups: Path) -> None:
    set_blue_web(running_lab.fabric.inventory, "all")
    code, report = deploy_cli(running_lab, backups, "--commit", "--confirm-timeout", "20", "--hosts", "leaf1")
    assert code == 0, report
    assert statuses(report) == {"leaf1": "changed"}
    device = running_lab.driver("leaf1")
    device.open()
    try:
        assert not device.has_pending_commit()
    finally:
        device.close()
    assert live_processes(f"{node_state_dir(running_lab, 'leaf1')}/pending/timer.sh".encode()) == []  # stopped


def intent_copy(inventory: Path, work: Path, blue_web: object = None, overlay_mtu: int | None = None) -> Path:
    """A private copy of the intent with one change (another operator's version of the fabric)."""
    copy = work / "intent"
    shutil.copytree(inventory, copy)
    if blue_web is not None:
        set_blue_web(copy, blue_web)
    if overlay_mtu is not None:
        set_overlay_mtu(copy, overlay_mtu)
    return copy


class MeetAtCommit:
    """A Nornir processor: every deploy holding it waits at its host's commit until all have got there, so
    the commits reach the device together."""

    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier = barrier

    def task_started(self, task: Any) -> None: ...
    def task_completed(self, task: Any, result: Any) -> None: ...
    def task_instance_started(self, task: Any, host: Host) -> None: ...
    def task_instance_completed(self, task: Any, host: Host, result: Any) -> None: ...
    def subtask_instance_completed(self, task: Any, host: Host, result: Any) -> None: ...

    def subtask_instance_started(self, task: Any, host: Host) -> None:
        if task.name == "commit_candidate":
            self.barrier.wait()


def test_two_deploys_at_once_one_applies_and_the_other_changes_nothing(
    running_lab: RunningLab, backups: Path, tmp_path: Path
) -> None:
    intents = {"no-blue-web": intent_copy(running_lab.fabric.inventory, tmp_path / "a", blue_web={
                   "hosts": ["leaf3", "leaf4"]}),
               "mtu-1400": intent_copy(running_lab.fabric.inventory, tmp_path / "b", overlay_mtu=1400)}
    barrier = threading.Barrier(len(intents), timeout=120)
    outcomes: dict[str, Any] = {}

    def deploy_intent(name: str) -> None:
        options = DeployOptions(commit=True, backups=backups, lab=running_lab.fabric.topology)
        outcomes[name] = deploy(load_fabric(intents[name]), ["leaf1"], options, [MeetAtCommit(barrier)])[0]

    threads = [threading.Thread(target=deploy_intent, args=(name,)) for name in intents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcome.status for outcome in outcomes.values()) == ["changed", "failed"], outcomes
    winner = next(name for name, outcome in outcomes.items() if outcome.status == "changed")
    loser = next(name for name in intents if name != winner)
    error = outcomes[loser].error or ""
    # both reached the device together: the lock refuses the second; had it come after the winner's commit
    # ended, the device's serial would refuse it instead. Either way it changed nothing.
    assert re.fullmatch(r"172\.20\.20\.21: another commit (holds the lock on 172\.20\.20\.21 \(commit \S+ "
                        r"\(vxauto deploy\) from \S+ since \S+Z\)|changed 172\.20\.20\.21 after this one read it .*)"
                        r"; nothing was changed.*", error), error
    for name, expected in ((winner, "unchanged"), (loser, "would-change")):  # the device is exactly the winner's
        dry = deploy(load_fabric(intents[name]), ["leaf1"], DeployOptions(lab=running_lab.fabric.topology))
        assert dry[0].status == expected, (name, dry[0].diff)
    _, report = deploy_cli(running_lab, backups, "--commit", "--hosts", "leaf1")  # back to the module's intent
    assert statuses(report) == {"leaf1": "changed"}


def node_state_dir(lab: RunningLab, node: str) -> Path:
    return Path(lab.lab.node(node).node_dir) / LAB_STATE_SUBDIR


def test_an_unconfirmed_commit_reverts_by_itself(running_lab: RunningLab, backups: Path) -> None:
    set_blue_web(running_lab.fabric.inventory, {"hosts": ["leaf3", "leaf4"]})
    try:
        code, report = deploy_cli(running_lab, backups, "--commit", "--confirm-timeout", "3", "--confirm-later",
                                  "--hosts", "leaf1")
        assert code == 0, report
        assert statuses(report) == {"leaf1": "pending"}
        timer = timer_pid(str(node_state_dir(running_lab, "leaf1")))
        assert "vxlan10030" not in links(running_lab, "leaf1")  # applied, pending
    finally:
        set_blue_web(running_lab.fabric.inventory, "all")
    assert wait_for_exit(timer, 60), "the device's revert timer did not finish"
    assert {"vxlan10030", "br10030"} <= links(running_lab, "leaf1")
    code, report = deploy_cli(running_lab, backups, "--hosts", "leaf1")
    assert statuses(report) == {"leaf1": "unchanged"}  # all of it is back
    code, report = vxauto("confirm", "--hosts", "leaf1", "-i", str(running_lab.fabric.inventory), "--lab",
                          str(running_lab.fabric.topology))
    assert code == 1 and "no pending commit" in report["hosts"][0]["error"]


def test_a_pending_commit_confirmed_later_stays(running_lab: RunningLab, backups: Path) -> None:
    """Positive control for the test before: the same pending commit, confirmed, never reverts."""
    set_blue_web(running_lab.fabric.inventory, {"hosts": ["leaf3", "leaf4"]})
    try:
        code, report = deploy_cli(running_lab, backups, "--commit", "--confirm-timeout", "3", "--confirm-later",
                                  "--hosts", "leaf1")
        armed = time.monotonic()
        assert statuses(report) == {"leaf1": "pending"}
        code, report = vxauto("confirm", "--hosts", "leaf1", "-i", str(running_lab.fabric.inventory), "--lab",
                              str(running_lab.fabric.topology))
        assert code == 0 and statuses(report) == {"leaf1": "confirmed"}, report
        assert live_processes(f"{node_state_dir(running_lab, 'leaf1')}/pending/timer.sh".encode()) == []
        time.sleep(max(0.0, armed + 4 - time.monotonic()))  # past the timer's own deadline
        assert "vxlan10030" not in links(running_lab, "leaf1")
        code, report = deploy_cli(running_lab, backups, "--hosts", "leaf1")
        assert statuses(report) == {"leaf1": "unchanged"}
    finally:
        set_blue_web(running_lab.fabric.inventory, "all")
    code, report = deploy_cli(running_lab, backups, "--commit", "--hosts", "leaf1")
    assert statuses(report) == {"leaf1": "changed"}


def test_a_port_the_device_lacks_fails_that_host_with_one_line(running_lab: RunningLab, backups: Path) -> None:
    hosts = running_lab.fabric.inventory / "hosts.yaml"
    original = hosts.read_text()
    kept = sorted(backups.rglob("*"))
    try:
        hosts.write_text(original.replace("      - {interface: eth4, segment: red-db}\n",
                                          "      - {interface: eth4, segment: red-db}\n"
                                          "      - {interface: eth7, segment: blue-web}\n", 1))
        result = CliRunner().invoke(app, ["deploy", "-i", str(running_lab.fabric.inventory), "--lab",
                                          str(running_lab.fabric.topology), "--backups", str(backups), "--commit",
                                          "--hosts", "leaf1", "--json"])
    finally:
        hosts.write_text(original)
    assert result.exit_code == 1, result.output
    assert result.stderr == ""  # no traceback, no library log
    row = json.loads(result.stdout)["hosts"][0]
    assert row["status"] == "failed" and "eth7" in row["error"] and row["error"].endswith("nothing was changed")
    assert sorted(backups.rglob("*")) == kept


def login_inventory(lab: RunningLab, work: Path, **override: str) -> Path:
    """The module's intent without --lab: leaf1's login in its own connection_options (as a real fabric has)."""
    copy = work / "inventory-login"
    shutil.copytree(lab.fabric.inventory, copy)
    optional = {**lab_optional_args(lab.lab, "leaf1"), **override}
    hosts = copy / "hosts.yaml"
    data = yaml.safe_load(hosts.read_text())
    data["leaf1"]["connection_options"] = {"napalm": {"extras": {"optional_args": optional}}}
    hosts.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


def test_a_wrong_host_key_or_a_refused_login_is_one_row_naming_it(running_lab: RunningLab, tmp_path: Path) -> None:
    known = Path(running_lab.lab.known_hosts).read_text().splitlines()
    leaf2_key = next(line.split(None, 1)[1] for line in known if line.startswith("172.20.20.22,"))
    forged = tmp_path / "forged_known_hosts"
    forged.write_text(f"172.20.20.21 {leaf2_key}\n")  # leaf1's address with another node's key
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    cases = {
        "genuine": ({}, None),  # positive control: the same login, right key and known_hosts
        "forged": ({"known_hosts": str(forged)}, "172.20.20.21: host key mismatch: the key 172.20.20.21:22 "
                   f"presents is not the one {forged} has for it"),
        "stranger": ({"key_file": str(stranger)}, "172.20.20.21: login refused for user 'root'"),
    }
    for name, (override, expected) in cases.items():
        inventory = login_inventory(running_lab, tmp_path / name, **override)
        # a rollback with a working login would change leaf1: the positive control runs the dry run only
        commands = [["deploy", "--hosts", "leaf1"]] + ([["rollback", "leaf1"]] if expected else [])
        for command in commands:
            result = CliRunner().invoke(app, [*command, "-i", str(inventory), "--json"])
            assert result.stderr == "", (name, command, result.stderr)
            row = json.loads(result.stdout)["hosts"][0]
            if expected is None:
                assert (result.exit_code, row["status"]) == (0, "unchanged"), (name, row)
            else:
                assert result.exit_code == 1 and row["error"].startswith(expected), (name, command, row)


class KillSshdAtCommit:
    """A Nornir processor: when `node`'s commit starts, kill every sshd of that node (listener and the
    session deploy is using), as if the device's SSH died in the middle of the deploy."""

    def __init__(self, lab: RunningLab, node: str) -> None:
        self.lab, self.node, self.killed = lab, node, False

    def task_started(self, task: Any) -> None: ...
    def task_completed(self, task: Any, result: Any) -> None: ...
    def task_instance_started(self, task: Any, host: Host) -> None: ...
    def task_instance_completed(self, task: Any, host: Host, result: Any) -> None: ...
    def subtask_instance_completed(self, task: Any, host: Host, result: Any) -> None: ...

    def subtask_instance_started(self, task: Any, host: Host) -> None:
        if host.name == self.node and task.name == "commit_candidate":
            kill_sshd(self.lab, self.node)
            self.killed = True


def set_overlay_mtu(inventory: Path, mtu: int) -> None:
    path = inventory / "fabric.yaml"
    data = yaml.safe_load(path.read_text())
    data["fabric"]["overlay_mtu"] = mtu
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_host_whose_sshd_dies_during_deploy_fails_alone(running_lab: RunningLab, backups: Path) -> None:
    set_overlay_mtu(running_lab.fabric.inventory, 1450)  # every leaf and host changes, the spines do not
    changing = {"leaf1", "leaf2", "leaf3", "leaf4", "h1", "h2", "h3", "h4"}
    before = device_config(running_lab, "leaf2")
    killer = KillSshdAtCommit(running_lab, "leaf2")
    fabric = load_fabric(running_lab.fabric.inventory)
    try:
        outcomes = deploy(fabric, HOSTS, DeployOptions(commit=True, backups=backups, workers=10,
                                                       lab=running_lab.fabric.topology), processors=[killer])
        assert killer.killed
        by_host = {outcome.host: outcome.status for outcome in outcomes}
        assert by_host == {**dict.fromkeys(HOSTS, "unchanged"), **dict.fromkeys(changing - {"leaf2"}, "changed"),
                           "leaf2": "failed"}
        error = next(outcome.error for outcome in outcomes if outcome.host == "leaf2") or ""
        lost = re.search("connection closed|SSH failed|session is closed", error)
        assert error.startswith("172.20.20.22: ") and lost, error
    finally:
        restart_sshd(running_lab, "leaf2")
    assert device_config(running_lab, "leaf2") == before  # nothing half-applied
    code, report = deploy_cli(running_lab, backups, "--commit")
    assert code == 0, report
    assert statuses(report) == {**dict.fromkeys(HOSTS, "unchanged"), "leaf2": "changed"}


def test_lab_and_inventory_must_name_the_same_machines(running_lab: RunningLab, backups: Path) -> None:
    hosts = running_lab.fabric.inventory / "hosts.yaml"
    original = hosts.read_text()
    try:
        hosts.write_text(original.replace("hostname: 172.20.20.22", "hostname: 172.20.20.99"))
        code, output = deploy_cli(running_lab, backups)
        assert code == 2
        assert "leaf2.hostname" in output and "172.20.20.22" in output
    finally:
        hosts.write_text(original)


def set_segment_vni(inventory: Path, segment: str, vni: int) -> None:
    path = inventory / "fabric.yaml"
    data = yaml.safe_load(path.read_text())
    next(item for item in data["segments"] if item["name"] == segment)["vni"] = vni
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_commit_wait_validates_the_changed_hosts_until_they_converge(running_lab: RunningLab, backups: Path) -> None:
    fabric_file = running_lab.fabric.inventory / "fabric.yaml"
    original = fabric_file.read_text()
    try:
        set_segment_vni(running_lab.fabric.inventory, "red-db", 10021)
        # only leaf1 moves red-db to VNI 10021; its peer leaf2 still has 10020: leaf1 cannot converge
        code, report = deploy_cli(running_lab, backups, "--commit", "--hosts", "leaf1", "--wait", "3")
        assert code == 1 and statuses(report) == {"leaf1": "changed"}, report
        validation = report["validation"]
        assert validation["hosts"] == ["leaf1"] and validation["passed"] is False
        assert re.search(r"checks on \d+ hosts in [\d.]+ s: [1-9]\d* failed", validation["summary"]), validation
        # positive control: the rest of the fabric follows, and the changed host converges
        code, report = deploy_cli(running_lab, backups, "--commit", "--wait", "60")
        assert code == 0, report
        assert statuses(report)["leaf2"] == "changed" and statuses(report)["leaf1"] == "unchanged"
        assert report["validation"]["passed"] is True and "all passed" in report["validation"]["summary"]
    finally:
        fabric_file.write_text(original)
    code, report = deploy_cli(running_lab, backups, "--commit")
    assert code == 0, report
