"""Benchmark of the netns lab runtime: `up` and `down` of generated fabrics with 4, 16 and 32 leaves.

Each fabric: 2 FRR spines, N FRR leaves (eBGP underlay, BGP EVPN, kernel VXLAN) and N Linux hosts (one per
leaf, on an access port of one of 4 segments). The inventory is generated, the configs are rendered by
vxauto and loaded with `--configs`; the topology is a containerlab file. Timed:

  up        `vxauto lab up` until every node's sshd answers (what `up` waits for)
  +bgp      until every BGP session of every FRR node is Established (from the start of `up`)
  ping      until a host reaches another host of its segment on a different leaf (overlay works)
  down      `vxauto lab down` until no namespace, link, process or file of the lab is left

Targets (issue 5): 16 leaves + 16 hosts up with SSH and BGP in <= 20 s, down in <= 5 s.

    sudo /work/venv/bin/python bench/lab.py [--leaves 4,16,32] [--repeat 1]

Lab names vxb<N>, management subnet 172.20.3x.0/24 (never routed anywhere). Needs root, FRR, sshd.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from vxauto.lab import api
from vxauto.model.fabric import load_fabric
from vxauto.render.engine import render_fabric

SEGMENTS = 4


def inventory(leaves: int) -> dict[str, dict]:
    """Nornir SimpleInventory + fabric.yaml of a 2-spine fabric with one host per leaf."""
    hosts: dict[str, dict] = {}
    for s in (1, 2):
        hosts[f"spine{s}"] = {
            "hostname": f"172.20.3{s}.0",  # replaced below with the lab's management address
            "groups": ["spines"],
            "data": {"router_id": f"10.255.0.{s}", "underlay": [
                {"interface": f"eth{n}", "ip": _p2p(s, n, 0), "peer": f"leaf{n}"} for n in range(1, leaves + 1)
            ]},
        }
    for n in range(1, leaves + 1):
        segment = f"seg{(n - 1) % SEGMENTS + 1}"
        hosts[f"leaf{n}"] = {
            "groups": ["leaves"],
            "data": {
                "asn": 65100 + n, "router_id": f"10.254.{n // 250}.{n % 250 + 1}",
                "vtep": {"interface": "lo", "ip": f"10.254.{n // 250}.{n % 250 + 1}"},
                "underlay": [{"interface": f"eth{s}", "ip": _p2p(s, n, 1), "peer": f"spine{s}"} for s in (1, 2)],
                "ports": [{"interface": "eth3", "segment": segment}],
            },
        }
        hosts[f"h{n}"] = {
            "groups": ["hosts"],
            "data": {"endpoints": [{"interface": "eth1", "segment": segment,
                                    "ip": f"10.{100 + (n - 1) % SEGMENTS}.{n // 250}.{n % 250 + 1}/16"}]},
        }
    fabric = {
        "fabric": {"name": f"bench{leaves}", "asn": 65000, "flood": "evpn"},
        "tenants": [{"name": "bench"}],
        "segments": [{"name": f"seg{i}", "vlan": 10 * i, "vni": 10000 + 10 * i, "tenant": "bench"}
                     for i in range(1, SEGMENTS + 1)],
    }
    groups = {
        "spines": {"platform": "frr", "data": {"role": "spine", "asn": 65000}},
        "leaves": {"platform": "frr", "data": {"role": "leaf"}},
        "hosts": {"platform": "linux", "data": {"role": "host"}},
    }
    return {"fabric": fabric, "hosts": hosts, "groups": groups, "defaults": {"username": "root"}}


def _p2p(spine: int, leaf: int, side: int) -> str:
    return f"10.{spine}.{leaf // 128}.{(leaf % 128) * 2 + side}/31"


def topology(name: str, subnet_octet: int, hosts: dict[str, dict]) -> dict:
    """containerlab topology with the inventory's nodes and links; mgmt addresses are written back."""
    nodes = {}
    for index, host in enumerate(hosts, start=10):
        address = f"172.20.{subnet_octet}.{index}"
        hosts[host]["hostname"] = address
        group = {} if host.startswith(("spine", "leaf")) else {"image": "ghcr.io/hellt/network-multitool"}
        nodes[host] = {"kind": "linux", "mgmt-ipv4": address, **group}
    links = []
    for host, data in hosts.items():
        for link in data["data"].get("underlay", []):
            if host.startswith("leaf"):
                spine_port = next(u["interface"] for u in hosts[link["peer"]]["data"]["underlay"] if u["peer"] == host)
                links.append({"endpoints": [f"{host}:{link['interface']}", f"{link['peer']}:{spine_port}"]})
        if host.startswith("h"):
            links.append({"endpoints": [f"{host}:eth1", f"leaf{host[1:]}:eth3"]})
    return {
        "name": name,
        "mgmt": {"network": name, "ipv4-subnet": f"172.20.{subnet_octet}.0/24"},
        "topology": {"kinds": {"linux": {"image": "quay.io/frrouting/frr:8.4.1"}}, "nodes": nodes, "links": links},
    }


