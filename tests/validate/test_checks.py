"""Each check's pass/fail logic, on getter answers recorded from the lab (tests/fixtures/frr/lab-capture).

The fault scenarios were captured with the faults of tests/validate/faults.py in place, so every failing
check below is a real device's answer, not an edited one; the few tests that edit an answer say so and
exercise a rule the lab cannot produce (a platform that reports no state, a bridge shared by two VNIs).
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from napalm.base import NetworkDriver

from tests.validate.recorded import (
    CAPTURE,
    SCENARIOS,
    answers_from_raw,
    captured_state,
    host_macs,
    recorded_answers,
    validate_report,
)
from vxauto.model import load_fabric
from vxauto.validate import checks
from vxauto.validate.checks import Answer, device_checks
from vxauto.validate.convergence import DeviceReader, DriverParams, call_getter
from vxauto.validate.dataplane import HostMacs
from vxauto.validate.expected import ExpectedState, expected_state

pytestmark = pytest.mark.skipif(not CAPTURE.exists(), reason="no lab capture")

ROUTERS = ("spine1", "spine2", "leaf1", "leaf2", "leaf3", "leaf4")


@pytest.fixture(scope="module")
def state() -> ExpectedState:
    return captured_state()


def run_checks(state: ExpectedState, scenario: str, raw: bool = False) -> list[checks.Check]:
    macs = host_macs(scenario, state)
    result = []
    for name in ROUTERS:
        answers = answers_from_raw(scenario, name) if raw else recorded_answers(scenario, name)
        result += device_checks(state.devices[name], answers, state, macs)
    return result


def failed(found: list[checks.Check]) -> set[tuple[str, str]]:
    return {(c.host, c.check) for c in found if not c.passed}


def one(found: list[checks.Check], host: str, name: str) -> checks.Check:
    return next(c for c in found if c.host == host and c.check == name)


# --------------------------------------------------------------------------- whole scenarios

#: Device checks that fail in each recorded fault scenario, worked out from the fault itself.
EXPECTED_FAILURES: dict[str, set[tuple[str, str]]] = {
    "healthy": set(),
    "vni-removed": {
        # leaf1 lost VNI 10020: everything about it on leaf1, and leaf1 from leaf2's point of view
        ("leaf1", "vni 10020 map"), ("leaf1", "vni 10020 source"), ("leaf1", "vni 10020 state"),
        ("leaf1", "vni 10020 flood"), ("leaf1", "type-3 from leaf2 10.0.0.12"), ("leaf1", "mac h2 eth2 (vni 10020)"),
        ("leaf2", "vni 10020 flood"), ("leaf2", "type-3 from leaf1 10.0.0.11"), ("leaf2", "mac h1 eth2 (vni 10020)"),
    },
    "wrong-vni": {
        ("leaf1", "vni 10010 map"), ("leaf1", "vni 10010 source"), ("leaf1", "vni 10010 state"),
        ("leaf1", "vni 10010 flood"), ("leaf1", "vni 10040 unexpected"), ("leaf1", "mac h2 eth1 (vni 10010)"),
        ("leaf1", "type-3 from leaf2 10.0.0.12"), ("leaf1", "type-3 from leaf3 10.0.0.13"),
        ("leaf1", "type-3 from leaf4 10.0.0.14"),
        *((leaf, check) for leaf in ("leaf2", "leaf3", "leaf4")
          for check in ("vni 10010 flood", "type-3 from leaf1 10.0.0.11", "mac h1 eth1 (vni 10010)")),
    },
    "bgpd-stopped": {
        ("spine1", "bgp 10.1.1.1 (leaf1)"), ("spine2", "bgp 10.2.1.1 (leaf1)"),
        ("leaf1", "bgp 10.1.1.0 (spine1)"), ("leaf1", "bgp 10.2.1.0 (spine2)"),
        # without bgpd, leaf1 has no remote VTEP and no remote MAC; the others lose leaf1
        *(("leaf1", f"vni {vni} flood") for vni in (10010, 10020, 10030)),
        *(("leaf1", f"type-3 from leaf{n} 10.0.0.1{n}") for n in (2, 3, 4)),
        *(("leaf1", f"mac {mac}") for mac in ("h2 eth1 (vni 10010)", "h2 eth2 (vni 10020)", "h3 eth1 (vni 10030)",
                                              "h4 eth1 (vni 10030)")),
        ("leaf2", "vni 10010 flood"), ("leaf2", "vni 10020 flood"), ("leaf2", "vni 10030 flood"),
        ("leaf2", "mac h1 eth1 (vni 10010)"), ("leaf2", "mac h1 eth2 (vni 10020)"),
        *((leaf, check) for leaf in ("leaf2", "leaf3", "leaf4") for check in ("type-3 from leaf1 10.0.0.11",)),
        *((leaf, check) for leaf in ("leaf3", "leaf4")
          for check in ("vni 10010 flood", "vni 10030 flood", "mac h1 eth1 (vni 10010)")),
    },
    "mtu-1400": {("leaf1", "mtu eth1 (to spine1)"), ("spine1", "mtu eth1 (to leaf1)")},
    # h3's port sits in red-web's bridge on leaf3: the other leaves learn h3's MAC in VNI 10010. leaf3's
    # own table shows it on eth3, which the intent gives to blue-web: only the remote views can tell.
    "port-leak": {(leaf, "mac h3 eth1 (vni 10030)") for leaf in ("leaf1", "leaf2", "leaf4")},
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_recorded_scenario_fails_exactly_the_broken_checks(state: ExpectedState, scenario: str) -> None:
    found = run_checks(state, scenario)
    assert failed(found) == EXPECTED_FAILURES[scenario]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_verdicts_as_the_live_run(state: ExpectedState, scenario: str) -> None:
    """The live validate run of the scenario (its report) judged every device check the same way."""
    live = {(c["host"], c["check"]): c["passed"] for c in validate_report(scenario)["checks"]
            if c["host"] in ROUTERS}
    assert {(c.host, c.check): c.passed for c in run_checks(state, scenario)} == live


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_raw_outputs_through_the_drivers_parsers_give_the_same_verdicts(state: ExpectedState, scenario: str) -> None:
    recorded = {(c.host, c.check): c.passed for c in run_checks(state, scenario)}
    assert {(c.host, c.check): c.passed for c in run_checks(state, scenario, raw=True)} == recorded


def test_healthy_covers_every_check_kind_per_device(state: ExpectedState) -> None:
    found = run_checks(state, "healthy")
    leaf1 = sorted(c.check for c in found if c.host == "leaf1")
    assert leaf1 == sorted([
        *(f"vni {v} {k}" for v in (10010, 10020, 10030) for k in ("map", "source", "state", "flood")),
        "type-3 from leaf2 10.0.0.12", "type-3 from leaf3 10.0.0.13", "type-3 from leaf4 10.0.0.14",
        "vtep address", "bgp 10.1.1.0 (spine1)", "bgp 10.2.1.0 (spine2)",
        "mtu eth1 (to spine1)", "mtu eth2 (to spine2)",
        "mac h1 eth1 (vni 10010)", "mac h2 eth1 (vni 10010)", "mac h1 eth2 (vni 10020)", "mac h2 eth2 (vni 10020)",
        "mac h3 eth1 (vni 10030)", "mac h4 eth1 (vni 10030)",
    ])
    spine1 = sorted(c.check for c in found if c.host == "spine1")
    assert spine1 == sorted([*(f"bgp 10.1.{n}.1 (leaf{n})" for n in range(1, 5)),
                             *(f"mtu eth{n} (to leaf{n})" for n in range(1, 5))])


def test_type3_view_matches_the_bgp_table(state: ExpectedState) -> None:
    """get_vxlan_vteps (zebra) names the same VTEPs per VNI as the type-3 routes in leaf1's BGP table."""
    routes = json.loads((CAPTURE / "healthy" / "leaf1" / "show_bgp_l2vpn_evpn_route_type_multicast_json.json")
                        .read_text())
    originators: dict[str, set[int]] = {}
    for rd, prefixes in routes.items():
        if not isinstance(prefixes, dict):
            continue
        for prefix in prefixes:
            # "[3]:[0]:[32]:[10.0.0.12]": type 3, ethernet tag, IP length, originator; the VNI is the RD's tag
            if prefix.startswith("[3]:"):
                originator = prefix.rsplit("[", 1)[1].rstrip("]")
                vlan = int(rd.split(":")[1])
                originators.setdefault(originator, set()).add(vlan)
    vteps = recorded_answers("healthy", "leaf1")[checks.GET_VTEPS].value
    expected_vlans = {10010: 10, 10020: 20, 10030: 30}
    for address, info in vteps.items():
        assert {expected_vlans[v] for v in info["vnis"]} <= originators[address]


