"""Comparison: expected state (from the intent) against getter answers and probe results.

One function per check kind. Each takes the expected device (or probe results) and the answer of the
getter it needs, and returns `Check` records `{host, check, expected, actual, passed}`. A getter that
failed or that the platform does not implement turns every check that needed it into a failed check
whose `actual` names the getter: nothing is ever passed for want of data.

Check names say exactly what is broken (`vni 10020 map`, `bgp 10.1.1.0 (spine1)`,
`mtu eth1 (to spine1)`, `ping red-web: h2 10.10.10.2`), so a failing run points at one thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vxauto.model.mobility import MobileFacts
from vxauto.validate.dataplane import HostMacs, ProbeResult
from vxauto.validate.expected import Endpoint, ExpectedDevice, ExpectedState, ExpectedVni

GET_VNIS = "get_vxlan_vnis"
GET_VTEPS = "get_vxlan_vteps"
GET_BGP = "get_bgp_neighbors"
GET_INTERFACES = "get_interfaces"
GET_INTERFACES_IP = "get_interfaces_ip"
GET_MACS = "get_mac_address_table"
GET_VXLAN_MACS = "get_vxlan_macs"


@dataclass(frozen=True)
class Check:
    host: str
    check: str
    expected: str
    actual: str
    passed: bool
    #: Check kind (`vni`, `bgp`, `ping`, ...): the JUnit class name and the grouping in reports.
    kind: str = ""
    #: Seconds from the start of the run until the check first passed (its time to converge); None: never.
    first_passed_s: float | None = None
    #: The check passed at some point of the run and failed at a later one.
    flapping: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"host": self.host, "check": self.check, "expected": self.expected, "actual": self.actual,
                "passed": self.passed, "first_passed_s": self.first_passed_s, "flapping": self.flapping}


@dataclass(frozen=True)
class Answer:
    """One getter's answer: its value, or why there is none (connection, not implemented, error)."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


#: Getter name -> answer, for one device.
Answers = Mapping[str, Answer]


def _missing(getter: str) -> Answer:
    return Answer(error=f"{getter} was not collected")


def _answer(answers: Answers, getter: str) -> Answer:
    return answers.get(getter) or _missing(getter)


def _ips(addresses: Iterable[str]) -> str:
    listed = list(addresses)
    return ", ".join(listed) if listed else "none"


def _vnis_text(vnis: Iterable[int]) -> str:
    listed = sorted(vnis)
    return ", ".join(str(v) for v in listed) if listed else "none"


class _Emitter:
    """Collects the checks of one device and one kind."""

    def __init__(self, host: str, kind: str) -> None:
        self.host, self.kind = host, kind
        self.checks: list[Check] = []

    def add(self, check: str, expected: str, actual: str, passed: bool) -> None:
        self.checks.append(Check(self.host, check, expected, actual, passed, self.kind))


# --------------------------------------------------------------------------- VNIs (get_vxlan_vnis)


def _vni_table(answers: Answers) -> tuple[dict[int, Any] | None, str | None]:
    answer = _answer(answers, GET_VNIS)
    if not answer.ok:
        return None, answer.error
    return {int(k): v for k, v in (answer.value or {}).items()}, None


def _mapping_expected(vni: ExpectedVni) -> str:
    if vni.type == "l3":
        return f"l3 vrf {vni.name}" + (f", vlan {vni.vlan}" if vni.vlan is not None else "")
    return f"vlan {vni.vlan} ({vni.name})"


def _bridge_owners(table: Mapping[int, Any]) -> dict[str, list[int]]:
    owners: dict[str, list[int]] = {}
    for number, info in table.items():
        if info.get("bridge"):
            owners.setdefault(info["bridge"], []).append(number)
    return owners


def _mapping_verdict(vni: ExpectedVni, info: Mapping[str, Any], table: Mapping[int, Any]) -> tuple[str, bool]:
    """Actual text and verdict of one VNI's mapping.

    The VLAN must be the intent's. The one exception is a Linux-style VTEP with a bridge per VNI and
    only untagged ports for the segment: there the VLAN exists nowhere on the device (the bridge is the
    broadcast domain), the getter rightly reports `vlan: None`, and the mapping is the VNI's own bridge,
    which must then be reported and not shared with another VNI.
    """
    if info.get("type") != vni.type:
        return f"type {info.get('type')} (vlan {info.get('vlan')})", False
    vlan, bridge = info.get("vlan"), info.get("bridge")
    if vlan is not None:
        text = f"vlan {vlan}" + (f", bridge {bridge}" if bridge else "")
        return text, vlan == vni.vlan
    if vni.type == "l3":
        return "no VLAN reported", vni.vlan is None
    if not bridge:
        return "no VLAN reported, no bridge", False
    shared = [other for other in _bridge_owners(table).get(bridge, []) if other != vni.vni]
    if shared:
        return f"bridge {bridge} shared with VNI {_vnis_text(shared)}", False
    tagged = [port for port in vni.ports if "." in port]
    if tagged:
        return f"no VLAN reported (bridge {bridge}) although {', '.join(tagged)} is tagged", False
    return f"own bridge {bridge}, untagged ports (no VLAN on this device)", True


