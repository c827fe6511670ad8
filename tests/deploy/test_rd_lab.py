"""Segments added one at a time to a running FRR fabric leave every existing segment's EVPN type-3 routes intact.

FRR gives every VNI it learns an automatic route distinguisher `<router-id>:<index>` (bgpd's rd_idspace, the
lowest free index) until the configured `rd` line replaces it; the FRR driver creates the kernel VXLAN device
(which zebra reports to bgpd) before it applies the FRR configuration, so each added VNI briefly advertises its
type-3 route under that automatic RD. On the demo fabric leaf1 and leaf2 hold the indexes 1 (the BGP instance)
and 2-4 (VNIs 10010, 10020, 10030), so the added VNIs get 5, 6, ...: the sixth gets `<router-id>:10`. When
vxauto rendered RDs as `<router-id>:<VLAN>`, that was red-web's (VLAN 10, VNI 10010) RD: the type-3 route key is
RD + originator, so the transient route replaced red-web's and its withdrawal took red-web's with it, and leaf1
and leaf2 lost each other's type-3 route for VNI 10010 for good (docs/mobility.md, "Route distinguishers").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.deploy.conftest import RunningLab
from vxauto.cli.main import app
from vxauto.model.fabric import load_fabric

pytestmark = [pytest.mark.lab]

#: Enough added VNIs for the automatic index to pass 10 (red-web's VLAN) with one to spare.
ADDED = 7
LEAVES = ("leaf1", "leaf2")


def deploy_cli(lab: RunningLab, backups: Path, *extra: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["deploy", "-i", str(lab.fabric.inventory), "--lab", str(lab.fabric.topology),
                                      "--backups", str(backups), "--workers", "10", "--commit", *extra, "--json"])
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.exit_code, result.output


def add_segment(inventory: Path, index: int) -> None:
    path = inventory / "fabric.yaml"
    intent = yaml.safe_load(path.read_text())
    intent["segments"].append({"name": f"added{index}", "vlan": 100 + index, "vni": 10100 + index, "tenant": "red",
                               "attach": {"hosts": list(LEAVES)}})
    path.write_text(yaml.safe_dump(intent, sort_keys=False))


def type3_routes(lab: RunningLab, node: str) -> set[tuple[str, str]]:
    """(originating VTEP, route target) of every valid EVPN type-3 route in the node's BGP table."""
    table = json.loads(lab.lab.vtysh(node, "show bgp l2vpn evpn route type multicast json"))
    found = set()
    for prefixes in (value for value in table.values() if isinstance(value, dict)):
        for key, entry in prefixes.items():
            if not key.startswith("[3]"):
                continue
            for path in (p for paths in entry["paths"] for p in paths if p.get("valid")):
                communities = path.get("extendedCommunity", {}).get("string", "").split()
                found |= {(path["ip"], c.removeprefix("RT:")) for c in communities if c.startswith("RT:")}
    return found


def test_added_segments_leave_the_existing_type3_routes_intact(running_lab: RunningLab, tmp_path: Path) -> None:
    code, report = deploy_cli(running_lab, tmp_path)
    assert code == 0, report
    inventory = running_lab.fabric.inventory
    existing = load_fabric(inventory)
    for index in range(1, ADDED + 1):
        add_segment(inventory, index)
        wait = ("--wait", "60") if index == ADDED else ()
        code, report = deploy_cli(running_lab, tmp_path, "--hosts", ",".join(LEAVES), *wait)
        assert isinstance(report, dict) and report["failed"] == 0, report
    # deploy --wait validated the changed hosts until they converged; now every existing segment's type-3
    # routes on every leaf: one from each other leaf of the segment, with the segment's route target
    vtep = {name: existing.device(name).vtep_ip for name in existing.hosts}
    missing = {}
    for name in (n for n in existing.hosts if vtep[n]):
        have = type3_routes(running_lab, name)
        for segment in (s for s in existing.device(name).segments if s.flood == "evpn"):
            others = [o for o in existing.hosts if o != name and segment.vni in
                      {s.vni for s in existing.device(o).segments}]
            lost = sorted(str(vtep[o]) for o in others if (vtep[o], segment.route_target) not in have)
            if lost:
                missing[(name, segment.vni)] = lost
    assert not missing, f"type-3 routes lost (leaf, VNI): remote VTEPs {missing}; {report['validation']}"
    assert code == 0 and report["validation"]["passed"] is True, report["validation"]
