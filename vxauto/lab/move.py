"""Live migration of a lab VM: `vxauto lab move TOPOLOGY VM --to NODE`.

A VM is a lab node whose NICs are veths into a hypervisor's (or VTEP's) bridge. Moving it keeps the VM's
namespace as it is (its MAC, IP addresses, routes and open sockets), and moves the hypervisor end of each NIC
into the target node: there it joins the bridge of the same segment (the bridge of the VXLAN device with the
same VNI on a VTEP, or br<VNI> on a pyvtep node, else the bridge of the same name), and comes up. The VM then
announces itself (gratuitous ARP, unsolicited NA: vxauto.lab.announce), as a hypervisor has a VM do after live
migration. `move` then waits (at most `RELEARN_TIMEOUT_S`) until no VTEP of the lab forwards the VM's MACs to the
VTEP it left any more, and reports how long that took and any entry still stale at the deadline.

`move(..., announce=False)` (`vxauto lab move --no-announce`) is a hypervisor that does not have the VM
announce itself: the VM stays silent (see `_hold_chatter`) and the result lists every FDB entry left pointing
at the old place, until `announce_vm` has it announce itself.

Where each VM's NICs are now is recorded in the lab directory (`mobility.json`), so a VM can move on and back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from vxauto.lab import netns
from vxauto.lab.netns import LabError
from vxauto.lab.state import LabState, NodeState
from vxauto.lab.topology import Topology

RECORD = "mobility.json"
#: How long `move` waits for the other VTEPs to forward the VM's MACs to its new place.
RELEARN_TIMEOUT_S = 10.0


@dataclass
class NicMove:
    vm_interface: str
    source: str
    source_interface: str
    target: str
    target_interface: str
    bridge: str
    vni: int | None


@dataclass
class MoveResult:
    vm: str
    source: str
    target: str
    nics: list[NicMove]
    announcements: int
    #: Seconds the VM's NICs were without a bridge (from taking the first down to the last one up).
    detached_s: float
    #: Seconds from the announcement until no VTEP forwarded the VM's MACs to the old place any more.
    relearned_s: float = 0.0
    #: `node: mac -> old VTEP` entries still there at the deadline (none when the move converged); without
    #: the announcement, those right after the move (what data-plane learning left behind).
    stale: list[str] = field(default_factory=list)
    #: VTEP addresses of the node(s) the VM left (where a stale entry points).
    left: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def locations(topology: Topology, state: LabState, vm: str) -> dict[str, tuple[str, str]]:
    """VM interface -> (node, interface) of the other end, now (the record, else the topology)."""
    if vm not in state.nodes:
        raise LabError(f"lab {state.name} has no node {vm}")
    found = {end.interface: (other.node, other.interface)
             for link in topology.links for end, other in ((link.a, link.b), (link.b, link.a)) if end.node == vm}
    found.update({nic: (where[0], where[1]) for nic, where in _records(state).get(vm, {}).items()})
    if not found:
        raise LabError(f"{vm} has no data links to move")
    return found


@dataclass
class Announcement:
    """A VM announcing itself where it is now, and how long until no VTEP forwarded it to the old place."""

    sent: int
    relearned_s: float
    stale: list[str]


def move(topology: Topology, state: LabState, vm: str, target: str, announce: bool = True) -> MoveResult:
    """Move the VM's NICs to `target`; then (unless `announce` is False, a hypervisor that does not have the
    VM announce itself) the VM announces itself and the move waits until the other VTEPs relearned it."""
    if target not in state.nodes:
        raise LabError(f"lab {state.name} has no node {target} (the target of the move)")
    nics = locations(topology, state, vm)
    sources = {node for node, _ in nics.values()}
    if sources == {target}:
        raise LabError(f"{vm} already runs on {target}")
    target_state = state.nodes[target]
    plans = [_plan(state, vm, nic, node, interface, target_state) for nic, (node, interface) in sorted(nics.items())]
    if not announce:
        _hold_chatter(state.nodes[vm], [plan.vm_interface for plan in plans])
    started = time.monotonic()
    for plan in plans:
        _move_link(state.nodes[plan.source], plan.source_interface, target_state, plan.target_interface, plan.bridge)
    detached = time.monotonic() - started
    old_vteps = sorted({address for name in sources for address in _vtep_addresses(state.nodes[name])})
    _record(state, vm, plans)
    result = MoveResult(vm, ", ".join(sorted(sources)), target, plans, 0, detached, left=old_vteps)
    if not announce:
        # nothing re-teaches the VTEPs: every entry to the old place stays, also the target's own VXLAN
        # entry (its bridge has not seen the VM on the new port yet)
        macs = _macs(state.nodes[vm], [plan.vm_interface for plan in plans])
        result.stale = _stale_entries(state, {vm}, macs, set(old_vteps)) if old_vteps else []
        return result
    told = announce_vm(state, vm, old_vteps)
    result.announcements, result.relearned_s, result.stale = told.sent, told.relearned_s, told.stale
    return result


def announce_vm(state: LabState, vm: str, left: list[str]) -> Announcement:
    """The VM announces itself on every NIC (gratuitous ARP / unsolicited NA); then wait until no VTEP of the
    lab forwards its MACs to the VTEPs at `left` (the place it left), at most `RELEARN_TIMEOUT_S`."""
    interfaces = locations_now(state, vm)
    _release_chatter(state.nodes[vm], interfaces)
    sent = _announce(state.nodes[vm], interfaces)
    announced = time.monotonic()
    stale = _wait_relearned(state, {vm}, _macs(state.nodes[vm], interfaces), set(left))
    return Announcement(sent, round(time.monotonic() - announced, 3), stale)


def locations_now(state: LabState, vm: str) -> list[str]:
    """The VM's NICs that a move placed somewhere (from the record)."""
    moved = sorted(_records(state).get(vm, {}))
    if not moved:
        raise LabError(f"{vm} has not moved in lab {state.name}: nothing to announce")
    return moved