def check_vni_mappings(device: ExpectedDevice, answers: Answers) -> list[Check]:
    """Each expected VNI exists with the intent's VLAN (or, untagged Linux bridges, a bridge of its own)."""
    out = _Emitter(device.name, "vni")
    table, error = _vni_table(answers)
    for vni in device.vnis.values():
        expected = _mapping_expected(vni)
        if table is None:
            out.add(f"vni {vni.vni} map", expected, f"unknown: {error}", False)
        elif vni.vni not in table:
            out.add(f"vni {vni.vni} map", expected, "absent", False)
        else:
            actual, passed = _mapping_verdict(vni, table[vni.vni], table)
            out.add(f"vni {vni.vni} map", expected, actual, passed)
    return out.checks


def check_unexpected_vnis(device: ExpectedDevice, answers: Answers) -> list[Check]:
    """VNIs the device has and the intent does not (a leftover, or a VLAN mapped to a wrong VNI)."""
    out = _Emitter(device.name, "vni")
    table, error = _vni_table(answers)
    if table is None and not device.vnis:
        # no other VNI check reports the unreadable table here: an empty intent is no reason to pass
        out.add("vnis unexpected", "none beyond the intent", f"unknown: {error}", False)
    for number, info in sorted((table or {}).items()):
        if number not in device.vnis:
            where = ", ".join(f"{key} {info.get(key)}" for key in ("vlan", "interface", "bridge") if info.get(key))
            out.add(f"vni {number} unexpected", "absent (not in the intent)", f"present ({where or 'configured'})",
                    False)
    return out.checks


def check_vni_sources(device: ExpectedDevice, answers: Answers) -> list[Check]:
    """Each VNI is sourced from the VTEP address (and from the VTEP interface, where the platform says)."""
    out = _Emitter(device.name, "vni")
    table, error = _vni_table(answers)
    for vni in device.vnis.values():
        expected = f"{vni.source_ip} ({vni.source_interface})" if vni.source_interface else vni.source_ip
        info = (table or {}).get(vni.vni)
        if info is None:
            out.add(f"vni {vni.vni} source", expected, f"unknown: {error}" if table is None else "vni absent", False)
            continue
        source_ip, source_if = info.get("source_ip"), info.get("source_interface")
        passed = source_ip == vni.source_ip
        if source_if is not None and vni.source_interface is not None:
            passed = passed and source_if.lower() == vni.source_interface.lower()
        actual = f"{source_ip} ({source_if})" if source_if else f"{source_ip}"
        out.add(f"vni {vni.vni} source", expected, actual, passed)
    return out.checks


def check_vni_states(device: ExpectedDevice, answers: Answers) -> list[Check]:
    """Each VNI is up. `unknown` (the platform reports no state) is not up: it fails, saying so."""
    out = _Emitter(device.name, "vni")
    table, error = _vni_table(answers)
    for vni in device.vnis.values():
        info = (table or {}).get(vni.vni)
        if info is None:
            out.add(f"vni {vni.vni} state", "up", f"unknown: {error}" if table is None else "vni absent", False)
        elif info.get("state") == "unknown":
            out.add(f"vni {vni.vni} state", "up", "unknown (the platform reports no VNI state)", False)
        else:
            out.add(f"vni {vni.vni} state", "up", str(info.get("state")), info.get("state") == "up")
    return out.checks


def _learning(mode: object) -> str:
    return f"({mode})" if mode != "unknown" else "(learning unknown)"


