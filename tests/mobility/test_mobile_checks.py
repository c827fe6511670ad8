"""Validate knows where each mobile endpoint is: the `mobile-endpoint` checks on getter answers recorded from
the multisite lab right after vm1 moved from leaf1 to leaf3 (tests/fixtures/mobility/README.md). Tests that
edit an answer say so; each makes one kind of stale state the check must name on the VTEP holding it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.conftest import REPO
from vxauto.devices.parsers.mobility import EVPN_MACS, FDB, LINKS, VxlanMacTable, get_vxlan_macs
from vxauto.devices.parsers.replies import Reply
from vxauto.model.fabric import load_fabric
from vxauto.validate import checks
from vxauto.validate.checks import Answer
from vxauto.validate.expected import ExpectedState, expected_state

FIXTURES = REPO / "tests" / "fixtures" / "mobility"
INVENTORY = REPO / "containerlab" / "multisite" / "inventory"
VM1 = "02:00:00:40:00:01"


@pytest.fixture(scope="module")
def state() -> ExpectedState:
    return expected_state(load_fabric(INVENTORY))


def recorded(node: str, evpn: bool = True) -> VxlanMacTable:
    files = {EVPN_MACS: "evpn-mac.json", LINKS: "links.json", FDB: "fdb.json"}
    return get_vxlan_macs(lambda c: Reply("frr", c, (FIXTURES / f"{node}-{files[c]}").read_text(), node), evpn=evpn)


def mobile(state: ExpectedState, node: str, table: VxlanMacTable) -> dict[str, checks.Check]:
    found = checks.check_mobile_endpoints(state.devices[node], {checks.GET_VXLAN_MACS: Answer(table)}, state)
    return {c.check: c for c in found}


def test_parser_reads_place_sequence_and_detection() -> None:
    leaf1, leaf3 = recorded("leaf1")[40010][VM1], recorded("leaf3")[40010][VM1]
    assert leaf1["vteps"] == ["10.0.4.13"] and leaf1["ports"] == []
    assert leaf1["evpn"] is not None and leaf1["evpn"]["remote_seq"] == 1 and leaf1["evpn"]["vtep"] == "10.0.4.13"
    assert leaf3["ports"] == ["eth3"] and leaf3["evpn"] is not None and leaf3["evpn"]["local_seq"] == 1
    assert leaf3["evpn"]["detections"] == 1 and not leaf3["evpn"]["duplicate"]


def test_after_the_move_every_mobile_check_passes(state: ExpectedState) -> None:
    leaf1, leaf3 = mobile(state, "leaf1", recorded("leaf1")), mobile(state, "leaf3", recorded("leaf3"))
    assert all(c.passed for c in [*leaf1.values(), *leaf3.values()]), [
        (c.host, c.check, c.actual) for c in [*leaf1.values(), *leaf3.values()] if not c.passed]
    assert leaf1["mobile vm1 (vni 40010) place"].actual == "behind 10.0.4.13 (leaf3)"
    assert leaf3["mobile vm1 (vni 40010) place"].actual == "local on eth3; leftover VXLAN entry to 10.0.4.11"
    assert leaf3["mobile vm1 (vni 40010) mobility sequence"].actual == "local seq 1, remote seq 0"
    assert "mobile vm1 (vni 40010) mobility sequence" not in leaf1  # judged where the MAC is local
    assert leaf3["mobile vm1 (vni 40010) duplicate detection"].actual == "not duplicate (1 detections)"
    assert len(leaf1) == 8 and len(leaf3) == 10  # place and DAD per VM, sequence where local (vm1, vm3)


def test_stale_fdb_entry_to_the_old_place_is_named_on_its_vtep(state: ExpectedState) -> None:
    """Edited: leaf1's kernel still forwards vm1 to leaf1's old neighbour leaf2 while EVPN says leaf3."""
    table = copy.deepcopy(recorded("leaf1"))
    table[40010][VM1]["vteps"] = ["10.0.4.12"]
    place = mobile(state, "leaf1", table)["mobile vm1 (vni 40010) place"]
    assert not place.passed and place.host == "leaf1"
    assert place.actual == "stale: FDB forwards behind 10.0.4.12 (leaf2), EVPN has it behind 10.0.4.13 (leaf3)"


def test_two_places_fail(state: ExpectedState) -> None:
    """Edited: leaf1 forwards vm1 to two VTEPs (a static-flood VTEP that learned the new place beside the old)."""
    table = copy.deepcopy(recorded("leaf1", evpn=False))
    table[40010][VM1]["vteps"] = ["10.0.4.11", "10.0.4.13"]
    place = mobile(state, "leaf1", table)["mobile vm1 (vni 40010) place"]
    assert not place.passed and place.actual.startswith("at 2 places")


def test_duplicate_detection_and_a_sequence_that_did_not_rise_fail(state: ExpectedState) -> None:
    """Edited: zebra flagged vm1 duplicate on leaf3, where vm1 is local with a sequence not above the remote."""
    table = copy.deepcopy(recorded("leaf3"))
    evpn = table[40010][VM1]["evpn"]
    assert evpn is not None
    evpn.update({"duplicate": True, "detections": 5, "remote_seq": 1})
    found = mobile(state, "leaf3", table)
    assert not found["mobile vm1 (vni 40010) duplicate detection"].passed
    assert found["mobile vm1 (vni 40010) mobility sequence"].actual == "local seq 1, remote seq 1"
    assert not found["mobile vm1 (vni 40010) mobility sequence"].passed
    assert found["mobile vm3 (vni 40010) duplicate detection"].passed  # control: vm3 untouched
    assert found["mobile vm3 (vni 40010) mobility sequence"].passed  # 0/0: never moved


def test_unknown_on_evpn_fails_and_a_missing_getter_never_passes(state: ExpectedState) -> None:
    table = copy.deepcopy(recorded("leaf1"))
    del table[40010][VM1]
    assert mobile(state, "leaf1", table)["mobile vm1 (vni 40010) place"].actual.startswith("not known")
    missing = checks.check_mobile_endpoints(state.devices["leaf1"], {}, state)
    assert missing and not any(c.passed for c in missing)


def test_only_vteps_with_mobile_segments_read_the_getter(state: ExpectedState, tmp_path: Path) -> None:
    assert checks.GET_VXLAN_MACS in checks.needed_getters(state.devices["leaf1"], None)
    assert checks.GET_VXLAN_MACS not in checks.needed_getters(state.devices["spine1"], None)
    demo = expected_state(load_fabric(REPO / "inventory"))  # no mobile endpoints: nothing more to read
    assert all(checks.GET_VXLAN_MACS not in checks.needed_getters(d, None) for d in demo.devices.values())
