"""Benchmark: what a live migration costs the workload, per case, on the netns lab.

A UDP probe stream runs both ways at `--pps` (default 1000) between the moving VM and a peer (bench/probe.py,
one process per end, inside the nodes); once it flows, `vxauto lab move` migrates the VM; the stream runs on
for `--after` seconds. Per case: the longest gap of either direction in milliseconds (`outage_ms`, from the
sequence numbers: missing datagrams x the interval), the datagrams lost both ways (`lost`), whether both
directions flowed again by the end (`flowing`), and whether `vxauto validate --lab` then turns green with the VM
at its new place (`converged`, issue 16's definition; validate waits up to 30 s by itself, `validate_s` is how
long it took, `validate_failed` what stayed red); `pps` is the rate each end actually sent (the lower one).

  evpn-leaf          multisite: vm1 hv1 -> hv2 (leaf1 -> leaf2, EVPN), peer vm4 in dc2, WAN delay off
  cross-site         multisite: vm1 hv1 -> hv3 (leaf1 in dc1 -> leaf3 in dc2, WAN 40 ms each way: 80 ms RTT), peer vm2
  static-hypervisor  static-linux: vm2 hv2 -> hv1 (VTEP hypervisors, static flood, data-plane learning), peer vm3;
                     before it (untimed) the same move without announcement: `stale_before_announce` lists the
                     FDB entries left pointing at hv2, `stale_after_announce` what the announcement left
  pyvtep             mixed-pyvtep: h1 back from pv1 to leaf1 (pyvtep <-> FRR leaf over EVPN), peer h2 on pv1

Targets (issue 16): EVPN outage <= 1 s; cross-site <= 1 s + WAN RTT. There is no reference tool that moves
a workload and measures it, so the figures stand alone.

    sudo .venv/bin/python bench/mobility.py [--json] [--cases evpn-leaf,cross-site] [--pps 1000]

Needs root, FRR, sshd; run under the lab lock (`flock /tmp/vxauto-lab.lock ...`). Every lab goes down.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vxauto.lab import api, move, netns, wan
from vxauto.model.fabric import load_fabric
from vxauto.validate.run import validate_fabric

REPO = Path(__file__).resolve().parent.parent
CONTAINERLAB = REPO / "containerlab"
PROBE = Path(__file__).resolve().parent / "probe.py"
START_TIMEOUT = 30.0
#: How long validate may take to turn green after the move (its own wait; the figure is how long it took).
VALIDATE_WAIT_S = 30.0
PINNED_VALIDATE_WAIT_S = 8.0
#: The cross-site case's WAN: 40 ms each way (issue 16: "a move across sites over a WAN with 40 ms delay"),
#: set on both spines' WAN interfaces, so the target is 1 s + 80 ms of RTT.
WAN_DELAY_MS = 40.0


@dataclass(frozen=True)
class Case:
    name: str
    topology: str
    inventory: str
    vm: str
    vm_ip: str
    peer: str
    peer_ip: str
    target: str
    #: Untimed steps after the lab is up (a move into the starting position, the WAN delay for the case);
    #: what they return goes into the case's figures.
    prepare: Callable[[api.Lab], dict]


def _wan(delay_ms: float) -> Callable[[api.Lab], dict]:
    def apply(lab: api.Lab) -> dict:
        for node in ("spine1", "spine2"):
            wan.apply(lab.state, node, "eth3", wan.Impairment(delay_ms=delay_ms))
        return {}
    return apply


def _pyvtep_start(lab: api.Lab) -> dict:
    move.move(lab.topology, lab.state, "h1", "pv1")
    return {}


def _static_stale(lab: api.Lab) -> dict:
    """Before the timed move: the same move without the announcement (a silent VM), the FDB entries data-plane
    learning left pointing at hv2, then the announcement and what is left after it; then back to hv2."""
    for peer in ("10.30.10.1", "10.30.10.3"):  # every VTEP learns vm2 behind hv2
        lab.wait_reachable("vm2", peer, 60)
    silent = move.move(lab.topology, lab.state, "vm2", "hv1", announce=False)
    told = move.announce_vm(lab.state, "vm2", silent.left)
    move.move(lab.topology, lab.state, "vm2", "hv2")
    return {"stale_before_announce": silent.stale, "stale_after_announce": told.stale,
            "relearned_s": told.relearned_s}


CASES = (
    Case("evpn-leaf", "multisite.clab.yml", "multisite/inventory", "vm1", "10.40.10.1", "vm4", "10.40.10.4",
         "hv2", _wan(0.0)),
    Case("cross-site", "multisite.clab.yml", "multisite/inventory", "vm1", "10.40.10.1", "vm2", "10.40.10.2",
         "hv3", _wan(WAN_DELAY_MS)),
    Case("static-hypervisor", "static-linux.clab.yml", "static-linux/inventory", "vm2", "10.30.10.2", "vm3",
         "10.30.10.3", "hv1", _static_stale),
    Case("pyvtep", "mixed-pyvtep.clab.yml", "mixed-pyvtep/inventory", "h1", "10.10.10.1", "h2", "10.10.10.2",
         "leaf1", _pyvtep_start),
)

CASES_BY_NAME = {case.name: case for case in CASES}


class Probe:
    def __init__(self, lab: api.Lab, node: str, bind: str, peer: str, pps: int, work: Path) -> None:
        self.files = {name: work / f"{node}.{name}" for name in ("ready", "flowing", "out")}
        argv = [sys.executable, str(PROBE), "--bind", bind, "--peer", peer, "--pps", str(pps),
                *(x for name, path in self.files.items() for x in (f"--{name}", str(path)))]
        self.process = subprocess.Popen(["ip", "netns", "exec", lab.namespace(node), *argv],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_for(self, name: str) -> None:
        if netns.wait_for_files([self.files[name]], START_TIMEOUT):
            raise api.LabError(f"probe not {name} after {START_TIMEOUT:g} s")

    def stop(self) -> dict:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)
        return json.loads(self.files["out"].read_text())


def _direction(result: dict, pps: int) -> tuple[float, int, bool]:
    """(longest gap in ms, datagrams lost, flowing at the end) of one direction's receptions."""
    seqs = sorted(set(result["received"]))
    gaps = [b - a - 1 for a, b in itertools.pairwise(seqs)]
    longest = max(gaps, default=0)
    lost = result["sent_by_peer"] - len(seqs)
    flowing = bool(seqs) and seqs[-1] >= result["sent_by_peer"] - pps // 2  # heard in the last half second
    return longest * 1000.0 / pps, lost, flowing


