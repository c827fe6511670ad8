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


# --------------------------------------------------------------------------- forwarding, judged across VTEPs

LEAVES = ("leaf1", "leaf2", "leaf3", "leaf4")


def only_vm1(table: VxlanMacTable) -> VxlanMacTable:
    return {40010: {VM1: copy.deepcopy(table[40010][VM1])}}


def behind(*vteps: str) -> VxlanMacTable:
    """A VTEP whose kernel forwards vm1 to `vteps` (its only entry): the getter's shape, not a device capture."""
    return {40010: {VM1: {"ports": [], "vteps": list(vteps), "evpn": None}}}


def after_move() -> dict[str, VxlanMacTable]:
    """vm1 moved from leaf1 to leaf3 (recorded on both), leaf2 and leaf4 forward it to leaf3."""
    return {"leaf1": only_vm1(recorded("leaf1")), "leaf3": only_vm1(recorded("leaf3")),
            "leaf2": behind("10.0.4.13"), "leaf4": behind("10.0.4.13")}


def forwarding(state: ExpectedState, tables: dict[str, VxlanMacTable | None]) -> dict[str, checks.Check]:
    answers = {name: {checks.GET_VXLAN_MACS: Answer(table) if table is not None else Answer(error="timed out")}
               for name, table in tables.items()}
    found = checks.check_stale_forwarding(state, answers)
    return {c.host: c for c in found if c.check == "mobile vm1 (vni 40010) forwarding"}


def test_every_vtep_of_the_segment_is_judged_together(state: ExpectedState) -> None:
    assert checks.stale_forwarding_devices(state) == LEAVES
    found = forwarding(state, dict(after_move()))
    assert all(c.passed for c in found.values()), [(c.host, c.actual) for c in found.values() if not c.passed]
    assert found["leaf1"].actual == "behind 10.0.4.13 (leaf3), where it is local"
    assert found["leaf3"].actual == "local here"


def test_a_vtep_forwarding_to_the_old_place_is_named(state: ExpectedState) -> None:
    """leaf4 kept the entry data-plane learning gave it before the move (vm1 behind leaf1); the others are
    right, and stay green in the same judgement (positive control)."""
    tables = dict(after_move(), leaf4=behind("10.0.4.11"))
    found = forwarding(state, dict(tables))
    assert not found["leaf4"].passed and found["leaf4"].kind == "mobile"
    assert found["leaf4"].actual == ("stale: forwards behind 10.0.4.11 (leaf1), which no longer has it; "
                                     "it is now at leaf3")
    assert all(found[name].passed for name in ("leaf1", "leaf2", "leaf3"))


def test_a_vm_that_never_announced_itself_is_at_no_vtep(state: ExpectedState) -> None:
    tables = dict(after_move(), leaf3=behind("10.0.4.11"))  # silent since it moved: no VTEP has it locally
    found = forwarding(state, dict(tables))
    assert found["leaf3"].actual.endswith("it is now at no VTEP (not heard from since it moved)")
    assert not found["leaf1"].passed and "10.0.4.13 (leaf3), which no longer has it" in found["leaf1"].actual


def test_two_local_places_and_an_unreadable_table_fail(state: ExpectedState) -> None:
    tables: dict[str, VxlanMacTable | None] = dict(after_move())
    tables["leaf2"] = {40010: {VM1: {"ports": ["eth3"], "vteps": [], "evpn": None}}}
    found = forwarding(state, tables)
    assert found["leaf2"].actual == "local here and also local at leaf3" and not found["leaf2"].passed
    assert found["leaf3"].actual == "local here and also local at leaf2" and not found["leaf3"].passed
    tables = dict(after_move(), leaf3=None)
    found = forwarding(state, tables)
    assert found["leaf3"].actual == "unknown: timed out" and not found["leaf3"].passed
    assert found["leaf1"].actual.startswith("unknown: forwards behind 10.0.4.13 (leaf3), whose table is unreadable")
    assert found["leaf4"].actual.startswith("unknown: ") and not found["leaf4"].passed


def test_a_partial_selection_is_not_judged_across_vteps() -> None:
    """Without every VTEP of the segment in the run, a stale entry cannot be told from a right one: no check
    (rather than one that passes without evidence)."""
    partial = expected_state(load_fabric(INVENTORY), ["leaf1", "leaf3"])
    assert checks.stale_forwarding_devices(partial) == ()
    assert checks.check_stale_forwarding(partial, {}) == []


class ScriptedDriver:
    """NAPALM-shaped double: `get_vxlan_macs` answers from a list, one entry per read (the last one repeats);
    every other getter is not implemented (those checks fail, which keeps the engine going round)."""

    def __init__(self, answers: list[VxlanMacTable], reads: list[str], name: str) -> None:
        self.answers, self.reads, self.name = answers, reads, name

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def get_vxlan_macs(self) -> VxlanMacTable:
        self.reads.append(self.name)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_the_engine_re_reads_every_vtep_until_the_stale_entry_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """leaf4 forwards vm1 to its old place in the first read and to the new one from the second on: the engine
    re-reads, judges again across the VTEPs, and the check converges (fail, then pass, not flapping)."""
    from vxauto.validate import convergence as runner

    monkeypatch.setattr(runner, "POLL_INTERVAL_S", 0.05)
    tables = after_move()
    script = {name: [tables[name]] for name in LEAVES}
    script["leaf4"] = [behind("10.0.4.11"), behind("10.0.4.13")]
    reads: list[str] = []
    run = runner.run_validation(
        load_fabric(INVENTORY), list(LEAVES), shell=None,  # type: ignore[arg-type]  # no endpoints: no probes
        params_for=lambda device: runner.DriverParams("frr", device.name, None, None),
        wait=0.5, factory=lambda params: ScriptedDriver(script[params.hostname], reads, params.hostname))
    check = next(c for c in run.checks if c.host == "leaf4" and c.check == "mobile vm1 (vni 40010) forwarding")
    assert check.passed and check.first_passed_s is not None and check.first_passed_s > 0 and not check.flapping
    assert run.rounds >= 2 and reads.count("leaf4") >= 2
