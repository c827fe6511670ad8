"""containerlab/mixed-pyvtep.clab.yml: FRR leaves and a pyvtep node (issue 7, item 4) in one lab.

pyvtep joins the FRR fabric over BGP EVPN (GoBGP) for red-web and floods statically with leaf2 for red-db;
hosts behind FRR and behind pyvtep reach each other in both segments, and `down` leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.conftest import (
    CONTAINERLAB,
    assert_gone,
    footprint,
    needs_lab_machine,
    reaches,
    rendered_lab,
)
from vxauto.lab import api
from vxauto.vtep.api import request

pytestmark = [pytest.mark.lab, pytest.mark.slow, needs_lab_machine]

TOPOLOGY = CONTAINERLAB / "mixed-pyvtep.clab.yml"
INVENTORY = CONTAINERLAB / "mixed-pyvtep" / "inventory"


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