def check_flood_lists(device: ExpectedDevice, answers: Answers) -> list[Check]:
    """Each L2 VNI floods to exactly the other VTEPs of its segment, learned the intended way
    (a static list, or EVPN type-3 routes)."""
    out = _Emitter(device.name, "vni")
    table, error = _vni_table(answers)
    for vni in device.vnis.values():
        if vni.type != "l2":
            continue
        expected = f"{_ips(vni.remote_vteps)} {_learning(vni.learning)}"
        info = (table or {}).get(vni.vni)
        if info is None:
            out.add(f"vni {vni.vni} flood", expected, f"unknown: {error}" if table is None else "vni absent", False)
            continue
        flood, learning = info.get("flood_list"), info.get("learning")
        if flood is None:
            out.add(f"vni {vni.vni} flood", expected, f"not reported by the platform {_learning(learning)}", False)
            continue
        actual = f"{_ips(flood)} {_learning(learning)}"
        missing = [ip for ip in vni.remote_vteps if ip not in flood]
        extra = [ip for ip in flood if ip not in vni.remote_vteps]
        if missing:
            actual += f", missing {_ips(missing)}"
        if extra:
            actual += f", unexpected {_ips(extra)}"
        out.add(f"vni {vni.vni} flood", expected, actual, not missing and not extra and learning == vni.learning)
    return out.checks


# --------------------------------------------------------------------------- remote VTEPs (get_vxlan_vteps)


def check_remote_vteps(device: ExpectedDevice, answers: Answers) -> list[Check]:
    """Per remote VTEP: the VNIs shared with it, learned from EVPN type-3 routes or the static lists."""
    out = _Emitter(device.name, "vtep")
    answer = _answer(answers, GET_VTEPS)
    table: dict[str, Any] = dict(answer.value or {}) if answer.ok else {}
    learning_of = {vni.vni: vni.learning for vni in device.vnis.values()}
    l3_vnis = {vni.vni for vni in device.vnis.values() if vni.type == "l3"}
    for address, shared in device.remote_vteps.items():
        modes = sorted({learning_of[v] for v in shared})
        label = "type-3 from" if modes == ["evpn"] else "flood to"
        name = device.vtep_names.get(address, "?")
        expected = f"VNIs {_vnis_text(shared)} ({'/'.join(modes)})"
        check = f"{label} {name} {address}"
        if not answer.ok:
            out.add(check, expected, f"unknown: {answer.error}", False)
            continue
        info = table.get(address)
        if info is None:
            out.add(check, expected, "absent", False)
            continue
        reported = info.get("vnis")
        if reported is None:
            out.add(check, expected, "VNIs not reported by the platform", False)
            continue
        seen = set(reported) - l3_vnis  # L3 VNIs ride along on type-5/RMAC; they are not flooded
        missing, extra = sorted(set(shared) - seen), sorted(seen - set(shared))
        actual = f"VNIs {_vnis_text(seen)} ({info.get('learning')})"
        if missing:
            actual += f", missing {_vnis_text(missing)}"
        if extra:
            actual += f", unexpected {_vnis_text(extra)}"
        learning_ok = info.get("learning") in modes
        out.add(check, expected, actual, not missing and not extra and learning_ok)
    if not answer.ok and not device.remote_vteps:
        out.add("vteps unexpected", "none beyond the intent", f"unknown: {answer.error}", False)
    for address, info in sorted(table.items()):
        if address not in device.remote_vteps and address != device.vtep_ip:
            out.add(f"vtep {address} unexpected", "absent (no shared segment)",
                    f"VNIs {_vnis_text(info.get('vnis') or [])} ({info.get('learning')})", False)
    return out.checks


# --------------------------------------------------------------------------- addresses, interfaces, BGP


def check_vtep_address(device: ExpectedDevice, answers: Answers) -> list[Check]:
    """The VTEP address is configured on the VTEP source interface."""
    if not device.is_vtep:
        return []
    out = _Emitter(device.name, "vtep")
    expected = f"{device.vtep_ip} on {device.vtep_interface}"
    answer = _answer(answers, GET_INTERFACES_IP)
    if not answer.ok:
        out.add("vtep address", expected, f"unknown: {answer.error}", False)
        return out.checks
    holders = []
    for interface, families in (answer.value or {}).items():
        for family in families.values():
            if device.vtep_ip in family:
                holders.append(interface)
    wanted = (device.vtep_interface or "").lower()
    passed = any(holder.lower() == wanted for holder in holders)
    out.add("vtep address", expected, f"{device.vtep_ip} on {', '.join(holders)}" if holders else "not configured",
            passed)
    return out.checks


def _find_peer(bgp: Mapping[str, Any], ip: str) -> dict[str, Any] | None:
    for vrf in bgp.values():
        peers = (vrf or {}).get("peers") or {}
        if ip in peers:
            return dict(peers[ip])
    return None


