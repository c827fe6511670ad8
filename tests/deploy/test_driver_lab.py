"""The Linux/FRR NAPALM driver against the real lab: evpn-frr brought up without configs (one lab for
the module), configured, changed, rolled back and reverted through the driver alone.

Tests run in file order and build on each other's device state the way an operator's session would;
each one first commits the state it starts from, so a failure does not cascade into wrong verdicts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from napalm.base import models
from napalm.base.exceptions import CommitConfirmException, CommitError, ConnectionException
from napalm.base.test.helpers import test_model as fits_model

from tests.deploy.conftest import RunningLab, kill_sshd, live_processes, restart_sshd, timer_pid, wait_for_exit
from vxauto.devices.contract import vni_table_problems, vtep_table_problems
from vxauto.devices.napalm_frr.bundle import Bundle
from vxauto.devices.napalm_frr.driver import FrrDriver
from vxauto.devices.napalm_frr.frr_reload import DEFAULT_LINES
from vxauto.lab import netns
from vxauto.model.fabric import load_fabric
from vxauto.render.engine import render_device

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROUTERS = ("spine1", "spine2", "leaf1", "leaf2", "leaf3", "leaf4")


def bundle_text(inventory: Path, host: str) -> str:
    return Bundle.from_rendered(render_device(load_fabric(inventory).device(host))).dumps()


def without_blue_web_on_leaf1(inventory: Path, work: Path) -> Path:
    """A copy of the intent in which segment blue-web (VNI 10030) no longer reaches leaf1/leaf2."""
    changed = work / "inventory-no-10030"
    if not changed.exists():
        changed.mkdir()
        for item in inventory.iterdir():
            (changed / item.name).write_text(item.read_text())
        data = yaml.safe_load((changed / "fabric.yaml").read_text())
        for segment in data["segments"]:
            if segment["name"] == "blue-web":
                segment["attach"] = {"hosts": ["leaf3", "leaf4"]}
        (changed / "fabric.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return changed


@contextlib.contextmanager
def opened(lab: RunningLab, node: str, **extra: object) -> Iterator[FrrDriver]:
    """The node's driver as `vxauto deploy --lab` sets it up, open for the block, closed however it ends."""
    device = lab.driver(node, **extra)
    device.open()
    try:
        yield device
    finally:
        device.close()


@pytest.fixture(scope="module")
def leaf1(running_lab: RunningLab) -> Iterator[FrrDriver]:
    with opened(running_lab, "leaf1") as device:
        yield device


def commit(device: FrrDriver, config: str) -> None:
    device.load_replace_candidate(config=config)
    device.commit_config()


def running(device: FrrDriver) -> dict[str, str]:
    return json.loads(device.get_config(retrieve="running")["running"])["files"]


def kernel_links(lab: RunningLab, node: str) -> set[str]:
    listed = lab.lab.exec_in(node, "ip -j link show", check=True).stdout
    return {link["ifname"] for link in json.loads(listed)}


def frr_running(lab: RunningLab, node: str) -> str:
    return lab.lab.vtysh(node, "show running-config")


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


# --------------------------------------------------------------------------- before any configuration


def test_getters_on_an_unconfigured_node(leaf1: FrrDriver) -> None:
    facts = leaf1.get_facts()
    assert fits_model(models.FactsDict, facts)
    assert (facts["hostname"], facts["vendor"]) == ("leaf1", "FRRouting")
    assert {"eth0", "eth1", "eth2", "eth3", "eth4", "lo"} <= set(facts["interface_list"])
    assert all(fits_model(models.InterfaceDict, data) for data in leaf1.get_interfaces().values())
    assert leaf1.get_interfaces_ip()["eth0"]["ipv4"] == {"172.20.20.21": {"prefix_length": 24}}
    assert leaf1.get_bgp_neighbors() == {}  # no `router bgp` yet
    assert leaf1.get_lldp_neighbors() == {}  # lldpd is not running
    assert all(fits_model(models.MACAdressTable, entry) for entry in leaf1.get_mac_address_table())
    assert leaf1.get_vxlan_vnis() == {} and leaf1.get_vxlan_vteps() == {}
    assert leaf1.is_alive() == {"is_alive": True}