def _in_node(node: NodeState, *argv: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", node.namespace, *argv], capture_output=True, text=True,
                          timeout=30, check=False)
    return done.stdout if done.returncode == 0 else ""


def _vtep_addresses(node: NodeState) -> set[str]:
    """The local addresses of a node's kernel VXLAN devices (none on a plain hypervisor or a pyvtep node)."""
    links = json.loads(_in_node(node, "ip", "-j", "-d", "link", "show", "type", "vxlan") or "[]")
    return {str(local) for link in links
            if (local := ((link.get("linkinfo") or {}).get("info_data") or {}).get("local"))}


def _macs(vm: NodeState, interfaces: list[str]) -> set[str]:
    return {_in_node(vm, "cat", f"/sys/class/net/{interface}/address").strip().lower() for interface in interfaces}


def _stale_entries(state: LabState, skip: set[str], macs: set[str], old_vteps: set[str]) -> list[str]:
    """`node: mac -> address` for every FDB entry of the lab that still sends one of `macs` to an old VTEP.

    A node whose bridge has learned the MAC on a local port (the VM's new host, once the VM talked) is not
    stale: the port entry takes precedence over what its VXLAN device may keep until it ages out. `skip`
    holds the VM itself."""
    found = []
    for name, node in sorted(state.nodes.items()):
        if name in skip:
            continue
        table = json.loads(_in_node(node, "bridge", "-j", "fdb", "show") or "[]")
        entries = [e for e in table if str(e.get("mac", "")).lower() in macs]
        vxlan_ports = {e.get("ifname") for e in table if e.get("dst")}  # ports with remote entries: VXLAN
        local = {str(e["mac"]).lower() for e in entries
                 if e.get("master") and not e.get("dst") and e.get("ifname") not in vxlan_ports}
        for entry in entries:
            if entry.get("dst") in old_vteps and str(entry["mac"]).lower() not in local:
                found.append(f"{name}: {entry['mac']} -> {entry['dst']}")
    return found


def _wait_relearned(state: LabState, skip: set[str], macs: set[str], old_vteps: set[str]) -> list[str]:
    """Wait until the announcement has re-taught every VTEP (data-plane learning or EVPN); returns what is
    still stale at the deadline."""
    deadline = time.monotonic() + RELEARN_TIMEOUT_S
    while True:
        stale = _stale_entries(state, skip, macs, old_vteps) if old_vteps else []
        if not stale or time.monotonic() > deadline:
            return stale
        time.sleep(0.05)