def _families(peer: Mapping[str, Any]) -> list[str]:
    return sorted(str(name) for name in (peer.get("address_family") or {}))


def _has_evpn(families: Iterable[str]) -> bool:
    return any("evpn" in name.lower() or "l2vpn" in name.lower() for name in families)


def check_bgp_sessions(device: ExpectedDevice, answers: Answers) -> list[Check]:
    """Every BGP session of the intent is up with the right AS, EVPN ones with the EVPN family."""
    out = _Emitter(device.name, "bgp")
    answer = _answer(answers, GET_BGP)
    for session in device.sessions:
        expected = f"up, AS {session.remote_as}" + (", l2vpn evpn" if session.evpn else "")
        check = f"bgp {session.ip} ({session.peer})"
        if not answer.ok:
            out.add(check, expected, f"unknown: {answer.error}", False)
            continue
        peer = _find_peer(answer.value or {}, session.ip)
        if peer is None:
            none_at_all = not any((vrf or {}).get("peers") for vrf in (answer.value or {}).values())
            out.add(check, expected, "no BGP neighbors at all (BGP not running?)" if none_at_all
                    else "no such neighbor", False)
            continue
        families = _families(peer)
        up = bool(peer.get("is_up"))
        actual = f"{'up' if up else 'down'}, AS {peer.get('remote_as')}, {', '.join(families) or 'no families'}"
        passed = up and peer.get("remote_as") == session.remote_as and (not session.evpn or _has_evpn(families))
        out.add(check, expected, actual, passed)
    return out.checks


def check_underlay_mtu(device: ExpectedDevice, answers: Answers) -> list[Check]:
    """Every underlay interface is up with the intent's MTU (a smaller one drops full overlay frames)."""
    out = _Emitter(device.name, "mtu")
    answer = _answer(answers, GET_INTERFACES)
    for interface in device.underlay:
        expected = f"up, mtu {interface.mtu}"
        check = f"mtu {interface.name} (to {interface.peer})"
        if not answer.ok:
            out.add(check, expected, f"unknown: {answer.error}", False)
            continue
        info = (answer.value or {}).get(interface.name)
        if info is None:
            out.add(check, expected, "no such interface", False)
            continue
        up = bool(info.get("is_up"))
        mtu = info.get("mtu")
        out.add(check, expected, f"{'up' if up else 'down'}, mtu {mtu}", up and mtu == interface.mtu)
    return out.checks


# --------------------------------------------------------------------------- MACs (get_mac_address_table)


def normal_mac(mac: str) -> str:
    """`AA:BB:CC:DD:EE:FF`, `aabb.ccdd.eeff`, `aa-bb-...` -> `aa:bb:cc:dd:ee:ff`."""
    digits = "".join(ch for ch in mac.lower() if ch in "0123456789abcdef")
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2)) if len(digits) == 12 else mac.lower()


def _vni_locators(device: ExpectedDevice, vni_table: Mapping[int, Any] | None) -> tuple[dict[int, int], dict[str, int]]:
    """How a MAC entry names its VNI: by VLAN (the device's VLAN of the VNI) or by interface (the VNI's
    VXLAN interface or bridge as the getter reports them, or the segment's ports on this device)."""
    by_vlan = {vni.vlan: vni.vni for vni in device.vnis.values() if vni.type == "l2" and vni.vlan}
    by_interface: dict[str, int] = {}
    for vni in device.vnis.values():
        for port in vni.ports:
            by_interface[port] = vni.vni
    for number, info in (vni_table or {}).items():
        for key in ("interface", "bridge"):
            if info.get(key):
                by_interface[info[key]] = number
    return by_vlan, by_interface


def _entry_vni(entry: Mapping[str, Any], by_vlan: dict[int, int], by_interface: dict[str, int]) -> int | None:
    vlan = entry.get("vlan")
    if isinstance(vlan, int) and vlan in by_vlan:
        return by_vlan[vlan]
    return by_interface.get(str(entry.get("interface") or ""))


def _expected_macs(device: ExpectedDevice, state: ExpectedState) -> list[tuple[ExpectedVni, Endpoint]]:
    return [(vni, endpoint) for vni in device.vnis.values() if vni.type == "l2"
            for endpoint in state.endpoints_in(vni.vni)]