def test_compare_shows_both_parts_and_changes_nothing(running_lab: RunningLab, leaf1: FrrDriver) -> None:
    before = running(leaf1)
    links_before = kernel_links(running_lab, "leaf1")
    leaf1.load_replace_candidate(config=bundle_text(running_lab.fabric.inventory, "leaf1"))
    diff = leaf1.compare_config()
    assert "+router bgp 65101" in diff and "+  vni 10010" in diff
    assert "+link vxlan10010 kind=vxlan id=10010 local=10.0.0.11 dstport=4789 learning=off" in diff
    assert "+address lo 10.0.0.11/32" in diff
    assert leaf1.compare_config() == diff  # comparing twice: same answer, still nothing applied
    leaf1.discard_config()
    assert leaf1.compare_config() == ""
    assert running(leaf1) == before and kernel_links(running_lab, "leaf1") == links_before


# --------------------------------------------------------------------------- commit


def test_commit_applies_and_a_second_commit_is_a_no_op(running_lab: RunningLab, leaf1: FrrDriver) -> None:
    for node in ROUTERS:
        with contextlib.ExitStack() as stack:
            device = leaf1 if node == "leaf1" else stack.enter_context(opened(running_lab, node))
            commit(device, bundle_text(running_lab.fabric.inventory, node))
            device.load_replace_candidate(config=bundle_text(running_lab.fabric.inventory, node))
            assert device.compare_config() == "", node
            device.discard_config()
    assert {"vxlan10010", "br10010", "vxlan10030"} <= kernel_links(running_lab, "leaf1")
    assert "vni 10030" in frr_running(running_lab, "leaf1")
    last = running_lab.lab.exec_in("leaf1", f"cat {leaf1.state_dir}/last", check=True).stdout
    commit(leaf1, bundle_text(running_lab.fabric.inventory, "leaf1"))  # nothing to do
    assert running_lab.lab.exec_in("leaf1", f"cat {leaf1.state_dir}/last", check=True).stdout == last
    assert not leaf1.has_pending_commit()


def test_getters_after_deploy(running_lab: RunningLab, leaf1: FrrDriver) -> None:
    running_lab.lab.wait_bgp(timeout=60)
    neighbors = leaf1.get_bgp_neighbors()
    peers = neighbors["global"]["peers"]
    assert sorted(peers) == ["10.1.1.0", "10.2.1.0"]
    assert all(peer["is_up"] and "l2vpn_evpn" in peer["address_family"] for peer in peers.values())

    def flood_lists_complete() -> bool:
        vnis = leaf1.get_vxlan_vnis()
        return vnis.get(10010, {}).get("flood_list") == ["10.0.0.12", "10.0.0.13", "10.0.0.14"]

    wait_for(flood_lists_complete, 30, "EVPN type-3 routes from every VTEP of VNI 10010")
    vnis = leaf1.get_vxlan_vnis()
    assert vni_table_problems(vnis) == []
    assert sorted(vnis) == [10010, 10020, 10030]
    assert {vni: (info["learning"], info["source_ip"], info["bridge"]) for vni, info in vnis.items()} == {
        10010: ("evpn", "10.0.0.11", "br10010"), 10020: ("evpn", "10.0.0.11", "br10020"),
        10030: ("evpn", "10.0.0.11", "br10030")}
    vteps = leaf1.get_vxlan_vteps()
    assert vtep_table_problems(vteps) == []
    assert vteps["10.0.0.12"]["vnis"] == [10010, 10020, 10030] and vteps["10.0.0.13"]["vnis"] == [10010, 10030]


