"""Done-when of issue 5 for static-linux: hypervisors that are VTEPs themselves (kernel VXLAN, static flood
lists from the rendered configs, no EVPN) across a routed FRR underlay; VMs reach each other per VNI."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netmiko import ConnectHandler

from tests.lab.conftest import (
    CONTAINERLAB,
    assert_gone,
    footprint,
    needs_lab_machine,
    reaches,
    rendered_lab,
)
from vxauto.lab import api

pytestmark = [pytest.mark.lab, pytest.mark.slow, needs_lab_machine]

TOPOLOGY = CONTAINERLAB / "static-linux.clab.yml"
INVENTORY = CONTAINERLAB / "static-linux" / "inventory"


@pytest.fixture(scope="module")
def static_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[api.Lab]:
    with rendered_lab(INVENTORY, TOPOLOGY, tmp_path_factory.mktemp("static-linux")) as lab:
        yield lab



def test_underlay_bgp_up_and_no_evpn(static_lab: api.Lab) -> None:
    static_lab.wait_bgp(timeout=60)
    with ConnectHandler(**static_lab.netmiko_params("hv1")) as connection:
        assert "hv1" in connection.find_prompt()
        summary = json.loads(connection.send_command("vtysh -c 'show bgp summary json'"))
        deadline = time.monotonic() + 30  # Established comes first, the routes a moment later
        while not all(vtep in (routes := connection.send_command("ip route show proto bgp"))
                      for vtep in ("10.0.1.12", "10.0.1.13")) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert set(summary) == {"ipv4Unicast"}  # the hypervisors speak no EVPN: flooding is static
    assert {peer["state"] for peer in summary["ipv4Unicast"]["peers"].values()} == {"Established"}
    for vtep in ("10.0.1.12", "10.0.1.13"):  # the other VTEPs are reachable through the FRR underlay
        assert vtep in routes, routes


def test_flood_lists_are_static(static_lab: api.Lab) -> None:
    web = static_lab.exec_in("hv1", "bridge fdb show dev vxlan30010").stdout
    db = static_lab.exec_in("hv1", "bridge fdb show dev vxlan30020").stdout
    assert "00:00:00:00:00:00 dst 10.0.1.12 self permanent" in web
    assert "00:00:00:00:00:00 dst 10.0.1.13 self permanent" in web
    assert "00:00:00:00:00:00 dst 10.0.1.13 self permanent" in db
    assert "dst 10.0.1.12" not in db  # db is not attached to hv2


@pytest.mark.parametrize(
    ("source", "address"),
    [("vm1", "10.30.10.2"), ("vm2", "10.30.10.3"), ("vm3", "10.30.10.1"), ("vm1", "10.30.20.3")],
)
def test_vms_reach_each_other_per_vni(static_lab: api.Lab, source: str, address: str) -> None:
    assert reaches(static_lab, source, address), f"{source} cannot reach {address}"


def test_vni_without_the_segment_is_not_reached(static_lab: api.Lab) -> None:
    """vm2 sits on web only: an address in db's subnet on its web port reaches nothing of db. The positive
    control: in the same test, vm2 reaches vm1 over web, so its silence toward db means something."""
    assert reaches(static_lab, "vm2", "10.30.10.1"), "positive control: vm2 cannot reach vm1 over web"
    assert static_lab.exec_in("vm2", "ip addr add 10.30.20.202/24 dev eth1").returncode == 0
    try:
        assert static_lab.exec_in("vm2", "ping -c 2 -W 1 10.30.20.3").returncode != 0
    finally:
        static_lab.exec_in("vm2", "ip addr del 10.30.20.202/24 dev eth1")


def test_down_removes_everything(static_lab: api.Lab) -> None:
    before = footprint(static_lab)
    assert api.down(TOPOLOGY) == []
    assert_gone(before)
    assert not Path(static_lab.lab_dir).exists()
