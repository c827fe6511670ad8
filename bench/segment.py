"""Benchmark: a new segment live on a running fabric (issue 16: "a new segment is live in seconds").

The fabric bench/lab.py generates (2 FRR spines, N FRR leaves with BGP EVPN, one host per leaf) is brought up
and deployed (not timed) and validated green. Then, timed twice, a segment attached to two leaves is added to
fabric.yaml and made live:

  concerned   the hosts whose derived facts the change touches (Fabric.devices before and after: Python, no
              device contact) are deployed (`vxauto deploy --commit --hosts ...`) and validated
              (`vxauto validate --hosts ...` with its own wait: the new VNI's flood lists and type-3 routes)
  whole       `vxauto deploy --commit` of every host (each one diffed, only changed ones pushed) and one
              `vxauto validate` of the whole fabric with its own wait (every probe again)

  add_segment_s   intent edited -> deployed -> validated green (the concerned way)
  hosts_changed   the hosts deploy changed (only the two leaves of the new segment should)

Target (issue 16): add_segment_s <= 5 s on 16 leaves.

    sudo flock /tmp/vxauto-lab.lock .venv/bin/python bench/segment.py [--leaves 16] [--json]

Lab name evpn-frr (the e2e benchmark's generated fabric, management subnet 172.20.20.0/24).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from e2e import prepare, timed_deploy, validate_once, wait_for_free_lab_name  # bench/e2e.py, next to this script

from vxauto.deploy.run import DeployOptions, deploy
from vxauto.lab import api
from vxauto.model.changes import changed_hosts
from vxauto.model.fabric import load_fabric
from vxauto.validate.convergence import DEFAULT_WAIT_S, ValidationRun, run_validation
from vxauto.validate.expected import expected_state
from vxauto.validate.sessions import lab_access


def new_segment(index: int) -> dict[str, object]:
    return {"name": f"seg-new{index}", "vlan": 900 + index, "vni": 19000 + index, "tenant": "bench",
            "attach": {"hosts": ["leaf1", "leaf2"]}}


def validate_hosts(inventory_dir: Path, topology_file: Path, hosts: list[str], workers: int) -> ValidationRun:
    """`vxauto validate --lab --hosts ...`, in-process: the selection narrows what is checked."""
    fabric = load_fabric(inventory_dir)
    state = expected_state(fabric, hosts)
    needed = sorted({*state.devices, *(e.node for p in state.probes for e in (p.source, p.target)),
                     *(e.node for e in state.endpoints if any(e.vni in d.vnis for d in state.devices.values()))})
    access = lab_access(topology_file, fabric, needed)
    try:
        return run_validation(fabric, hosts, access.shell, access.params_for, workers=workers, wait=DEFAULT_WAIT_S)
    finally:
        access.close()


def add_segment(inventory_dir: Path, topology_file: Path, work: Path, index: int, workers: int,
                concerned_only: bool) -> dict[str, object]:
    fabric_file = inventory_dir / "fabric.yaml"
    started = time.monotonic()
    before = load_fabric(inventory_dir)
    intent = yaml.safe_load(fabric_file.read_text())
    intent["segments"].append(new_segment(index))
    fabric_file.write_text(yaml.safe_dump(intent, sort_keys=False))
    fabric = load_fabric(inventory_dir)
    concerned = changed_hosts(before, fabric)
    hosts = concerned if concerned_only else list(fabric.hosts)
    outcomes = deploy(fabric, hosts, DeployOptions(commit=True, backups=work / "backups", workers=workers,
                                                   lab=topology_file))
    deploy_s = time.monotonic() - started
    if concerned_only:
        validated = validate_hosts(inventory_dir, topology_file, concerned, workers)
    else:
        validated = validate_once(inventory_dir, topology_file, workers)
    return {
        "add_segment_s": round(time.monotonic() - started, 2), "deploy_s": round(deploy_s, 2),
        "hosts_deployed": len(hosts), "hosts_changed": sorted(o.host for o in outcomes if o.status == "changed"),
        "errors": [f"{o.host}: {o.error}" for o in outcomes if o.status not in ("changed", "unchanged")],
        "passed": validated.passed, "converged_s": validated.converged_s,
        "new_vni_checks": sum(str(19000 + index) in c.check for c in validated.checks),
        "failed": [f"{c.host}: {c.check}: {c.actual}" for c in validated.failed][:5],
    }


def run(leaves: int, workers: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix=f"vxseg{leaves}-"))
    inventory_dir, topology_file = prepare(leaves, work)
    wait_for_free_lab_name()
    try:
        api.up(topology_file)
        _, outcomes = timed_deploy(inventory_dir, topology_file, work / "backups", workers)
        failed = [o for o in outcomes if o.status != "changed"]
        if failed:
            raise SystemExit(f"initial deploy: {[(o.host, o.status, o.error) for o in failed]}")
        baseline = validate_once(inventory_dir, topology_file, workers)
        if not baseline.passed:
            raise SystemExit(f"not green before the change: {[(c.host, c.check) for c in baseline.failed][:5]}")
        concerned = add_segment(inventory_dir, topology_file, work, 1, workers, concerned_only=True)
        whole = add_segment(inventory_dir, topology_file, work, 2, workers, concerned_only=False)
        return {"leaves": leaves, **concerned, "whole": whole}
    finally:
        api.down(topology_file)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=16)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    options = parser.parse_args()
    row = run(options.leaves, options.workers)
    whole = row["whole"]
    assert isinstance(whole, dict)
    if options.json:
        print(json.dumps({"leaves": row["leaves"], "add_segment_s": row["add_segment_s"],
                          "hosts_changed": row["hosts_changed"], "whole_fabric_s": whole["add_segment_s"]}))
    else:
        for label, result in (("concerned hosts", row), ("whole fabric", whole)):
            print(f"{row['leaves']} leaves, {label}: segment live in {result['add_segment_s']} s (deploy of "
                  f"{result['hosts_deployed']} hosts {result['deploy_s']} s, validate converged after "
                  f"{result['converged_s']} s, {result['new_vni_checks']} checks of the new VNI); changed: "
                  f"{', '.join(result['hosts_changed'])}; passed: {result['passed']} {result['failed'] or ''}"
                  f"{result['errors'] or ''}")
    ok = all(result["passed"] and not result["errors"] for result in (row, whole))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