def test_lldp_neighbors_when_lldpd_runs(running_lab: RunningLab) -> None:
    lab = running_lab.lab
    sockets = {node: f"{lab.node(node).node_dir}/lldpd.socket" for node in ("leaf1", "spine1", "spine2")}
    daemons = [subprocess.Popen(lab.node_argv(node, ["lldpd", "-d", "-u", socket, "-I", "eth1,eth2"]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for node, socket in sockets.items()]
    device = running_lab.driver("leaf1", lldpd_socket=sockets["leaf1"])
    try:
        time.sleep(0.5)
        for node, socket in sockets.items():
            lab.exec_in(node, f"lldpcli -u {socket} configure lldp tx-interval 1")
        device.open()
        wait_for(lambda: len(device.get_lldp_neighbors()) == 2, 20, "LLDP neighbours on eth1 and eth2")
        assert device.get_lldp_neighbors() == {"eth1": [{"hostname": "spine1", "port": "eth1"}],
                                               "eth2": [{"hostname": "spine2", "port": "eth1"}]}
    finally:
        device.close()
        for daemon in daemons:
            daemon.kill()
            daemon.wait()


def test_frr_default_lines_are_defaults_in_this_frr(running_lab: RunningLab) -> None:
    """Every line the normaliser drops must be one FRR applies without printing it."""
    lab = running_lab.lab
    for item in DEFAULT_LINES:
        contexts = ["router bgp 65000", *(["address-family l2vpn evpn"] if "l2vpn evpn" in item.block else [])]
        argv = ["vtysh", "-c", "configure", *(word for context in contexts for word in ("-c", context)),
                "-c", item.example]
        result = lab.exec_in("spine1", argv)
        assert result.returncode == 0 and "%" not in result.stdout, (item.example, result.stdout)
        shown = [line.strip() for line in frr_running(running_lab, "spine1").splitlines()]
        assert item.example not in shown, item.example
    # EVPN keeps next hops unchanged towards a peer without `attribute-unchanged next-hop` configured
    detail = json.loads(lab.vtysh("leaf1", "show bgp neighbors 10.1.1.0 json"))
    assert detail["10.1.1.0"]["addressFamilyInfo"]["l2VpnEvpn"]["unchangedNextHopPropogatedToNbr"] is True
    with opened(running_lab, "spine1") as device:
        device.load_replace_candidate(config=bundle_text(running_lab.fabric.inventory, "spine1"))
        assert device.compare_config() == ""


# --------------------------------------------------------------------------- replace, rollback, confirm


def test_replace_removes_a_vni_the_intent_no_longer_has(
    running_lab: RunningLab, leaf1: FrrDriver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    commit(leaf1, bundle_text(running_lab.fabric.inventory, "leaf1"))
    changed = without_blue_web_on_leaf1(running_lab.fabric.inventory, tmp_path_factory.getbasetemp())
    leaf1.load_replace_candidate(config=bundle_text(changed, "leaf1"))
    diff = leaf1.compare_config()
    assert "-  vni 10030" in diff and "-link vxlan10030 " in diff and "-link br10030 " in diff
    assert [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")] == []
    leaf1.commit_config()
    links = kernel_links(running_lab, "leaf1")
    assert "vxlan10030" not in links and "br10030" not in links and "vxlan10010" in links
    assert "vni 10030" not in frr_running(running_lab, "leaf1")
    assert 10030 not in leaf1.get_vxlan_vnis()


def test_rollback_restores_the_state_before_the_last_commit(running_lab: RunningLab, leaf1: FrrDriver) -> None:
    leaf1.rollback()
    assert {"vxlan10030", "br10030"} <= kernel_links(running_lab, "leaf1")
    assert "vni 10030" in frr_running(running_lab, "leaf1")
    leaf1.load_replace_candidate(config=bundle_text(running_lab.fabric.inventory, "leaf1"))
    assert leaf1.compare_config() == ""
    leaf1.discard_config()


def test_commit_confirm_reverts_when_not_confirmed(
    running_lab: RunningLab, leaf1: FrrDriver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    original = bundle_text(running_lab.fabric.inventory, "leaf1")
    commit(leaf1, original)
    changed = bundle_text(without_blue_web_on_leaf1(running_lab.fabric.inventory, tmp_path_factory.getbasetemp()),
                          "leaf1")
    leaf1.load_replace_candidate(config=changed)
    leaf1.commit_config(revert_in=3)
    timer = timer_pid(leaf1.state_dir)
    assert leaf1.has_pending_commit()
    assert "vxlan10030" not in kernel_links(running_lab, "leaf1")  # applied while pending
    leaf1.load_replace_candidate(config=original)
    with pytest.raises(CommitError, match="pending"):
        leaf1.commit_config()
    leaf1.discard_config()
    assert wait_for_exit(timer, 60), "the revert timer did not finish"
    assert not leaf1.has_pending_commit()
    assert (Path(leaf1.state_dir) / "pending" / "reverted.json").exists()
    leaf1.load_replace_candidate(config=original)
    assert leaf1.compare_config() == ""  # back at the state before the commit
    leaf1.discard_config()
    with pytest.raises(CommitConfirmException):
        leaf1.confirm_commit()


def test_confirmed_commit_stays_and_its_timer_is_gone(
    running_lab: RunningLab, leaf1: FrrDriver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Positive control: the test before this one saw the same timer revert an unconfirmed commit."""
    original = bundle_text(running_lab.fabric.inventory, "leaf1")
    commit(leaf1, original)
    changed = bundle_text(without_blue_web_on_leaf1(running_lab.fabric.inventory, tmp_path_factory.getbasetemp()),
                          "leaf1")
    leaf1.load_replace_candidate(config=changed)
    leaf1.commit_config(revert_in=3)
    armed = time.monotonic()
    timer_script = f"{leaf1.state_dir}/pending/timer.sh".encode()
    assert live_processes(timer_script)  # the timer runs until confirmed
    leaf1.confirm_commit()
    assert not leaf1.has_pending_commit()
    assert live_processes(timer_script) == []  # confirm stopped it: no timer process is left
    time.sleep(max(0.0, armed + 4 - time.monotonic()))  # past the timer's own deadline: nothing may happen now
    assert "vxlan10030" not in kernel_links(running_lab, "leaf1")
    assert not (Path(leaf1.state_dir) / "pending" / "reverted.json").exists()
    leaf1.load_replace_candidate(config=changed)
    assert leaf1.compare_config() == ""
    commit(leaf1, original)


def with_vni_10099(bundle: str) -> str:
    """The bundle with one more EVPN VNI in its FRR part (a third intent, different from both others)."""
    files = json.loads(bundle)["files"]
    files["frr.conf"] = files["frr.conf"].replace(" exit-address-family\nexit", "  vni 10099\n  exit-vni\n"
                                                  " exit-address-family\nexit", 1)
    return Bundle(files).dumps()


def test_a_commit_from_a_reading_another_commit_outdated_changes_nothing(
    running_lab: RunningLab, leaf1: FrrDriver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """leaf1 compares, another session commits a different intent, then leaf1 commits: refused untouched."""
    original = bundle_text(running_lab.fabric.inventory, "leaf1")
    commit(leaf1, original)
    changed = bundle_text(without_blue_web_on_leaf1(running_lab.fabric.inventory, tmp_path_factory.getbasetemp()),
                          "leaf1")
    leaf1.load_replace_candidate(config=changed)
    assert "-  vni 10030" in leaf1.compare_config()
    with opened(running_lab, "leaf1") as other:
        commit(other, with_vni_10099(original))  # the winner
        state = Path(leaf1.state_dir)
        points = sorted(path.name for path in (state / "rollback").iterdir())
        with pytest.raises(CommitError, match=r"another commit changed .* after this one read it .*nothing "
                           r"was changed"):
            leaf1.commit_config()
        leaf1.discard_config()
        assert sorted(path.name for path in (state / "rollback").iterdir()) == points  # no rollback point
        assert list((state / "txn").iterdir()) == []  # its private staging is gone too
        assert list((state / "stage").iterdir()) == []  # and so are the comparisons' staged candidates
        other.load_replace_candidate(config=with_vni_10099(original))
        assert other.compare_config() == ""  # exactly the winner's state
        other.discard_config()
        assert "vni 10030" in frr_running(running_lab, "leaf1")
        leaf1.load_replace_candidate(config=changed)
        assert "-  vni 10030" in leaf1.compare_config()  # a fresh comparison commits fine
        leaf1.commit_config()
        assert "vni 10030" not in frr_running(running_lab, "leaf1")
    commit(leaf1, original)


def test_a_commit_while_another_holds_the_device_lock_changes_nothing(
    running_lab: RunningLab, leaf1: FrrDriver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The lock is held the way a running transaction holds it (flock on .lock, holder in lock.owner)."""
    original = bundle_text(running_lab.fabric.inventory, "leaf1")
    commit(leaf1, original)
    changed = bundle_text(without_blue_web_on_leaf1(running_lab.fabric.inventory, tmp_path_factory.getbasetemp()),
                          "leaf1")
    state = Path(leaf1.state_dir)
    points = sorted(path.name for path in (state / "rollback").iterdir())
    with (state / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # flock(2), the lock util-linux flock takes on the device
        (state / "lock.owner").write_text("commit 20990101T000000Z from someone@else since 2099-01-01T00:00:00Z\n")
        leaf1.load_replace_candidate(config=changed)
        with pytest.raises(CommitError, match=r"^172\.20\.20\.21: another commit holds the lock on 172\.20\.20\.21 "
                           r"\(commit 20990101T000000Z from someone@else since 2099-01-01T00:00:00Z\); nothing was "
                           r"changed$"):
            leaf1.commit_config()
    # closing the file released the lock
    assert sorted(path.name for path in (state / "rollback").iterdir()) == points
    assert list((state / "txn").iterdir()) == []
    assert "vxlan10030" in kernel_links(running_lab, "leaf1") and "vni 10030" in frr_running(running_lab, "leaf1")
    leaf1.load_replace_candidate(config=changed)  # positive control: with the lock free the same commit applies
    leaf1.commit_config()
    assert "vxlan10030" not in kernel_links(running_lab, "leaf1")
    commit(leaf1, original)


def test_a_commit_that_fails_midway_is_rolled_back(running_lab: RunningLab, leaf1: FrrDriver) -> None:
    """New devices are created, then an MTU no veth takes fails: the device ends where it started."""
    original = bundle_text(running_lab.fabric.inventory, "leaf1")
    commit(leaf1, original)
    files = json.loads(original)["files"]
    files["interfaces.sh"] += ("ensure_link br10099 type bridge\nip link set dev br10099 mtu 1500 up\n"
                               "ip link set dev eth1 mtu 70000 up\n")
    leaf1.load_replace_candidate(config=Bundle(files).dumps())
    assert "+link br10099 kind=bridge" in leaf1.compare_config()
    with pytest.raises(CommitError, match=r"rolled back \(restored\)"):
        leaf1.commit_config()
    assert "br10099" not in kernel_links(running_lab, "leaf1")
    leaf1.load_replace_candidate(config=original)
    assert leaf1.compare_config() == ""
    leaf1.discard_config()


def test_merge_adds_without_removing(
    running_lab: RunningLab, leaf1: FrrDriver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    commit(leaf1, bundle_text(running_lab.fabric.inventory, "leaf1"))
    smaller = bundle_text(without_blue_web_on_leaf1(running_lab.fabric.inventory, tmp_path_factory.getbasetemp()),
                          "leaf1")
    leaf1.load_merge_candidate(config=smaller)
    assert leaf1.compare_config() == ""  # everything in it is there already; nothing is removed
    files = json.loads(smaller)["files"]
    files["frr.conf"] = files["frr.conf"].replace(" exit-address-family\nexit", "  vni 10099\n  exit-vni\n"
                                                  " exit-address-family\nexit", 1)
    leaf1.load_merge_candidate(config=Bundle(files).dumps())
    diff = leaf1.compare_config()
    assert "+  vni 10099" in diff and "\n-" not in diff
    leaf1.commit_config()
    config = frr_running(running_lab, "leaf1")
    assert "vni 10099" in config and "vni 10030" in config
    commit(leaf1, bundle_text(running_lab.fabric.inventory, "leaf1"))
    assert "vni 10099" not in frr_running(running_lab, "leaf1")


def _txn_running(lab: RunningLab, node: str) -> int:
    """The pid of the device-side transaction once it runs (`sh <txn dir>/txn.sh` under flock), else 0.

    Only that exact argv counts: while the driver is still writing the transaction's files, helper
    processes (`mkdir`, `chmod`, `mv ... txn.sh`) also carry "txn.sh" in their command line, and killing
    sshd then would test a lost connection before the transaction, not during it."""
    identity = netns.netns_identity(lab.lab.namespace(node))
    for pid in netns.pids_in_namespaces([identity] if identity else []):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) >= 2 and argv[0].rsplit(b"/", 1)[-1] == b"sh" and argv[1].endswith(b"/txn.sh"):
            return pid
    return 0


def test_ssh_lost_during_the_transaction_leaves_the_device_fully_applied(
    running_lab: RunningLab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The device-side transaction is detached from the SSH session: it finishes without its client."""
    inventory = running_lab.fabric.inventory
    original = bundle_text(inventory, "leaf2")
    changed = bundle_text(without_blue_web_on_leaf1(inventory, tmp_path_factory.getbasetemp()), "leaf2")
    device = running_lab.driver("leaf2")
    device.open()
    commit(device, original)
    device.load_replace_candidate(config=changed)
    assert "-  vni 10030" in device.compare_config()
    killed = threading.Event()
    txn: list[int] = []

    def kill_sshd_once_the_transaction_runs() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not killed.is_set():
            pid = _txn_running(running_lab, "leaf2")
            if pid:
                kill_sshd(running_lab, "leaf2")
                txn.append(pid)
                killed.set()
            time.sleep(0.002)

    killer = threading.Thread(target=kill_sshd_once_the_transaction_runs)
    killer.start()
    try:
        with pytest.raises(ConnectionException):
            device.commit_config()
    finally:
        killer.join()
        device.close()
        restart_sshd(running_lab, "leaf2")
    assert killed.is_set()
    assert wait_for_exit(txn[0], 60), "the transaction did not finish on the device"
    statuses = list(Path(device.state_dir).glob("txn/*/status"))  # its client never came back to remove it
    assert [path.read_text().strip() for path in statuses] == ["applied"]
    with opened(running_lab, "leaf2") as again:
        again.load_replace_candidate(config=changed)
        assert again.compare_config() == ""  # all of it, not part of it
        commit(again, original)


def test_an_unknown_host_key_is_refused(running_lab: RunningLab, tmp_path: Path) -> None:
    known = Path(running_lab.lab.known_hosts).read_text().splitlines()
    leaf2_key = next(line.split(None, 1)[1] for line in known if line.startswith("172.20.20.22,"))
    forged = tmp_path / "known_hosts"
    forged.write_text(f"172.20.20.21 {leaf2_key}\n")  # leaf1's address with another node's key
    device = running_lab.driver("leaf1", known_hosts=str(forged))
    with pytest.raises(ConnectionException, match=r"172\.20\.20\.21: host key mismatch: the key 172\.20\.20\.21:22 "
                       r"presents is not the one .* has for it"):
        device.open()
    with opened(running_lab, "leaf1"):  # positive control: the same login with the lab's own known_hosts
        pass