def validated(case: Case) -> dict:
    """`vxauto validate --lab` on the case's fabric after the move, with validate's own wait: `converged` is
    whether it turned green (issue 16: validate green at the new place), `validate_s` how long that took.

    An intent that pins the VM to a hypervisor port (it is not one of the fabric's `mobile` endpoints, as in
    static-linux) cannot be green at the new place: those of its checks that the VM's MAC sits on the
    pinned port's VNI that fail are set aside and listed (`validate_set_aside`); every other check, the
    probes to the VM included, must pass. validate then spends its whole (shorter) wait on the checks set aside."""
    fabric = load_fabric(CONTAINERLAB / case.inventory)
    pinned = case.vm in fabric.hosts and not any(m.name == case.vm for m in fabric.intent.mobile)
    selected = sorted(name for name in fabric.hosts if name != case.vm) if pinned else None
    run = validate_fabric(fabric, selected, lab=CONTAINERLAB / case.topology,
                          wait=PINNED_VALIDATE_WAIT_S if pinned else VALIDATE_WAIT_S)
    aside = [c for c in run.checks if pinned and c.check.startswith(f"mac {case.vm} ") and not c.passed]
    judged = [c for c in run.checks if c not in aside]
    converged = bool(judged) and all(c.passed for c in judged)
    took = run.converged_s if not aside else max((c.first_passed_s or 0.0 for c in judged), default=None)
    failed = sorted(f"{c.host}: {c.check}: {c.actual}" for c in judged if not c.passed)
    return {"converged": converged, "validate_s": round(took, 3) if converged and took is not None else None,
            "validate_checks": len(judged),
            **({"validate_set_aside": sorted(f"{c.host}: {c.check}: {c.actual}" for c in aside)} if aside else {}),
            **({"validate_failed": failed} if failed else {})}