def mac_locations(
    device: ExpectedDevice, table: Iterable[Mapping[str, Any]], vni_table: Mapping[int, Any] | None
) -> dict[str, list[tuple[int | None, Mapping[str, Any]]]]:
    """MAC -> [(VNI or None, entry)] for every entry of the device's MAC table."""
    by_vlan, by_interface = _vni_locators(device, vni_table)
    found: dict[str, list[tuple[int | None, Mapping[str, Any]]]] = {}
    for entry in table:
        found.setdefault(normal_mac(str(entry.get("mac", ""))), []).append(
            (_entry_vni(entry, by_vlan, by_interface), entry))
    return found


def macs_complete(
    device: ExpectedDevice, state: ExpectedState, host_macs: HostMacs, table: Iterable[Mapping[str, Any]],
    vni_table: Mapping[int, Any] | None,
) -> bool:
    """Whether every endpoint MAC of the device's VNIs is in the table on its VNI (to stop waiting)."""
    located = mac_locations(device, table, vni_table)
    for vni, endpoint in _expected_macs(device, state):
        mac = host_macs.of(endpoint)
        if mac is not None and not any(where == vni.vni for where, _ in located.get(mac, [])):
            return False
    return True


def _describe(entry: Mapping[str, Any], where: int | None) -> str:
    vlan = entry.get("vlan")
    text = f"{entry.get('interface')}" + (f" vlan {vlan}" if vlan else "")
    return f"{text} (VNI {where})" if where is not None else f"{text} (no VNI of the intent)"


def check_endpoint_macs(device: ExpectedDevice, answers: Answers, state: ExpectedState,
                        host_macs: HostMacs) -> list[Check]:
    """Every endpoint MAC of every VNI the device carries is in its MAC table on that VNI (locally
    learned or installed from EVPN type-2 routes / learned behind a remote VTEP)."""
    out = _Emitter(device.name, "mac")
    answer = _answer(answers, GET_MACS)
    vni_table, _ = _vni_table(answers)
    located = mac_locations(device, answer.value or [], vni_table) if answer.ok else {}
    for vni, endpoint in _expected_macs(device, state):
        check = f"mac {endpoint.node} {endpoint.interface} (vni {vni.vni})"
        mac = host_macs.of(endpoint)
        if mac is None:
            reason = host_macs.errors.get(endpoint.node, f"{endpoint.interface} not found on {endpoint.node}")
            out.add(check, f"host MAC on VNI {vni.vni}", f"host MAC unknown: {reason}", False)
            continue
        expected = f"{mac} on VNI {vni.vni}"
        if not answer.ok:
            out.add(check, expected, f"unknown: {answer.error}", False)
            continue
        entries = located.get(mac, [])
        right = [entry for where, entry in entries if where == vni.vni]
        if right:
            out.add(check, expected, "learned on " + _describe(right[0], vni.vni), True)
        elif entries:
            out.add(check, expected, "only on " + "; ".join(_describe(e, w) for w, e in entries), False)
        else:
            out.add(check, expected, "not learned", False)
    return out.checks


# --------------------------------------------------------------------------- mobile endpoints (get_vxlan_macs)


def _mobile_here(device: ExpectedDevice, state: ExpectedState) -> list[tuple[ExpectedVni, MobileFacts]]:
    return [(device.vnis[vm.vni], vm) for vm in state.mobile if vm.vni in device.vnis]


def _vtep_text(address: str, vm: MobileFacts) -> str:
    names = {ip: name for name, ip in vm.vteps.items()}
    return f"{address} ({names[address]})" if address in names else address


def _mobile_place(device: ExpectedDevice, vni: ExpectedVni, vm: MobileFacts, place: Mapping[str, Any] | None
                  ) -> tuple[str, bool]:
    """Where this VTEP forwards the VM's MAC: exactly one place, an allowed one, the one EVPN chose."""
    ports, vteps = list((place or {}).get("ports") or []), list((place or {}).get("vteps") or [])
    evpn = (place or {}).get("evpn")
    if not ports and not vteps and not evpn:
        if vni.learning == "static":  # data-plane learning: known once the VM talked to this VTEP
            return "not learned here (static flood learns from traffic)", True
        return "not known: no EVPN type-2 route, no FDB entry", False
    # A local port entry wins in the bridge; a VXLAN entry beside it forwards nothing (a leftover).
    forwards = [f"local on {port}" for port in ports] or [f"behind {_vtep_text(ip, vm)}" for ip in vteps]
    leftover = f"; leftover VXLAN entry to {', '.join(vteps)}" if ports and vteps else ""
    chosen = None
    if evpn:
        chosen = f"local on {evpn.get('interface')}" if evpn.get("type") == "local" else \
            f"behind {_vtep_text(str(evpn.get('vtep')), vm)}"
    if not forwards:
        return f"EVPN has it {chosen}, but the FDB has no entry for it (not installed)", False
    if len(forwards) != 1:
        return f"at {len(forwards)} places: {'; '.join(forwards)}", False
    text = forwards[0] + leftover
    if chosen is not None and chosen != forwards[0]:
        return f"stale: FDB forwards {forwards[0]}, EVPN has it {chosen}", False
    if ports and device.name not in vm.vteps:
        return f"{text}, but {device.name} is not one of its VTEPs", False
    if vteps and not ports and vteps[0] not in vm.vteps.values():
        return f"{text}: not one of its VTEPs ({', '.join(vm.vteps) or 'none'})", False
    return text, True


