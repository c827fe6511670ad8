"""Report formats: the JSON shape, JUnit XML that CI tools read, the Rich table."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console

from vxauto.validate.checks import Check
from vxauto.validate.report import print_report, report_json, write_junit

CHECKS = [
    Check("leaf1", "vni 10010 map", "vlan 10 (red-web)", "vlan 10", True, "vni", first_passed_s=0.4),
    Check("leaf1", "vni 10020 map", "vlan 20 (red-db)", "absent", False, "vni"),
    Check("h1", "ping red-web: h2 10.10.10.2", "reply (from eth1.10)", "reply", True, "ping", first_passed_s=2.25,
          flapping=True),
]
FIELDS = ["actual", "check", "expected", "first_passed_s", "flapping", "host", "passed"]


def test_json_has_exactly_the_documented_shape() -> None:
    data = json.loads(json.dumps(report_json(CHECKS)))
    assert data["passed"] is False
    assert [sorted(check) for check in data["checks"]] == [FIELDS] * 3
    assert data["checks"][1] == {"host": "leaf1", "check": "vni 10020 map", "expected": "vlan 20 (red-db)",
                                 "actual": "absent", "passed": False, "first_passed_s": None, "flapping": False}
    assert (data["checks"][2]["first_passed_s"], data["checks"][2]["flapping"]) == (2.25, True)
    facts = {"converged_s": None, "median_check_s": 1.325, "worst_check_s": 2.25, "rounds": 4, "wait_s": 60.0}
    with_facts = report_json(CHECKS, facts)
    assert list(with_facts) == ["passed", *facts, "checks"]
    assert report_json([c for c in CHECKS if c.passed])["passed"] is True
    assert report_json([])["passed"] is False  # nothing checked is not a pass


def test_junit_one_suite_per_host_and_a_failure_per_failed_check(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "validate.xml"
    write_junit(CHECKS, path, seconds=1.5)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("3", "1")
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert set(suites) == {"leaf1", "h1"}
    assert suites["leaf1"].get("failures") == "1"
    cases = {case.get("name"): case for case in root.iter("testcase")}
    failure = cases["vni 10020 map"].find("failure")
    assert failure is not None
    assert failure.get("message") == "expected vlan 20 (red-db), got absent"
    assert cases["vni 10020 map"].get("classname") == "leaf1.vni"
    assert cases["ping red-web: h2 10.10.10.2"].find("failure") is None
    # time = seconds until the check first passed; a failed check took the whole run
    assert [cases[name].get("time") for name in ("vni 10010 map", "vni 10020 map")] == ["0.400", "1.500"]
    flapped = cases["ping red-web: h2 10.10.10.2"].find("system-out")
    assert flapped is not None and "flapping" in (flapped.text or "")


def test_table_shows_every_check_and_the_verdicts() -> None:
    console = Console(record=True, width=200)
    print_report(console, CHECKS, seconds=2.0)
    text = console.export_text()
    assert "3 checks on 2 hosts in 2.0 s: 1 failed" in text
    assert "vni 10020 map" in text and "FAIL" in text and "pass" in text and "(flapped)" in text
    console = Console(record=True, width=200)
    print_report(console, CHECKS, seconds=2.0, run_facts={"converged_s": None, "wait_s": 5.0, "rounds": 3,
                                                           "median_check_s": 1.3, "worst_check_s": 2.25})
    assert "not converged within --wait 5.0 s; per check median 1.3 s, worst 2.2 s; 3 rounds; 1 flapping" in (
        " ".join(console.export_text().split()))
    console = Console(record=True, width=200)
    print_report(console, CHECKS, failed_only=True)
    text = console.export_text()
    assert "vni 10020 map" in text and "vni 10010 map" not in text
