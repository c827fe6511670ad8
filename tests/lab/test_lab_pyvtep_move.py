"""`vxauto lab move` onto and off a pyvtep node (mixed-pyvtep): the host's NIC joins the bridge pyvtep's TAP
sits in (br<VNI>, no kernel VXLAN device there), and after it comes home behind the FRR leaf, pyvtep and the
leaf forward to its new place again (the pyvtep case)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.lab.conftest import CONTAINERLAB, cli, needs_lab_machine, rendered_lab
from vxauto.lab import api

pytestmark = [pytest.mark.lab, pytest.mark.slow, needs_lab_machine]

TOPOLOGY = CONTAINERLAB / "mixed-pyvtep.clab.yml"
INVENTORY = CONTAINERLAB / "mixed-pyvtep" / "inventory"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[api.Lab]:
    with rendered_lab(INVENTORY, TOPOLOGY, tmp_path_factory.mktemp("pyvtep-move")) as running:
        yield running


def test_host_moves_onto_pyvtep_and_home_again(lab: api.Lab) -> None:
    assert lab.wait_reachable("h1", "10.10.10.2", 60) >= 0  # h1 behind leaf1, h2 behind pv1 (red-web)
    code, output = cli("lab", "move", str(TOPOLOGY), "h1", "--to", "pv1", "--json")
    assert code == 0, output
    nic = json.loads(output)["nics"][0]
    assert (nic["vni"], nic["bridge"]) == (10010, "br10010")  # pyvtep's bridge, found by the VNI's name
    assert lab.wait_reachable("h1", "10.10.10.2", 30) >= 0
    code, output = cli("lab", "move", str(TOPOLOGY), "h1", "--to", "leaf1")
    assert code == 0 and "leaf1:eth3" in output, output
    assert lab.wait_reachable("h1", "10.10.10.2", 30) >= 0  # across the overlay again: leaf1 <-> pyvtep