# --------------------------------------------------------------------------- one check kind at a time


def test_vni_map_on_per_vni_bridges_with_untagged_ports(state: ExpectedState) -> None:
    found = checks.check_vni_mappings(state.devices["leaf1"], recorded_answers("healthy", "leaf1"))
    assert (found[0].check, found[0].passed, found[0].actual) == (
        "vni 10010 map", True, "own bridge br10010, untagged ports (no VLAN on this device)")


def test_vni_map_needs_the_vlan_where_the_intent_tags_it(tmp_path: Path) -> None:
    # the recorded leaf judged against an intent where leaf1's eth3 is an 802.1Q trunk (eth3.10, eth3.20):
    # a getter that reports no VLAN then cannot prove the mapping
    inventory = tmp_path / "inventory"
    shutil.copytree(CAPTURE / "inventory", inventory)
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    hosts["leaf1"]["data"]["ports"] = [{"interface": "eth3", "segments": ["red-web", "red-db"]}]
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    trunk = expected_state(load_fabric(inventory))
    found = checks.check_vni_mappings(trunk.devices["leaf1"], recorded_answers("healthy", "leaf1"))
    verdict = one(found, "leaf1", "vni 10010 map")
    assert not verdict.passed and verdict.actual == "no VLAN reported (bridge br10010) although eth3.10 is tagged"
    assert one(found, "leaf1", "vni 10030 map").passed  # blue-web has no port on leaf1: nothing tagged


