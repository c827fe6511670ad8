"""The return-shape contract, checked for every platform's result, and the checker itself."""

from __future__ import annotations

import ipaddress
from typing import get_type_hints

import pytest

from tests.getters.vxlan_cases import GETTERS, Case, all_cases, getter_for
from vxauto.devices.contract import (
    VNI_FIELDS,
    VTEP_FIELDS,
    VniInfo,
    VtepInfo,
    ip_sort_key,
    vni_table_problems,
    vtep_table_problems,
)

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_vni_results_keep_the_contract(case: Case) -> None:
    result = getter_for(case, "get_vxlan_vnis")()
    assert vni_table_problems(result) == []
    # the same facts spelled out, independently of the checker
    for vni, info in result.items():
        assert type(vni) is int and 1 <= vni <= 16_777_215
        assert set(info) == set(VniInfo.__annotations__)
        assert info["vlan"] is None or type(info["vlan"]) is int
        for address in [info["source_ip"], info["mcast_group"], *(info["flood_list"] or [])]:
            assert address is None or str(ipaddress.ip_address(address)) == address
        if info["flood_list"] is not None:
            assert info["flood_list"] == sorted(info["flood_list"], key=ip_sort_key)
        if info["type"] == "l3":
            assert info["flood_list"] == [], (vni, info)


@pytest.mark.parametrize("case", [c for c in CASES if "get_vxlan_vteps" in c.expected], ids=lambda case: case.id)
def test_vtep_results_keep_the_contract(case: Case) -> None:
    result = getter_for(case, "get_vxlan_vteps")()
    assert vtep_table_problems(result) == []
    for address, info in result.items():
        assert str(ipaddress.ip_address(address)) == address
        assert set(info) == set(VtepInfo.__annotations__)
        assert info["vnis"] is None or info["vnis"] == sorted(set(info["vnis"]))
        assert info["vnis"] is None or all(type(vni) is int for vni in info["vnis"])


def test_vteps_are_the_flood_list_members_and_more() -> None:
    """Every flood-list VTEP shows up in get_vxlan_vteps with that VNI (when both getters ran)."""
    for case in CASES:
        if not set(GETTERS) <= set(case.expected):
            continue
        vnis = getter_for(case, "get_vxlan_vnis")()
        vteps = getter_for(case, "get_vxlan_vteps")()
        for vni, info in vnis.items():
            for address in info["flood_list"] or []:
                assert address in vteps and vni in (vteps[address]["vnis"] or []), (case.id, vni, address)


def test_typeddicts_are_what_the_checker_checks() -> None:
    assert set(get_type_hints(VniInfo)) == VNI_FIELDS
    assert set(get_type_hints(VtepInfo)) == VTEP_FIELDS


def _good_vni() -> dict[str, object]:
    return {"type": "l2", "vlan": 10, "state": "up", "learning": "evpn", "interface": "Vxlan1",
            "source_ip": "10.0.0.1", "source_interface": "Loopback1", "flood_list": ["10.0.0.2", "10.0.0.10"],
            "mcast_group": None, "vrf": None, "bridge": None, "svi": None}


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ({"10": _good_vni()}, "key is not an int VNI"),
        ({True: _good_vni()}, "key is not an int VNI"),
        ({16_777_216: _good_vni()}, "key is not an int VNI"),
        ({10: {**_good_vni(), "flood_list": ["10.0.0.10", "10.0.0.2"]}}, "not sorted"),
        ({10: {**_good_vni(), "flood_list": ["10.0.0.2", "10.0.0.2"]}}, "not sorted/unique"),
        ({10: {**_good_vni(), "flood_list": ["10.000.0.2"]}}, "canonical IP"),
        ({10: {**_good_vni(), "vlan": "10"}}, "bad vlan"),
        ({10: {**_good_vni(), "vlan": 4095}}, "bad vlan"),
        ({10: {**_good_vni(), "state": "Up"}}, "bad state"),
        ({10: {**_good_vni(), "learning": "bgp"}}, "bad learning"),
        ({10: {k: v for k, v in _good_vni().items() if k != "svi"}}, "keys"),
        ([], "not a dict"),
    ],
)
def test_vni_checker_catches_broken_tables(table: object, complaint: str) -> None:
    assert vni_table_problems({10: _good_vni()}) == []
    problems = vni_table_problems(table)
    assert any(complaint in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ({"10.0.0.02": {"vnis": [1], "state": "up", "learning": "evpn"}}, "canonical IP"),
        ({"10.0.0.2": {"vnis": [2, 1], "state": "up", "learning": "evpn"}}, "sorted unique"),
        ({"10.0.0.2": {"vnis": ["1"], "state": "up", "learning": "evpn"}}, "int VNIs"),
        ({"10.0.0.2": {"vnis": [1], "state": "established", "learning": "evpn"}}, "bad state"),
        ({"10.0.0.2": {"vnis": [1], "state": "up"}}, "keys"),
    ],
)
def test_vtep_checker_catches_broken_tables(table: object, complaint: str) -> None:
    assert vtep_table_problems({"10.0.0.2": {"vnis": None, "state": "unknown", "learning": "unknown"}}) == []
    problems = vtep_table_problems(table)
    assert any(complaint in problem for problem in problems), problems


def test_ip_sort_is_numeric_and_v4_first() -> None:
    assert sorted(["2001:db8::1", "10.0.0.10", "10.0.0.9"], key=ip_sort_key) == ["10.0.0.9", "10.0.0.10", "2001:db8::1"]
