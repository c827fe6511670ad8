"""containerlab/mixed-pyvtep.clab.yml: FRR leaves and a pyvtep node (issue 7, item 4) in one lab.

pyvtep joins the FRR fabric over BGP EVPN (GoBGP) for red-web and floods statically with leaf2 for red-db;
hosts behind FRR and behind pyvtep reach each other in both segments, and `down` leaves nothing behind.
`vxauto deploy` and `validate` manage every node, pv1 through the pyvtep NAPALM driver (issue 18, item 5).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from napalm.base.exceptions import CommitError, ConnectionException

from tests.lab.conftest import (
    CONTAINERLAB,
    assert_gone,
    footprint,
    needs_lab_machine,
    reaches,
    rendered_lab,
)
from vxauto.deploy.run import DeployOptions, HostOutcome, deploy, rollback
from vxauto.devices.access import lab_driver_params, napalm_driver
from vxauto.lab import api
from vxauto.model import load_fabric
from vxauto.model.fabric import Fabric
from vxauto.validate.run import validate_fabric
from vxauto.vtep.api import request

pytestmark = [pytest.mark.lab, pytest.mark.slow, needs_lab_machine]

TOPOLOGY = CONTAINERLAB / "mixed-pyvtep.clab.yml"
INVENTORY = CONTAINERLAB / "mixed-pyvtep" / "inventory"
SOCKET = Path("/run/pyvtep/pv1.sock")
LEAVES = ("leaf1", "leaf2")


@pytest.fixture(scope="module")
def mixed_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[api.Lab]:
    with rendered_lab(INVENTORY, TOPOLOGY, tmp_path_factory.mktemp("mixed-pyvtep")) as lab:
        yield lab



def test_evpn_between_frr_and_pyvtep(mixed_lab: api.Lab) -> None:
    assert reaches(mixed_lab, "h1", "10.10.10.2", timeout=45), "h1 (behind FRR leaf1) cannot reach h2 (behind pyvtep)"
    # FRR installed pyvtep's type-3 route as a flood entry, and pyvtep learned leaf1 from FRR's type-3 route.
    fdb = mixed_lab.exec_in("leaf1", "bridge fdb show dev vxlan10010").stdout
    assert "00:00:00:00:00:00 dst 10.0.0.13 self permanent" in fdb
    vnis = {entry["vni"]: entry for entry in request(Path("/run/pyvtep/pv1.sock"), "vnis")}
    assert "10.0.0.11" in vnis[10010]["flood"]


def test_static_flooding_between_frr_kernel_and_pyvtep(mixed_lab: api.Lab) -> None:
    assert reaches(mixed_lab, "h3", "10.10.20.2", timeout=45), "h3 (behind leaf2) cannot reach h2 (behind pyvtep)"
    fdb = mixed_lab.exec_in("leaf2", "bridge fdb show dev vxlan10020").stdout
    assert "00:00:00:00:00:00 dst 10.0.0.13 self permanent" in fdb


def test_tcp_from_pyvtep_to_an_frr_leaf_is_cut_by_the_kernel(mixed_lab: api.Lab) -> None:
    """iperf3 from h2 (behind pyvtep) to h1 (behind FRR leaf1): pyvtep hands its TCP super-frames to the
    kernel through its GSO TAP inside the lab node (Linux 6.17+), and the FRR leaf's kernel VTEP takes them."""
    assert reaches(mixed_lab, "h2", "10.10.10.1", timeout=45)
    status = request(Path("/run/pyvtep/pv1.sock"), "status")
    if status["kernel_segmentation"] is None:
        log = (Path(mixed_lab.nodes["pv1"].node_dir) / "pyvtep.log").read_text(errors="replace")
        if "Invalid argument" in log:
            pytest.skip("kernel before 6.17: no UDP tunnel GSO on TAP writes")
        pytest.fail(f"pyvtep runs without kernel segmentation in the lab:\n{log[-2000:]}")
    before = request(Path("/run/pyvtep/pv1.sock"), "counters")["global"]["kernel_segmented"]
    assert mixed_lab.exec_in("h1", "iperf3 -s -1 -D").returncode == 0
    done = mixed_lab.exec_in("h2", "iperf3 -c 10.10.10.1 -t 1 -J", timeout=30)
    assert done.returncode == 0, done.stdout[-500:] + done.stderr
    assert json.loads(done.stdout)["end"]["sum_received"]["bytes"] > 1_000_000
    assert request(Path("/run/pyvtep/pv1.sock"), "counters")["global"]["kernel_segmented"] > before


def _deploy(fabric: Fabric, backups: Path) -> dict[str, HostOutcome]:
    outcomes = deploy(fabric, sorted(fabric.hosts), DeployOptions(commit=True, lab=TOPOLOGY, backups=backups))
    return {outcome.host: outcome for outcome in outcomes}


def _failed(run: object) -> list[tuple[str, str, str]]:
    return [(c.host, c.check, c.actual) for c in run.checks if not c.passed]  # type: ignore[attr-defined]


