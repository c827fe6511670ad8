"""NAPALM's compliance_report (napalm.base.validate) with a validation file, on the driver replaying the answers
recorded from the lab (mocked_data/*/evpn-frr-leaf1): the report says complies, and a control file with one
wrong expectation in the same run says it does not, naming that getter."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.napalm_frr.conftest import NapalmFrrDriver
from tests.napalm_frr.double import RECORDED_HOST, ReplaySession

VALIDATION = Path(__file__).resolve().parent / "validation" / "leaf1.yaml"


def replaying_driver() -> NapalmFrrDriver:
    device = NapalmFrrDriver(RECORDED_HOST, "root", "")
    device._session = ReplaySession("evpn-frr-leaf1")  # type: ignore[assignment]
    return device


def test_the_recorded_leaf_complies_with_its_validation_file() -> None:
    report = replaying_driver().compliance_report(validation_file=str(VALIDATION))
    assert report["complies"] is True, report
    assert set(report) >= {"get_facts", "get_interfaces_ip", "get_bgp_neighbors", "get_lldp_neighbors",
                           "get_route_to", "skipped"}
    assert report["skipped"] == []


def test_a_wrong_expectation_fails_the_report(tmp_path: Path) -> None:
    rules = yaml.safe_load(VALIDATION.read_text())
    rules[2]["get_bgp_neighbors"]["global"]["peers"]["10.2.1.0"]["remote_as"] = 65099
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump(rules))
    report = replaying_driver().compliance_report(validation_file=str(wrong))
    assert report["complies"] is False
    assert report["get_bgp_neighbors"]["complies"] is False
    assert all(report[getter]["complies"] for getter in ("get_facts", "get_interfaces_ip", "get_lldp_neighbors"))
