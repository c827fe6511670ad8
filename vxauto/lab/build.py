"""`up` for the netns runtime: a containerlab topology as network namespaces on this machine.

One namespace per node, one veth pair per link with the endpoint interface names, a management bridge owned
by the lab with the gateway address of `mgmt.ipv4-subnet`, an sshd per node on its management address, FRR
daemons per FRR node. Nothing is routed, NATed or forwarded toward the outside: the nodes get no default
route and every address lives in the lab's namespaces or on its own bridge.

`up` records its whole plan (vxauto.lab.plan) before creating anything, so `down` (vxauto.lab.teardown)
cleans a crashed or killed `up`; a failing `up` rolls itself back.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vxauto.lab import netns, wan
from vxauto.lab.configs import NodeStartup, configs_digest, node_startups
from vxauto.lab.daemons import start_node
from vxauto.lab.handle import MAX_WORKERS, Lab, lab_healthy
from vxauto.lab.labdir import MARKER, write_inventories, write_lab_dir
from vxauto.lab.netns import LabError
from vxauto.lab.plan import bridge_name, plan
from vxauto.lab.preflight import check_mgmt_subnet, check_runnable, check_system
from vxauto.lab.state import LabState, lab_lock
from vxauto.lab.teardown import teardown
from vxauto.lab.topology import Topology

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def up(
    topology: Topology, configs: Path | None = None, reconfigure: bool = False, progress: Progress = _quiet
) -> Lab:
    """Bring a topology up with the netns runtime (idempotent: a running, unchanged lab is left alone)."""
    check_runnable(topology)
    wan.declared(topology)  # bad impairment values are bad input: reported before anything exists
    startups = node_startups(topology, configs)
    check_system(topology)
    fingerprint = hashlib.sha256((topology.digest() + configs_digest(startups)).encode()).hexdigest()
    with lab_lock(topology.name):
        existing = LabState.load(topology.name)
        if existing is not None:
            reused = _handle_existing(existing, topology, fingerprint, reconfigure, progress)
            if reused is not None:
                return reused
        else:
            _refuse_foreign_leftovers(topology)
        check_mgmt_subnet(topology, bridge_name(topology.name))
        state = plan(topology, fingerprint, configs)
        state.save()  # the plan is on record before the first namespace exists
        try:
            warnings = _build(topology, state, startups, progress)
        except BaseException:
            state.phase = "failed"
            state.save()
            progress("up failed: rolling back")
            teardown(state, topology)
            raise
        state.phase = "running"
        state.save()
        # containerlab settings this runtime could not honour are said once, when the lab is built
        return Lab(topology, state, [*topology.netns_ignores, *warnings])


def _handle_existing(
    existing: LabState, topology: Topology, fingerprint: str, reconfigure: bool, progress: Progress
) -> Lab | None:
    if existing.topology != str(topology.file):
        raise LabError(
            f"lab {topology.name} is already up from {existing.topology}; lab names are global "
            f"(namespaces {topology.name}-*): run `vxauto lab down {existing.topology}` first"
        )
    if lab_healthy(existing):
        if existing.fingerprint == fingerprint and not reconfigure:
            progress(f"lab {topology.name} is already running; nothing to do")
            return Lab(topology, existing)
        if not reconfigure:
            raise LabError(
                f"lab {topology.name} is running with a different topology or configs; use --reconfigure "
                "to rebuild it, or `vxauto lab down` first"
            )
        progress(f"reconfigure: removing the running lab {topology.name}")
    else:
        progress(f"lab {topology.name} was left incomplete ({existing.phase}): cleaning it up first")
    teardown(existing, topology)
    return None


def _refuse_foreign_leftovers(topology: Topology) -> None:
    """Never touch namespaces, links or a lab directory that are not on record as ours."""
    taken = [topology.namespace(name) for name in topology.nodes if netns.netns_exists(topology.namespace(name))]
    if netns.root_link_exists(bridge_name(topology.name)):
        taken.append(f"bridge {bridge_name(topology.name)}")
    lab_dir = topology.lab_dir
    if lab_dir.is_dir() and any(lab_dir.iterdir()) and not (lab_dir / MARKER).exists():
        taken.append(f"directory {lab_dir} (e.g. from containerlab itself)")
    if taken:
        raise LabError(
            f"{', '.join(taken)} already exist but are not recorded as a vxauto lab; refusing to touch them"
        )


def _build(topology: Topology, state: LabState, startups: dict[str, NodeStartup], progress: Progress) -> list[str]:
    started = time.monotonic()
    write_lab_dir(topology, state, startups)
    progress(f"lab directory {state.lab_dir}")
    netns.create_bridge(state.bridge, state.gateway, topology.mgmt.subnet.prefixlen, f"vxauto lab {state.name}")
    with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
        identities = pool.map(netns.create_netns, [node.namespace for node in state.nodes.values()])
        for node, identity in zip(state.nodes.values(), identities, strict=True):
            node.netns_inode = identity[1]
    state.save()
    netns.create_mgmt_veths(
        state.bridge, [(n.mgmt_veth, n.namespace) for n in state.nodes.values()], f"vxauto lab {state.name}",
        state.link_group,
    )
    _create_links(topology, pool_size=MAX_WORKERS)
    progress(f"{len(state.nodes)} namespaces, {len(topology.links)} links, bridge {state.bridge} "
             f"({time.monotonic() - started:.1f}s)")
    warnings: list[str] = []
    with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
        results = pool.map(lambda name: start_node(topology, state, name, startups[name]), list(state.nodes))
        for node_warnings in results:
            warnings += node_warnings
    state.save()
    for applied in wan.apply_declared(topology, state):
        progress(f"{applied.node}:{applied.interface}: {' '.join(applied.impairment.flags())} ({applied.method})")
    write_inventories(topology, state)
    progress(f"{len(state.nodes)} nodes up, SSH answering ({time.monotonic() - started:.1f}s)")
    return warnings


def _create_links(topology: Topology, pool_size: int) -> None:
    by_namespace: dict[str, list[tuple[str, str, str, int]]] = defaultdict(list)
    for link in topology.links:
        by_namespace[topology.namespace(link.a.node)].append(
            (link.a.interface, topology.namespace(link.b.node), link.b.interface, link.mtu)
        )
    with ThreadPoolExecutor(max_workers=pool_size) as pool:
        list(pool.map(lambda item: netns.create_veth_links(*item), by_namespace.items()))