def test_vni_map_compares_reported_vlans_and_refuses_shared_bridges(state: ExpectedState) -> None:
    answers = recorded_answers("healthy", "leaf1")
    table = copy.deepcopy(answers[checks.GET_VNIS].value)
    table[10010]["vlan"] = 10  # edited: a platform that reports VLANs (EOS, NX-OS, Junos)
    table[10020]["vlan"] = 30
    table[10030]["bridge"] = table[10020]["bridge"] = "br10030"
    table[10020]["vlan"] = None
    found = checks.check_vni_mappings(state.devices["leaf1"], {checks.GET_VNIS: Answer(table)})
    assert one(found, "leaf1", "vni 10010 map").passed
    shared = one(found, "leaf1", "vni 10020 map")
    assert not shared.passed and shared.actual == "bridge br10030 shared with VNI 10030"
    table[10020]["vlan"] = 30
    wrong = one(checks.check_vni_mappings(state.devices["leaf1"], {checks.GET_VNIS: Answer(table)}),
                "leaf1", "vni 10020 map")
    assert not wrong.passed and wrong.actual.startswith("vlan 30")


def test_a_vlan_mapped_to_the_wrong_vni_shows_as_missing_and_unexpected(state: ExpectedState) -> None:
    answers = recorded_answers("wrong-vni", "leaf1")
    mapping = checks.check_vni_mappings(state.devices["leaf1"], answers)
    assert one(mapping, "leaf1", "vni 10010 map").actual == "absent"
    unexpected = checks.check_unexpected_vnis(state.devices["leaf1"], answers)
    assert [(c.check, c.actual) for c in unexpected] == [
        ("vni 10040 unexpected", "present (interface vxlan10010, bridge br10010)")]