def check_mobile_endpoints(device: ExpectedDevice, answers: Answers, state: ExpectedState) -> list[Check]:
    """Each mobile endpoint of a VNI this VTEP carries: where the VTEP forwards it (one place, allowed, as EVPN
    says; a stale FDB entry fails here, on the VTEP that holds it), and on EVPN VNIs the MAC-mobility sequence
    numbers (where it is local, above the remote one: RFC 7432 section 15) and duplicate-address detection."""
    out = _Emitter(device.name, "mobile")
    answer = _answer(answers, GET_VXLAN_MACS)
    for vni, vm in _mobile_here(device, state):
        where = f"mobile {vm.name} (vni {vni.vni})"
        if not answer.ok:
            out.add(f"{where} place", f"{vm.mac} at one allowed VTEP", f"unknown: {answer.error}", False)
            continue
        place = ((answer.value or {}).get(vni.vni) or {}).get(vm.mac)
        actual, passed = _mobile_place(device, vni, vm, place)
        out.add(f"{where} place", f"{vm.mac} at one allowed VTEP", actual, passed)
        evpn = (place or {}).get("evpn")
        if vni.learning != "evpn" or not evpn:
            continue
        local, remote = int(evpn.get("local_seq", 0)), int(evpn.get("remote_seq", 0))
        if evpn.get("type") == "local":
            # The VTEP that has the MAC advertises it with a sequence above every remote route's (RFC 7432
            # section 15): 0/0 for a MAC that never moved. (Zebra's local number on a remote entry is its own
            # bookkeeping, not a claim, so remote entries are judged by the place check alone.)
            out.add(f"{where} mobility sequence", "local sequence above the remote one (or 0/0: never moved)",
                    f"local seq {local}, remote seq {remote}", local > remote or local == remote == 0)
        out.add(f"{where} duplicate detection", "not flagged duplicate",
                f"{'duplicate' if evpn.get('duplicate') else 'not duplicate'} ({evpn.get('detections', 0)} "
                "detections)", not evpn.get("duplicate"))
    return out.checks


# --------------------------------------------------------------------------- stale forwarding (across VTEPs)


def _is_local(place: Mapping[str, Any] | None) -> bool:
    """Whether a VTEP has the MAC behind itself: on a bridge port, or as a local EVPN MAC."""
    evpn = (place or {}).get("evpn")
    return bool((place or {}).get("ports")) or bool(evpn and evpn.get("type") == "local")


def _judged_vtep_set(state: ExpectedState, vm: MobileFacts) -> tuple[str, ...] | None:
    """Every VTEP carrying the VM's segment, when all of them are validated in this run; None otherwise
    (a stale entry can only be told from a right one with the tables of every VTEP of the segment)."""
    carriers = state.carriers.get(vm.vni, ())
    if not carriers or any(name not in state.devices for name in carriers):
        return None
    return carriers


def stale_forwarding_devices(state: ExpectedState) -> tuple[str, ...]:
    """The VTEPs whose `get_vxlan_macs` answers the stale-forwarding check judges together."""
    names: dict[str, None] = {}
    for vm in state.mobile:
        for name in _judged_vtep_set(state, vm) or ():
            names[name] = None
    return tuple(names)


def _vtep_names(state: ExpectedState, vm: MobileFacts) -> dict[str, str]:
    names = {device.vtep_ip: name for name, device in state.devices.items() if device.vtep_ip}
    names.update({ip: name for name, ip in vm.vteps.items()})
    return names