def test_deploy_and_validate_are_green_on_every_node_and_a_second_deploy_changes_nothing(
        mixed_lab: api.Lab, tmp_path: Path) -> None:
    fabric = load_fabric(INVENTORY)
    first = _deploy(fabric, tmp_path)
    assert {name: o.error for name, o in first.items() if o.status == "failed"} == {}
    run = validate_fabric(fabric, lab=TOPOLOGY)
    assert run.passed, _failed(run)
    # pv1 is judged from its own getters (VNIs, flood lists, remote VTEPs, BGP, MTU, MACs), nothing skipped
    judged = {c.check for c in run.checks if c.host == "pv1"}
    assert {"vni 10010 flood", "vni 10020 flood", "type-3 from leaf1 10.0.0.11", "flood to leaf2 10.0.0.12",
            "bgp 10.1.3.0 (spine1)", "mtu eth1 (to spine1)", "vtep address"} <= judged, judged
    assert {name: o.status for name, o in _deploy(fabric, tmp_path).items()} == dict.fromkeys(fabric.hosts,
                                                                                              "unchanged")


def test_a_broken_pyvtep_fails_validate_on_pv1_only_and_deploy_and_rollback_manage_it(
        mixed_lab: api.Lab, tmp_path: Path) -> None:
    """pv1's static flood list for red-db emptied behind vxauto's back (file edited, pyvtep reloaded):
    validate names pv1 while the FRR leaves stay green; deploy puts the line back (positive control: green
    again), rollback undoes that commit, and a deploy repairs it once more."""
    fabric = load_fabric(INVENTORY)
    config = Path(mixed_lab.nodes["pv1"].node_dir) / "pyvtep.yaml"
    good = config.read_text()
    assert "flood: [10.0.0.12]" in good
    config.write_text(good.replace("flood: [10.0.0.12]", "flood: []"))
    request(SOCKET, "reload")
    chosen = ["pv1", *LEAVES]
    broken = validate_fabric(fabric, chosen, lab=TOPOLOGY, wait=5)
    failed = _failed(broken)
    assert ("pv1", "vni 10020 flood") in {(host, check) for host, check, _ in failed}, failed
    assert [f for f in failed if f[0] in LEAVES] == []
    assert any(c.passed for c in broken.checks if c.host in LEAVES)

    repaired = _deploy(fabric, tmp_path)
    assert {name for name, o in repaired.items() if o.status != "unchanged"} == {"pv1"}, repaired
    assert "+    flood: [10.0.0.12]" in repaired["pv1"].diff.splitlines()
    backup = Path(str(repaired["pv1"].backup))  # the file the commit replaced
    assert backup.suffix == ".yaml" and "    flood: []\n    learning: true" in backup.read_text()
    assert {row["vni"]: row["flood"] for row in request(SOCKET, "vnis")}[10020] == ["10.0.0.12"]
    fixed = validate_fabric(fabric, chosen, lab=TOPOLOGY)
    assert fixed.passed, _failed(fixed)

    undone = rollback(fabric, "pv1", None, tmp_path, TOPOLOGY)
    assert undone.status == "changed" and "-    flood: [10.0.0.12]" in undone.diff.splitlines(), undone
    assert {row["vni"]: row["flood"] for row in request(SOCKET, "vnis")}[10020] == []
    assert _deploy(fabric, tmp_path)["pv1"].status == "changed"
    assert config.read_text() == good


def test_pyvtep_driver_reads_facts_and_refuses_what_pyvtep_cannot_run(mixed_lab: api.Lab) -> None:
    params = lab_driver_params(mixed_lab.napalm_params("pv1"), "pyvtep")
    driver = napalm_driver(params)
    driver.open()
    try:
        facts = driver.get_facts()
        assert (facts["hostname"], facts["model"]) == ("pv1", "pyvtep") and "pv10010" in facts["interface_list"]
        assert set(driver.get_vxlan_macs()) == {10010, 10020}
        good = driver.get_config(retrieve="running")["running"]
        # passes pyvtep's loader, but the reload cannot put the new TAP into a bridge that does not exist
        added = good.replace("vnis:\n", "vnis:\n  - vni: 10030\n    bridge: brmissing\n    flood: []\n", 1)
        driver.load_replace_candidate(config=added)
        with pytest.raises(CommitError, match=r"pv1|172\.20\.22\.23") as caught:
            driver.commit_config()
        assert "rolled back (restored)" in str(caught.value) and "brmissing" in str(caught.value)
        assert driver.get_config(retrieve="running")["running"] == good
        assert [row["vni"] for row in request(SOCKET, "vnis")] == [10010, 10020]
    finally:
        driver.close()
    # an API socket nobody listens on: one line naming the host, the socket and what to do
    wrong = lab_driver_params({**mixed_lab.napalm_params("pv1"), "optional_args": {
        **mixed_lab.napalm_params("pv1")["optional_args"], "api_socket": "/run/pyvtep/absent.sock"}}, "pyvtep")
    with pytest.raises(ConnectionException) as refused:
        napalm_driver(wrong).open()
    message = str(refused.value)
    assert "\n" not in message and "172.20.22.23" in message and "/run/pyvtep/absent.sock" in message
    assert "api_socket" in message


def test_down_removes_pyvtep_too(mixed_lab: api.Lab) -> None:
    """Its process, its API socket outside the lab directory, and its scratch directory (in the node's
    directory, not in /tmp)."""
    before = footprint(mixed_lab)
    assert any("pyvtep" in name for name in mixed_lab.nodes["pv1"].pids)
    socket = Path("/run/pyvtep/pv1.sock")
    assert socket.is_socket()
    assert list((Path(mixed_lab.nodes["pv1"].node_dir) / "tmp").glob("pyvtep-pv1-*"))
    assert api.down(TOPOLOGY) == []
    assert_gone(before)
    assert not socket.exists()