def test_vni_state_unknown_is_not_up(state: ExpectedState) -> None:
    table = copy.deepcopy(recorded_answers("healthy", "leaf1")[checks.GET_VNIS].value)
    assert all(c.passed for c in checks.check_vni_states(state.devices["leaf1"], {checks.GET_VNIS: Answer(table)}))
    table[10010]["state"] = "unknown"  # edited: Junos reports no VNI state
    found = checks.check_vni_states(state.devices["leaf1"], {checks.GET_VNIS: Answer(table)})
    assert not one(found, "leaf1", "vni 10010 state").passed


def test_flood_list_names_the_missing_vtep(state: ExpectedState) -> None:
    found = checks.check_flood_lists(state.devices["leaf2"], recorded_answers("bgpd-stopped", "leaf2"))
    verdict = one(found, "leaf2", "vni 10010 flood")
    assert verdict.expected == "10.0.0.11, 10.0.0.13, 10.0.0.14 (evpn)"
    assert verdict.actual == "10.0.0.13, 10.0.0.14 (evpn), missing 10.0.0.11"
    table = copy.deepcopy(recorded_answers("healthy", "leaf2")[checks.GET_VNIS].value)
    table[10010]["flood_list"] = None  # edited: NX-OS plain-text replies cannot tell
    verdict = one(checks.check_flood_lists(state.devices["leaf2"], {checks.GET_VNIS: Answer(table)}),
                  "leaf2", "vni 10010 flood")
    assert not verdict.passed and "not reported" in verdict.actual


def test_remote_vteps_name_missing_and_unexpected_vnis(state: ExpectedState) -> None:
    found = checks.check_remote_vteps(state.devices["leaf1"], recorded_answers("wrong-vni", "leaf1"))
    verdict = one(found, "leaf1", "type-3 from leaf3 10.0.0.13")
    assert verdict.actual == "VNIs 10030, 10040 (evpn), missing 10010, unexpected 10040"
    absent = checks.check_remote_vteps(state.devices["leaf2"], recorded_answers("bgpd-stopped", "leaf2"))
    assert one(absent, "leaf2", "type-3 from leaf1 10.0.0.11").actual == "absent"


def test_vtep_address_must_be_on_the_source_interface(state: ExpectedState) -> None:
    answers = recorded_answers("healthy", "leaf1")
    assert checks.check_vtep_address(state.devices["leaf1"], answers)[0].passed
    addresses = copy.deepcopy(answers[checks.GET_INTERFACES_IP].value)
    del addresses["lo"]["ipv4"]["10.0.0.11"]  # edited: the VTEP address removed from lo
    verdict = checks.check_vtep_address(state.devices["leaf1"], {checks.GET_INTERFACES_IP: Answer(addresses)})[0]
    assert (verdict.passed, verdict.actual) == (False, "not configured")


def test_bgp_sessions(state: ExpectedState) -> None:
    spine = checks.check_bgp_sessions(state.devices["spine1"], recorded_answers("bgpd-stopped", "spine1"))
    verdict = one(spine, "spine1", "bgp 10.1.1.1 (leaf1)")
    assert verdict.expected == "up, AS 65101, l2vpn evpn" and verdict.actual.startswith("down, AS 65101")
    assert one(spine, "spine1", "bgp 10.1.2.1 (leaf2)").passed
    # leaf1 itself: the driver reports that FRR does not answer; both sessions fail, saying so
    leaf = checks.check_bgp_sessions(state.devices["leaf1"], recorded_answers("bgpd-stopped", "leaf1"))
    assert len(leaf) == 2 and not any(c.passed for c in leaf)
    assert all(c.actual.startswith("unknown: get_bgp_neighbors failed") and "bgpd is not running" in c.actual
               for c in leaf)
    # a device whose BGP answer is empty (no BGP at all) is told apart from a missing neighbor
    empty = checks.check_bgp_sessions(state.devices["leaf1"], {checks.GET_BGP: Answer({})})
    assert {c.actual for c in empty} == {"no BGP neighbors at all (BGP not running?)"}


def test_underlay_mtu(state: ExpectedState) -> None:
    found = checks.check_underlay_mtu(state.devices["leaf1"], recorded_answers("mtu-1400", "leaf1"))
    assert [(c.check, c.passed, c.actual) for c in found] == [
        ("mtu eth1 (to spine1)", False, "up, mtu 1400"), ("mtu eth2 (to spine2)", True, "up, mtu 9100")]