def _forwarding_verdict(holder: str, place: Mapping[str, Any] | None, vm: MobileFacts,
                        places: Mapping[str, Mapping[str, Any] | None], errors: Mapping[str, str],
                        names: Mapping[str, str]) -> tuple[str, bool]:
    """Where `holder` forwards the VM, judged against where the other VTEPs have it now."""
    local_at = [name for name, other in places.items() if _is_local(other)]
    now = ", ".join(local_at) if local_at else "no VTEP (not heard from since it moved)"
    if _is_local(place):
        others = [name for name in local_at if name != holder]
        if others:
            return f"local here and also local at {', '.join(others)}", False
        return "local here", True  # a VXLAN entry beside the local port forwards nothing
    vteps = list((place or {}).get("vteps") or [])
    if not vteps:
        return "no VXLAN entry (forwards nowhere else)", True
    verdicts = []
    for address in vteps:
        owner = names.get(address)
        label = f"{address} ({owner})" if owner else address
        if owner is None or (owner not in places and owner not in errors):
            verdicts.append((f"stale: forwards behind {label}, no VTEP of the segment; it is now at {now}", False))
        elif owner in errors:
            verdicts.append((f"unknown: forwards behind {label}, whose table is unreadable: {errors[owner]}", False))
        elif _is_local(places[owner]):
            verdicts.append((f"behind {label}, where it is local", True))
        else:
            verdicts.append((f"stale: forwards behind {label}, which no longer has it; it is now at {now}", False))
    return "; ".join(text for text, _ in verdicts), all(ok for _, ok in verdicts)


def check_stale_forwarding(state: ExpectedState, answers: Mapping[str, Answers]) -> list[Check]:
    """No VTEP forwards a mobile endpoint to a place it left: every VXLAN FDB entry for the VM's MAC points
    at a VTEP that has the MAC locally now (EVPN type-2 local / a bridge port), and the MAC is local at one
    VTEP at most. On static-flood VTEPs this is the entry data-plane learning leaves behind until the VM
    announces itself; it is named on the VTEP that holds it. Judged across every VTEP of the segment, so
    only when all of them are validated in this run."""
    found: list[Check] = []
    for vm in state.mobile:
        judged = _judged_vtep_set(state, vm)
        if judged is None:
            continue
        places: dict[str, Mapping[str, Any] | None] = {}
        errors: dict[str, str] = {}
        for name in judged:
            answer = _answer(answers.get(name, {}), GET_VXLAN_MACS)
            if answer.ok:
                places[name] = ((answer.value or {}).get(vm.vni) or {}).get(vm.mac)
            else:
                errors[name] = str(answer.error)
        names = _vtep_names(state, vm)
        for name in judged:
            out = _Emitter(name, "mobile")
            check = f"mobile {vm.name} (vni {vm.vni}) forwarding"
            expected = "only to the VTEP that has it now"
            if name in errors:
                out.add(check, expected, f"unknown: {errors[name]}", False)
            else:
                out.add(check, expected, *_forwarding_verdict(name, places[name], vm, places, errors, names))
            found += out.checks
    return found


# --------------------------------------------------------------------------- one device


@dataclass(frozen=True)
class Context:
    """What device checks read besides their getters: the whole expected state and the hosts' own MACs."""

    state: ExpectedState
    host_macs: HostMacs


@dataclass(frozen=True)
class CheckKind:
    """One kind of device check and the getters it declares (as ANTA's tests declare their commands).

    The validation engine reads exactly the declared getters, and after a failure re-reads only those
    of the failing kinds before it evaluates them again.
    """

    name: str
    getters: tuple[str, ...]
    evaluate: Callable[[ExpectedDevice, Answers, Context], list[Check]]
    applies: Callable[[ExpectedDevice], bool]
    #: Read after the data-plane probes (a MAC table is only complete once the endpoints have talked).
    after_traffic: bool = False


def _plain(function: Callable[[ExpectedDevice, Answers], list[Check]]) -> Callable[
        [ExpectedDevice, Answers, Context], list[Check]]:
    def evaluate(device: ExpectedDevice, answers: Answers, _: Context) -> list[Check]:
        return function(device, answers)

    return evaluate


def _is_vtep(device: ExpectedDevice) -> bool:
    return device.is_vtep


def _endpoint_macs(device: ExpectedDevice, answers: Answers, context: Context) -> list[Check]:
    return check_endpoint_macs(device, answers, context.state, context.host_macs)


def _mobile_endpoints(device: ExpectedDevice, answers: Answers, context: Context) -> list[Check]:
    return check_mobile_endpoints(device, answers, context.state)


