"""Benchmark: intent to validated overlay (`vxauto deploy --commit` + `vxauto validate`) on the netns lab.

Each fabric (the one bench/lab.py generates: 2 FRR spines, N FRR leaves with BGP EVPN and kernel VXLAN,
one Linux host per leaf on one of 4 segments) is brought up WITHOUT configs (not timed), then timed:

  deploy      `vxauto deploy --commit` of every host (render, diff, backup, push, verify, commit)
  validate    one `vxauto validate` right after deploy, with its own wait (`--wait`): the overlay
              converging is part of "validated"; also reported: when it converged, in how many rounds
  total       deploy + validate: intent to validated overlay
  redeploy    a second `vxauto deploy --commit` with nothing to change (every host must be a no-op)

Targets (issue 6): total <= 30 s for 16 leaves, redeploy <= 10 s.

    sudo /work/venv/bin/python bench/e2e.py [--leaves 4,16] [--workers 16]

Lab name evpn-frr (management subnet 172.20.20.0/24, never routed anywhere); the benchmark waits while
another evpn-frr lab is up. Needs root, FRR, sshd.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from lab import inventory, topology  # bench/lab.py, next to this script (its generated fabric)

from vxauto.deploy.run import DeployOptions, HostOutcome, deploy
from vxauto.lab import api
from vxauto.model.fabric import load_fabric
from vxauto.validate.convergence import DEFAULT_WAIT_S, ValidationRun, run_validation
from vxauto.validate.expected import expected_state
from vxauto.validate.sessions import lab_access

LAB = "evpn-frr"


def prepare(leaves: int, work: Path) -> tuple[Path, Path]:
    """Inventory and topology of the generated fabric under the lab name evpn-frr."""
    files = inventory(leaves)
    topo = topology(LAB, 20, files["hosts"])
    inventory_dir = work / "inventory"
    inventory_dir.mkdir(parents=True)
    for key, data in files.items():
        (inventory_dir / f"{key}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    topology_file = work / f"{LAB}.clab.yml"
    topology_file.write_text(yaml.safe_dump(topo, sort_keys=False))
    return inventory_dir, topology_file


def wait_for_free_lab_name(timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while any(line.startswith(f"{LAB}-") for line in
              subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout.splitlines()):
        if time.monotonic() > deadline:
            raise SystemExit(f"lab {LAB} is in use by someone else")
        time.sleep(5)


def timed_deploy(
    inventory_dir: Path, topology_file: Path, backups: Path, workers: int
) -> tuple[float, list[HostOutcome]]:
    started = time.monotonic()
    fabric = load_fabric(inventory_dir)
    outcomes = deploy(fabric, list(fabric.hosts), DeployOptions(commit=True, backups=backups, workers=workers,
                                                                 lab=topology_file))
    return time.monotonic() - started, outcomes


def validate_once(inventory_dir: Path, topology_file: Path, workers: int) -> ValidationRun:
    """What `vxauto validate --lab` runs (vxauto/cli/validate.py), in-process."""
    fabric = load_fabric(inventory_dir)
    state = expected_state(fabric, None)
    needed = sorted({*state.devices, *(e.node for p in state.probes for e in (p.source, p.target)),
                     *(e.node for e in state.endpoints if any(e.vni in d.vnis for d in state.devices.values()))})
    access = lab_access(topology_file, fabric, needed)
    try:
        return run_validation(fabric, None, access.shell, access.params_for, workers=workers, wait=DEFAULT_WAIT_S)
    finally:
        access.close()


def run_once(leaves: int, workers: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix=f"vxe2e{leaves}-"))
    inventory_dir, topology_file = prepare(leaves, work)
    wait_for_free_lab_name()
    load = os.getloadavg()[0]  # the machine is shared: say how busy it was
    try:
        lab = api.up(topology_file)  # without configs: deploy does the configuring
        deploy_s, outcomes = timed_deploy(inventory_dir, topology_file, work / "backups", workers)
        failed = [o for o in outcomes if o.status != "changed"]
        if failed:
            raise SystemExit(f"deploy: {[(o.host, o.status, o.error) for o in failed]}")
        started = time.monotonic()
        run = validate_once(inventory_dir, topology_file, workers)
        validate_s = time.monotonic() - started
        redeploy_s, again = timed_deploy(inventory_dir, topology_file, work / "backups", workers)
        not_noop = [o.host for o in again if o.status != "unchanged"]
        per_host = sorted(o.seconds for o in outcomes)
        return {
            "load": load, "host_p50": statistics.median(per_host), "host_max": per_host[-1],
            "leaves": leaves, "hosts": len(outcomes), "nodes": len(lab.nodes), "deploy": deploy_s,
            "validate": validate_s, "rounds": run.rounds, "converged": run.converged_s, "passed": run.passed,
            "checks": len(run.checks),
            "failed": [f"{c.host}: {c.check}" for c in run.failed][:5], "total": deploy_s + validate_s,
            "redeploy": redeploy_s, "redeploy_not_noop": not_noop,
        }
    finally:
        api.down(topology_file)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaves", default="4,16", help="comma list of leaf counts")
    parser.add_argument("--workers", type=int, default=16, help="hosts deployed/validated concurrently")
    options = parser.parse_args()
    print(f"{'leaves':>6} {'hosts':>5} {'deploy s':>9} {'host p50/max s':>15} {'validate s':>11} {'total s':>8} "
          f"{'redeploy s':>11} {'checks':>7} result")
    for leaves in (int(n) for n in options.leaves.split(",")):
        row = run_once(leaves, options.workers)
        verdict = "passed" if row["passed"] else f"FAILED {row['failed']}"
        if row["redeploy_not_noop"]:
            verdict += f"; redeploy changed {row['redeploy_not_noop']}"
        spread = f"{row['host_p50']:.1f}/{row['host_max']:.1f}"
        print(f"{leaves:>6} {row['hosts']:>5} {row['deploy']:>9.2f} {spread:>15} {row['validate']:>11.2f} "
              f"{row['total']:>8.2f} {row['redeploy']:>11.2f} {row['checks']:>7} {verdict} "
              f"(validate: {row['rounds']} rounds, converged after {row['converged']} s; load average before: "
              f"{row['load']:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