def test_endpoint_macs_on_the_wrong_vni(state: ExpectedState) -> None:
    found = checks.check_endpoint_macs(state.devices["leaf1"], recorded_answers("port-leak", "leaf1"), state,
                                       host_macs("port-leak", state))
    verdict = one(found, "leaf1", "mac h3 eth1 (vni 10030)")
    assert verdict.actual == "only on vxlan10010 (VNI 10010)"
    local = one(found, "leaf1", "mac h1 eth1 (vni 10010)")
    assert local.passed and local.actual == "learned on eth3 (VNI 10010)"


def test_an_unreadable_host_mac_fails_its_checks(state: ExpectedState) -> None:
    found = checks.check_endpoint_macs(state.devices["leaf1"], recorded_answers("healthy", "leaf1"), state,
                                       HostMacs({}, {"h1": "`ip -j link show` failed: exit 255"}))
    verdict = one(found, "leaf1", "mac h1 eth1 (vni 10010)")
    assert not verdict.passed and "exit 255" in verdict.actual


def test_a_getter_error_fails_every_check_that_needs_it_and_names_the_getter(state: ExpectedState) -> None:
    answers = dict(recorded_answers("healthy", "leaf1"))
    answers[checks.GET_VNIS] = Answer(error="get_vxlan_vnis is not implemented by the NAPALM driver x")
    found = device_checks(state.devices["leaf1"], answers, state, host_macs("healthy", state))
    vni = [c for c in found if c.check.startswith("vni ")]
    assert len(vni) == 12 and not any(c.passed for c in vni)
    assert all("get_vxlan_vnis is not implemented" in c.actual for c in vni)
    # the checks that read other getters are unaffected
    assert one(found, "leaf1", "bgp 10.1.1.0 (spine1)").passed


# --------------------------------------------------------------------------- getters through NAPALM


class BareDriver(NetworkDriver):
    """NAPALM's base class with nothing implemented: every getter raises NotImplementedError."""

    def __init__(self) -> None:
        self.hostname = "bare"


class BrokenDriver(BareDriver):
    def get_bgp_neighbors(self):  # type: ignore[override]
        raise ConnectionResetError("the session dropped")

    def get_vxlan_vnis(self) -> dict:
        return {"10010": {"type": "l2"}}  # breaks the contract: a text key, missing fields


def test_call_getter_turns_every_problem_into_an_error_naming_the_getter() -> None:
    assert call_getter(BareDriver(), "get_mac_address_table", "bare").error == (
        "get_mac_address_table is not implemented by the NAPALM driver bare")
    assert call_getter(BareDriver(), "get_vxlan_vnis", "bare").error == (
        "get_vxlan_vnis is not implemented by the NAPALM driver bare")
    assert call_getter(BrokenDriver(), "get_bgp_neighbors", "broken").error == (
        "get_bgp_neighbors failed: ConnectionResetError: the session dropped")
    contract = call_getter(BrokenDriver(), "get_vxlan_vnis", "broken").error
    assert contract is not None and contract.startswith("get_vxlan_vnis broke the getter contract: vni '10010'")