def run_case(case: Case, pps: int, after: float, configs: Path, work: Path) -> dict:
    topology = CONTAINERLAB / case.topology
    lab = api.up(topology, configs)
    try:
        lab.wait_bgp(timeout=90)
        extra = case.prepare(lab)
        lab.wait_reachable(case.vm, case.peer_ip, 60)
        lab.wait_reachable(case.peer, case.vm_ip, 60)
        ends = [Probe(lab, case.vm, case.vm_ip, case.peer_ip, pps, work),
                Probe(lab, case.peer, case.peer_ip, case.vm_ip, pps, work)]
        try:
            for probe in ends:
                probe.wait_for("flowing")
            time.sleep(0.5)  # a stretch of undisturbed stream before the move, to compare with
            move.move(lab.topology, lab.state, case.vm, case.target)
            time.sleep(after)
        finally:
            results = [probe.stop() for probe in ends]
        results[0]["sent_by_peer"], results[1]["sent_by_peer"] = results[1]["sent"], results[0]["sent"]
        directions = [_direction(result, pps) for result in results]
        achieved = min(result["sent"] / result["elapsed"] for result in results)
        return {"case": case.name, "outage_ms": round(max(d[0] for d in directions), 1),
                "lost": sum(d[1] for d in directions), "flowing": all(d[2] for d in directions),
                **validated(case), "pps": round(achieved), **extra}
    finally:
        api.down(topology)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    parser.add_argument("--cases", default=",".join(c.name for c in CASES))
    parser.add_argument("--pps", type=int, default=1000)
    parser.add_argument("--after", type=float, default=3.0, help="seconds of stream after the move")
    args = parser.parse_args()
    wanted = args.cases.split(",")
    moves = []
    with tempfile.TemporaryDirectory(prefix="vxauto-mobility-") as scratch:
        work = Path(scratch)
        rendered: dict[str, Path] = {}
        for case in CASES:
            if case.name not in wanted:
                continue
            if case.inventory not in rendered:
                out = work / case.inventory.replace("/", "-")
                subprocess.run([sys.executable, "-c", "from vxauto.cli.main import app; app()", "render", "-i",
                                str(CONTAINERLAB / case.inventory), "--out", str(out)], check=True,
                               capture_output=True)
                rendered[case.inventory] = out
            case_dir = work / case.name
            case_dir.mkdir()
            moves.append(run_case(case, args.pps, args.after, rendered[case.inventory], case_dir))
            if not args.json:
                done = moves[-1]
                print(f"{done['case']:18} outage {done['outage_ms']:8.1f} ms  lost {done['lost']:5}  "
                      f"flowing {done['flowing']}  converged {done['converged']} (validate {done['validate_s']} s)  "
                      f"({done['pps']} pps each way)", flush=True)
                for line in done.get("validate_failed", []):
                    print(f"{'':18} validate failed: {line}", flush=True)
                for line in done.get("validate_set_aside", []):
                    print(f"{'':18} validate, set aside (the intent pins {CASES_BY_NAME[done['case']].vm} to "
                          f"its old port): {line}", flush=True)
                if "stale_before_announce" in moves[-1]:
                    print(f"{'':18} unannounced move: stale {moves[-1]['stale_before_announce'] or 'none'}; "
                          f"after the announcement ({moves[-1]['relearned_s']} s): "
                          f"{moves[-1]['stale_after_announce'] or 'none'}", flush=True)
    if args.json:
        print(json.dumps({"moves": moves}))


if __name__ == "__main__":
    main()