def prepare(leaves: int, work: Path) -> tuple[Path, Path]:
    files = inventory(leaves)
    name = f"vxb{leaves}"
    topo = topology(name, 30 + min(leaves // 8, 9), files["hosts"])
    inventory_dir = work / "inventory"
    inventory_dir.mkdir(parents=True)
    for key, data in files.items():
        (inventory_dir / f"{key}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    configs = work / "configs"
    configs.mkdir()
    for rendered in render_fabric(load_fabric(inventory_dir)):
        rendered.write(configs)
    topology_file = work / f"{name}.clab.yml"
    topology_file.write_text(yaml.safe_dump(topo, sort_keys=False))
    return topology_file, configs


def wait_ping(lab: api.Lab, leaves: int, timeout: float = 30.0) -> None:
    """h1 reaches the host of its segment on another leaf (h1+SEGMENTS): the overlay forwards."""
    peer = 1 + SEGMENTS if leaves > SEGMENTS else None
    if peer is None:
        return
    target = f"10.100.{peer // 250}.{peer % 250 + 1}"
    deadline = time.monotonic() + timeout
    while lab.exec_in("h1", f"ping -c1 -W1 {target}").returncode != 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"h1 cannot reach {target} after {timeout:.0f}s")


def run_once(leaves: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix=f"vxb{leaves}-"))
    try:
        topology_file, configs = prepare(leaves, work)
        started = time.monotonic()
        lab = api.up(topology_file, configs)
        up_done = time.monotonic()
        lab.wait_bgp(timeout=120)
        bgp_done = time.monotonic()
        wait_ping(lab, leaves)
        ping_done = time.monotonic()
        down_started = time.monotonic()
        leftovers = api.down(topology_file)
        down_done = time.monotonic()
        if leftovers:
            raise SystemExit(f"down left {leftovers}")
        return {
            "nodes": len(lab.nodes), "up": up_done - started, "up+bgp": bgp_done - started,
            "up+ping": ping_done - started, "down": down_done - down_started,
        }
    finally:
        api.down(work / f"vxb{leaves}.clab.yml") if (work / f"vxb{leaves}.clab.yml").exists() else None
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaves", default="4,16,32", help="comma list of leaf counts")
    parser.add_argument("--repeat", type=int, default=1)
    options = parser.parse_args()
    print(f"{'leaves':>6} {'nodes':>5} {'up s':>7} {'up+bgp s':>9} {'up+ping s':>10} {'down s':>7}")
    for leaves in (int(n) for n in options.leaves.split(",")):
        runs = [run_once(leaves) for _ in range(options.repeat)]
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"{leaves:>6} {int(median['nodes']):>5} {median['up']:>7.2f} {median['up+bgp']:>9.2f} "
              f"{median['up+ping']:>10.2f} {median['down']:>7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