def _plan(state: LabState, vm: str, nic: str, source: str, interface: str, target: NodeState) -> NicMove:
    source_state = state.nodes[source]
    with IPRoute(netns=source_state.namespace) as ipr:
        bridge, vni = _bridge_of(ipr, interface, source)
    with IPRoute(netns=target.namespace) as ipr:
        target_bridge = _target_bridge(ipr, bridge, vni, target.name)
        taken = {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    original = _original_name(state, vm, nic)
    name = original[1] if original[0] == target.name and original[1] not in taken else f"{vm}-{nic}"[: netns.IFNAMSIZ]
    if name in taken:
        raise LabError(f"{target.name} already has an interface {name}")
    return NicMove(nic, source, interface, target.name, name, target_bridge, vni)


def _bridge_of(ipr: IPRoute, interface: str, node: str) -> tuple[str, int | None]:
    """The bridge the VM's NIC is in on `node`, and the VNI of the VXLAN device in that bridge (if any)."""
    found = ipr.link_lookup(ifname=interface)
    if not found:
        raise LabError(f"{node} has no interface {interface}")
    master = ipr.get_links(found[0])[0].get_attr("IFLA_MASTER")
    if not master:
        raise LabError(f"{node}:{interface} is in no bridge: nothing to move it from")
    bridge = ipr.get_links(master)[0].get_attr("IFLA_IFNAME")
    for link in ipr.get_links():
        if link.get_attr("IFLA_MASTER") == master and _kind(link) == "vxlan":
            return bridge, _vni(link)
    return bridge, None


def _kind(link: Any) -> str | None:
    info = link.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info else None


def _vni(link: Any) -> int | None:
    data = link.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    return data.get_attr("IFLA_VXLAN_ID") if data else None


def _target_bridge(ipr: IPRoute, bridge: str, vni: int | None, node: str) -> str:
    links = ipr.get_links()
    if vni is not None:
        for link in links:
            if _kind(link) == "vxlan" and _vni(link) == vni and link.get_attr("IFLA_MASTER"):
                return str(ipr.get_links(link.get_attr("IFLA_MASTER"))[0].get_attr("IFLA_IFNAME"))
        # pyvtep has no kernel VXLAN device: its TAP for the VNI sits in br<VNI>, the name vxauto renders
        if any(link.get_attr("IFLA_IFNAME") == f"br{vni}" and _kind(link) == "bridge" for link in links):
            return f"br{vni}"
        raise LabError(f"{node} carries no VNI {vni} (no VXLAN device with that VNI in a bridge, no br{vni})")
    if any(link.get_attr("IFLA_IFNAME") == bridge and _kind(link) == "bridge" for link in links):
        return bridge
    raise LabError(f"{node} has no bridge {bridge} for the VM's segment")


def _move_link(source: NodeState, interface: str, target: NodeState, name: str, bridge: str) -> None:
    with IPRoute(netns=source.namespace) as ipr:
        index = ipr.link_lookup(ifname=interface)[0]
        ipr.link("set", index=index, state="down")
        ipr.link("set", index=index, net_ns_fd=str(netns.netns_path(target.namespace)), ifname=name)
    with IPRoute(netns=target.namespace) as ipr:
        index = ipr.link_lookup(ifname=name)[0]
        master = ipr.link_lookup(ifname=bridge)[0]
        ipr.link("set", index=index, master=master)
        ipr.link("set", index=index, state="up")
    if interface in source.interfaces:
        source.interfaces.remove(interface)
    target.interfaces.append(name)


#: tc filter priority of the hold on a VM's IPv6 link-up chatter (`move(announce=False)`).
CHATTER_PREF = "4242"


def _hold_chatter(vm: NodeState, interfaces: list[str]) -> None:
    """Keep the VM silent through the move, as a migrated guest is.

    The lab's veth makes the VM see its link go down and up, which a live-migrated guest does not see; Linux
    answers a link flap with an MLD report and a router solicitation, which would re-teach the FDBs just
    like an announcement. So a move without announcement keeps the VM's IPv6 egress on its NICs inside the VM
    (a tc egress filter redirects it to the VM's own loopback: this kernel has no drop action) until the VM
    announces itself (`announce_vm`). IPv4 stays: Linux sends no gratuitous ARP on link-up unless
    `arp_notify` is set."""
    for interface in interfaces:
        _in_node(vm, "tc", "qdisc", "add", "dev", interface, "clsact")  # fails harmlessly if it is there
        if not _in_node_ok(vm, "tc", "filter", "add", "dev", interface, "egress", "pref", CHATTER_PREF,
                           "protocol", "ipv6", "u32", "match", "u32", "0", "0", "action", "mirred", "egress",
                           "redirect", "dev", "lo"):
            raise LabError(f"{vm.name}: cannot hold back the IPv6 link-up chatter on {interface} (tc filter)")


def _release_chatter(vm: NodeState, interfaces: list[str]) -> None:
    for interface in interfaces:
        _in_node(vm, "tc", "filter", "del", "dev", interface, "egress", "pref", CHATTER_PREF)  # absent: fine


def _in_node_ok(node: NodeState, *argv: str) -> bool:
    done = subprocess.run(["ip", "netns", "exec", node.namespace, *argv], capture_output=True, text=True,
                          timeout=30, check=False)
    return done.returncode == 0


def _announce(vm: NodeState, interfaces: list[str]) -> int:
    sent = 0
    for interface in interfaces:
        result = subprocess.run(
            ["ip", "netns", "exec", vm.namespace, sys.executable, "-m", "vxauto.lab.announce", interface],
            capture_output=True, text=True, timeout=30, check=False,
        )
        if result.returncode != 0:
            raise LabError(f"{vm.name}: announcing on {interface} failed: {result.stderr.strip()}")
        sent += int(result.stdout.strip() or 0)
    return sent


def _records(state: LabState) -> dict[str, dict[str, list[str]]]:
    try:
        loaded = json.loads((Path(state.lab_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _original_name(state: LabState, vm: str, nic: str) -> tuple[str, str]:
    return tuple(_records(state).get("_origin", {}).get(f"{vm}:{nic}", ("", "")))  # type: ignore[return-value]


def _record(state: LabState, vm: str, plans: list[NicMove]) -> None:
    records = _records(state)
    origins = records.setdefault("_origin", {})
    for plan in plans:
        origins.setdefault(f"{vm}:{plan.vm_interface}", [plan.source, plan.source_interface])
    records[vm] = {plan.vm_interface: [plan.target, plan.target_interface] for plan in plans}
    (Path(state.lab_dir) / RECORD).write_text(json.dumps(records, indent=1, sort_keys=True), encoding="utf-8")
    state.save()
