"""`vxauto validate` on the running demo fabric: green, then each fault named exactly, then green again.

Lab: evpn-frr with the configs `vxauto render` writes from inventory/ (its access-port variant when the
inventory has 802.1Q trunks and the kernel no VLAN support). Faults, one at a time (tests/validate/faults.py):
a VNI removed by hand on leaf1, a VLAN's bridge mapped to the wrong VNI, bgpd stopped on leaf1, the
leaf1-spine1 link's MTU lowered to 1400, and a host port put into another tenant's bridge (which only the
isolation probes and the remote MAC tables can see). After each: validate fails, every failed check is
about that fault, the checks that must blame it do; then the fault is undone (the rendered scripts re-run,
bgpd restarted) and validate is green again. The lab goes down in a `finally`.

No test waits or retries around validate: the first validation runs right after `lab up` with the
rendered configs, and every "green again" is one validation with the product's own wait (`--wait`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.validate.faults import FAULT_WAIT_S, FAULTS, DemoLab, demo_lab, lab_machine_missing, validate
from vxauto.cli.main import app
from vxauto.validate.convergence import ValidationRun

pytestmark = [pytest.mark.lab, pytest.mark.slow,
              pytest.mark.skipif(lab_machine_missing() is not None, reason=lab_machine_missing() or "")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoLab]:
    with demo_lab(tmp_path_factory.mktemp("validate-lab")) as lab:
        yield lab


def failures(run: ValidationRun) -> list[str]:
    return [f"{c.host} | {c.check} | expected {c.expected} | got {c.actual}" for c in run.failed]


def test_green_right_after_lab_up_through_the_cli_with_json_and_junit(demo: DemoLab, tmp_path: Path) -> None:
    """The fabric has just come up (this is the module's first test): validate's default wait covers EVPN
    converging, and the report says how long that took."""
    junit = tmp_path / "validate.xml"
    result = CliRunner().invoke(app, ["validate", "-i", str(demo.inventory), "--lab", str(demo.topology),
                                      "--json", "--junit", str(junit)])
    report = json.loads(result.stdout)
    assert result.exit_code == 0, [c for c in report["checks"] if not c["passed"]]
    assert report["passed"] is True
    assert report["converged_s"] is not None and report["rounds"] >= 1
    assert all(c["first_passed_s"] is not None for c in report["checks"])
    assert 'time="' in junit.read_text()
    kinds = {c["check"].split()[0] for c in report["checks"]}
    assert {"vni", "type-3", "vtep", "bgp", "mtu", "mac", "ping", "mtu-ping", "isolation"} <= kinds
    assert junit.read_text().count("<testcase") == len(report["checks"])


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_named_exactly_then_repaired(demo: DemoLab, fault) -> None:
    before = validate(demo)
    assert before.passed, failures(before)
    fault.inject(demo)
    try:
        broken = validate(demo, wait=FAULT_WAIT_S)
    finally:
        fault.restore(demo)
    failed = {(c.host, c.check) for c in broken.failed}
    assert not broken.passed
    assert fault.must_fail <= failed, (fault.description, sorted(fault.must_fail - failed), failures(broken))
    unrelated = [c for c in broken.failed if not fault.blames(c)]
    assert not unrelated, (fault.description, [f"{c.host} | {c.check} | {c.actual}" for c in unrelated])
    after = validate(demo)
    assert after.passed, (f"not green again after undoing: {fault.description}", failures(after))


def test_green_through_the_inventory_over_ssh(demo: DemoLab, tmp_path: Path) -> None:
    """Without --lab: NAPALM and the probes connect with the inventory's own connection options (SSH)."""
    inventory = tmp_path / "inventory"
    shutil.copytree(demo.inventory, inventory)
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    for name, host in hosts.items():
        ssh = demo.lab.ssh_options(name)
        keys = {"key_file": ssh["key_file"], "known_hosts": ssh["known_hosts"]}
        napalm_args = {**keys, **({"vtysh_pathspace": ssh["namespace"]} if name.startswith(("leaf", "spine")) else {})}
        host["connection_options"] = {"napalm": {"extras": {"optional_args": napalm_args}}, "ssh": {"extras": keys}}
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    result = CliRunner().invoke(app, ["validate", "-i", str(inventory), "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0, [c for c in report["checks"] if not c["passed"]]
    assert len(report["checks"]) >= 150


def test_cli_exit_code_is_1_while_a_fault_is_in(demo: DemoLab) -> None:
    fault = FAULTS[0]
    before = validate(demo)
    assert before.passed, failures(before)
    fault.inject(demo)
    try:
        result = CliRunner().invoke(app, ["validate", "-i", str(demo.inventory), "--lab", str(demo.topology),
                                          "--hosts", "leaf1", "--failed-only", "--wait", str(FAULT_WAIT_S)],
                                    env={"COLUMNS": "200"})
    finally:
        fault.restore(demo)
    assert result.exit_code == 1, result.output
    assert "vni 10020 map" in result.output and "absent" in result.output
    assert f"not converged within --wait {FAULT_WAIT_S} s" in " ".join(result.output.split())
    after = validate(demo)
    assert after.passed, failures(after)


def test_traffic_watch_is_clean_and_names_a_vni_in_the_wrong_tunnel(demo: DemoLab) -> None:
    """`--traffic`: no error in the tunnels of a green fabric; with leaf1 mapping red-web into VNI 10040
    (blue-db, a VNI leaf1 must not carry), the capture on leaf1 names that VNI during the same run."""
    from vxauto.model import load_fabric
    from vxauto.validate.run import validate_fabric

    before = validate(demo)
    assert before.passed, failures(before)
    fabric = load_fabric(demo.inventory)
    clean = validate_fabric(fabric, None, demo.topology, traffic=True)
    traffic = [c for c in clean.checks if c.kind == "traffic"]
    assert {c.host for c in traffic if c.check == "traffic anomalies"} == {"leaf1", "leaf2", "leaf3", "leaf4"}
    assert all(c.passed for c in traffic), [c.actual for c in traffic if not c.passed]
    assert any(int(c.actual.split()[0]) > 0 for c in traffic if c.check == "traffic anomalies")
    fault = next(f for f in FAULTS if f.name == "wrong-vni")
    fault.inject(demo)
    try:
        broken = validate_fabric(fabric, None, demo.topology, traffic=True, wait=FAULT_WAIT_S)
    finally:
        fault.restore(demo)
    failed_traffic = [c for c in broken.checks if c.kind == "traffic" and not c.passed]
    assert failed_traffic, [c.check for c in broken.checks if c.kind == "traffic"]
    assert {c.host for c in failed_traffic} == {"leaf1"}, [(c.host, c.check, c.actual) for c in failed_traffic]
    assert any("10040" in c.check for c in failed_traffic), [(c.check, c.actual) for c in failed_traffic]
    after = validate(demo)
    assert after.passed, failures(after)


def test_with_every_vxlan_device_deleted_no_isolation_check_passes(demo: DemoLab) -> None:
    """Nothing forwards in the overlay: the hosts cannot reach anything, so their silence toward other
    segments proves nothing. Every isolation check is inconclusive (a failure), because its positive
    control, the same source reaching its own segment, fails in the same run."""
    before = validate(demo)
    assert before.passed, failures(before)
    leaves = [name for name, device in demo.lab.nodes.items() if name.startswith("leaf")]
    try:
        for leaf in leaves:
            demo.sh(leaf, "for dev in $(ip -o link show type vxlan | awk -F': ' '{print $2}' | cut -d@ -f1); "
                          "do ip link del \"$dev\"; done")
            assert "vxlan" not in demo.sh(leaf, "ip -d link show type vxlan")
        broken = validate(demo, wait=0)
    finally:
        for leaf in leaves:
            demo.rerun_scripts(leaf)
    isolation = [c for c in broken.checks if c.kind == "isolation"]
    assert len(isolation) >= 32
    assert not [c for c in isolation if c.passed], [f"{c.host} | {c.check} | {c.actual}" for c in isolation
                                                     if c.passed]
    assert all(c.actual.startswith("inconclusive: positive control failed") for c in isolation)
    after = validate(demo)
    assert after.passed, failures(after)