#: Every device check, in report order: the VTEP's VXLAN state, routing, then the MACs.
CHECK_KINDS: tuple[CheckKind, ...] = (
    CheckKind("vni-mapping", (GET_VNIS,), _plain(check_vni_mappings), _is_vtep),
    CheckKind("vni-source", (GET_VNIS,), _plain(check_vni_sources), _is_vtep),
    CheckKind("vni-state", (GET_VNIS,), _plain(check_vni_states), _is_vtep),
    CheckKind("flood-list", (GET_VNIS,), _plain(check_flood_lists), _is_vtep),
    CheckKind("unexpected-vni", (GET_VNIS,), _plain(check_unexpected_vnis), _is_vtep),
    CheckKind("remote-vtep", (GET_VTEPS,), _plain(check_remote_vteps), _is_vtep),
    CheckKind("vtep-address", (GET_INTERFACES_IP,), _plain(check_vtep_address), _is_vtep),
    CheckKind("bgp-session", (GET_BGP,), _plain(check_bgp_sessions), lambda device: bool(device.sessions)),
    CheckKind("underlay-mtu", (GET_INTERFACES,), _plain(check_underlay_mtu), lambda device: bool(device.underlay)),
    CheckKind("endpoint-mac", (GET_MACS, GET_VNIS), _endpoint_macs, _is_vtep, after_traffic=True),
    CheckKind("mobile-endpoint", (GET_VXLAN_MACS,), _mobile_endpoints,
              lambda device: device.is_vtep and bool(device.mobile_vnis)),
)


@dataclass(frozen=True)
class FabricCheckKind:
    """A check kind judged across devices: it reads its getters on `devices(state)` and evaluates all of their
    answers together (a stale entry on one VTEP is only stale given where the others have the MAC)."""

    name: str
    getters: tuple[str, ...]
    evaluate: Callable[[ExpectedState, Mapping[str, Answers]], list[Check]]
    devices: Callable[[ExpectedState], tuple[str, ...]]


FABRIC_CHECK_KINDS: tuple[FabricCheckKind, ...] = (
    FabricCheckKind("mobile-forwarding", (GET_VXLAN_MACS,), check_stale_forwarding, stale_forwarding_devices),
)


def fabric_kinds_for(state: ExpectedState, name: str) -> tuple[FabricCheckKind, ...]:
    """The fabric-wide kinds that read this device's getters."""
    return tuple(kind for kind in FABRIC_CHECK_KINDS if name in kind.devices(state))


def kinds_for(device: ExpectedDevice) -> tuple[CheckKind, ...]:
    return tuple(kind for kind in CHECK_KINDS if kind.applies(device))


def needed_getters(device: ExpectedDevice, after_traffic: bool | None = False) -> list[str]:
    """The getters the checks of this device declare, in first-use order: those read before the probes
    (`after_traffic=False`), after them (`True`), or all (`None`)."""
    return getters_of(kinds_for(device), after_traffic)


def getters_of(kinds: Iterable[CheckKind], after_traffic: bool | None = False) -> list[str]:
    """The getters these check kinds declare, in first-use order (`after_traffic` as in `needed_getters`)."""
    wanted: list[str] = []
    for kind in kinds:
        for getter in kind.getters:
            late = kind.after_traffic and getter == GET_MACS
            if (after_traffic is None or late == after_traffic) and getter not in wanted:
                wanted.append(getter)
    return wanted


def device_checks(device: ExpectedDevice, answers: Answers, state: ExpectedState, host_macs: HostMacs) -> list[Check]:
    context = Context(state, host_macs)
    return [check for kind in kinds_for(device) for check in kind.evaluate(device, answers, context)]


# --------------------------------------------------------------------------- data plane


def _probe_check(result: ProbeResult, overlay_mtu: int) -> Check:
    probe, source, target = result.probe, result.probe.source, result.probe.target
    if probe.kind == "ping":
        name = f"ping {source.segment}: {target.node} {target.ip}"
        expected = f"reply (from {source.interface})"
    elif probe.kind == "mtu":
        name = f"mtu-ping {source.segment}: {target.node} {target.ip}"
        expected = f"reply to a {probe.size}-byte DF ping (overlay MTU {overlay_mtu})"
    else:
        name = f"isolation {source.segment} -x- {target.segment}: {target.node} {target.ip}"
        tenants = f", tenant {source.tenant} vs {target.tenant}" if source.tenant != target.tenant else ""
        expected = f"no reply (from {source.interface}{tenants})"
    return Check(source.node, name, expected, result.actual, result.passed, probe.kind)


def probe_checks(results: Iterable[ProbeResult], overlay_mtu: int) -> list[Check]:
    return [_probe_check(result, overlay_mtu) for result in results]