def _mock_files(directory: Path, answers: dict[str, Answer], getters: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for getter in getters:
        value = answers[getter].value
        (directory / f"{getter}.1").write_text(json.dumps(value))


def _read_all(device, params) -> dict[str, Answer]:
    reader = DeviceReader(device, params)
    try:
        return reader.read(checks.needed_getters(device, after_traffic=None))
    finally:
        reader.close()


def test_collect_through_napalms_mock_driver(state: ExpectedState, tmp_path: Path) -> None:
    """NAPALM's own MockDriver replays recorded getters: a spine validates green; a leaf fails every VXLAN
    check, because the mock driver has no VXLAN getters (a getter a driver lacks is never a pass)."""
    macs = host_macs("healthy", state)
    for name in ("spine1", "leaf1"):
        answers = recorded_answers("healthy", name)
        _mock_files(tmp_path / name, answers, [checks.GET_BGP, checks.GET_INTERFACES, checks.GET_INTERFACES_IP,
                                                checks.GET_MACS])
    runs = {}
    for name in ("spine1", "leaf1"):
        device = replace(state.devices[name], driver="mock")

        def params(device, name=name) -> DriverParams:
            return DriverParams("mock", device.name, "u", "p", {"path": str(tmp_path / name)})

        runs[name] = _read_all(device, params)
    spine = device_checks(state.devices["spine1"], runs["spine1"], state, macs)
    assert spine and all(c.passed for c in spine)
    leaf = device_checks(state.devices["leaf1"], runs["leaf1"], state, macs)
    vxlan = [c for c in leaf if c.check.startswith(("vni ", "type-3 "))]
    assert vxlan and not any(c.passed for c in vxlan)
    assert all("not implemented by the NAPALM driver mock" in c.actual for c in vxlan)
    assert one(leaf, "leaf1", "bgp 10.1.1.0 (spine1)").passed


def test_an_unreachable_device_fails_all_its_checks(state: ExpectedState) -> None:
    device = replace(state.devices["spine2"], driver="mock")
    answers = _read_all(device, lambda d: DriverParams("mock", d.name, "u", "p", {"fail_on_open": True}))
    found = device_checks(state.devices["spine2"], answers, state, HostMacs({}, {}))
    assert len(found) == 8 and not any(c.passed for c in found)
    assert all(c.actual.startswith("unknown: cannot open spine2 with NAPALM driver mock") for c in found)


def test_a_platform_without_driver_is_never_a_pass(state: ExpectedState) -> None:
    device = replace(state.devices["leaf2"], driver=None, platform="srlinux")
    answers = _read_all(device, lambda d: DriverParams("x", d.name, None, None))
    found = device_checks(device, answers, state, HostMacs({}, {}))
    assert found and not any(c.passed for c in found)
    assert "platform srlinux has no NAPALM driver" in found[0].actual


def test_vni_source_must_be_the_vtep_address(state: ExpectedState) -> None:
    table = copy.deepcopy(recorded_answers("healthy", "leaf1")[checks.GET_VNIS].value)
    assert all(c.passed for c in checks.check_vni_sources(state.devices["leaf1"], {checks.GET_VNIS: Answer(table)}))
    table[10010]["source_ip"] = "10.0.0.99"  # edited: a VXLAN device created with the wrong `local`
    verdict = one(checks.check_vni_sources(state.devices["leaf1"], {checks.GET_VNIS: Answer(table)}),
                  "leaf1", "vni 10010 source")
    assert (verdict.passed, verdict.expected) == (False, "10.0.0.11 (lo)")
    assert verdict.actual.startswith("10.0.0.99")


def test_an_unreadable_table_fails_even_where_the_intent_expects_nothing(state: ExpectedState) -> None:
    """A VTEP that should carry no VNI and share none with any VTEP still needs a readable table to pass."""
    bare = replace(state.devices["leaf1"], vnis={}, remote_vteps={})
    broken = {checks.GET_VNIS: Answer(error="get_vxlan_vnis failed: EOFError"),
              checks.GET_VTEPS: Answer(error="get_vxlan_vteps failed: EOFError")}
    found = checks.check_unexpected_vnis(bare, broken) + checks.check_remote_vteps(bare, broken)
    assert [(c.check, c.passed) for c in found] == [("vnis unexpected", False), ("vteps unexpected", False)]
    assert checks.check_unexpected_vnis(bare, {checks.GET_VNIS: Answer({})}) == []


def test_every_check_kind_declares_the_getters_it_reads(state: ExpectedState) -> None:
    """Each kind evaluated with only its declared getters gives the same verdicts as with all of them."""
    macs = host_macs("healthy", state)
    context = checks.Context(state, macs)
    for name in ROUTERS:
        device = state.devices[name]
        everything = recorded_answers("vni-removed", name)
        for kind in checks.kinds_for(device):
            declared = {getter: everything[getter] for getter in kind.getters}
            assert kind.evaluate(device, declared, context) == kind.evaluate(device, everything, context), kind.name
