"""pyvtep's management API replies in, NAPALM models and vxauto's VXLAN contract out (pure functions).

Inputs are the `result`s of the API ops (docs/pyvtep.md, `vxauto/vtep/api.py`): `config` (its `running`
part: the configuration in force, as JSON), `vnis`, `vteps`, `macs`, `evpn`, plus `ip -j -d link show`
for the TAPs' link state. Nothing here talks to a device, so recorded replies drive the same code
(tests/getters/pyvtep/).

How the contract's fields come from pyvtep:
- a VNI is an L2 segment on its TAP (`interface`), in `bridge` when the configuration names one; pyvtep
  has no VLANs (`vlan: None`), no VRFs and no SVIs;
- `state`: the TAP's UP and LOWER_UP flags (LOWER_UP: pyvtep holds the TAP open), `down` without the TAP;
- `flood_list`: the unicast part of the VNI's `flood` (static list plus EVPN type-3 originators), the
  multicast group apart as `mcast_group`;
- `learning`: from where the flood entries come (`vteps` sources: evpn > static); a VNI without any is
  `static` when its configuration lists VTEPs, `evpn` when pyvtep speaks EVPN, `dataplane` with a group;
- remote VTEPs: every remote of `vteps` (flood entries and MAC entries), learned the strongest way any
  source says (`evpn`/`mac-evpn` > `static`/`mac-static` > `mac-learned` = dataplane); pyvtep keeps no
  per-VTEP state (`unknown`).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from napalm.base import models

from vxauto.devices.contract import Learning, State, VniTable, VtepInfo, VtepTable, sorted_ips
from vxauto.devices.parsers.mobility import EvpnMac, MacPlace, VxlanMacTable
from vxauto.errors import VxautoError

#: `vteps` source -> how the VTEP was learned; the strongest source wins (`LEARNING_ORDER`).
SOURCE_LEARNING: dict[str, Learning] = {
    "evpn": "evpn", "mac-evpn": "evpn", "static": "static", "mac-static": "static", "mac-learned": "dataplane",
}
LEARNING_ORDER: tuple[Learning, ...] = ("evpn", "static", "dataplane", "unknown")
#: Address families pyvtep's gobgpd opens with every neighbour (vxauto/vtep/evpn.py, gobgpd_config).
BGP_FAMILIES = ("ipv4", "l2vpn_evpn")


@contextlib.contextmanager
def reading(host: str, ops: Iterable[str]) -> Iterator[None]:
    """Around turning replies into a getter's answer: a reply of another shape than pyvtep's (a key
    missing, a value of another type) is a `VxautoError` naming host, platform and the API ops read, never
    a KeyError or TypeError traceback."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise VxautoError.single(f"{host} [pyvtep] `{' + '.join(ops)}`", "",
                                 f"reply not in the shape pyvtep's API answers ({detail})") from None


def _strongest(learnings: Iterable[Learning]) -> Learning:
    found = set(learnings)
    return next((mode for mode in LEARNING_ORDER if mode in found), "unknown")


def _field(reply: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in reply:
        present = ", ".join(sorted(reply)) or "none"
        raise VxautoError.single(what, key, f"missing in pyvtep's reply (present: {present})")
    return reply[key]


def _rows(rows: object, what: str) -> list[Mapping[str, Any]]:
    if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
        raise VxautoError.single(what, "", "pyvtep's reply is not a list of objects", str(rows)[:80])
    return list(rows)


def _tap_state(link: Mapping[str, Any] | None) -> State:
    if link is None:
        return "down"
    flags = link.get("flags") or []
    return "up" if "UP" in flags and "LOWER_UP" in flags else "down"


def _vni_learning(number: int, configured: Mapping[str, Any], sources: Iterable[str], evpn_on: bool) -> Learning:
    from_sources = [SOURCE_LEARNING[s] for s in sources if s in ("evpn", "static")]
    if from_sources:
        return _strongest(from_sources)
    if configured.get("flood"):
        return "static"
    if evpn_on:
        return "evpn"
    if configured.get("group"):
        return "dataplane"
    return "static"  # an empty static list: no control plane, no group


def vni_table(running: Mapping[str, Any], vnis: object, vteps: object, links: Sequence[Mapping[str, Any]],
              host: str) -> VniTable:
    """`get_vxlan_vnis()` from the `config` reply's `running` part, `vnis`, `vteps` and the links."""
    where = f"{host} [pyvtep]"
    configured = {int(_field(item, "vni", f"{where} config.running.vnis")): item
                  for item in _rows(_field(running, "vnis", f"{where} config.running") or [], f"{where} config")}
    evpn_on = running.get("evpn") is not None
    local_ip = str(_field(running, "local_ip", f"{where} config.running"))
    link_of = {str(link.get("ifname")): link for link in links}
    flood_sources: dict[int, set[str]] = {}
    for row in _rows(vteps, f"{where} vteps"):
        if row.get("flood"):
            sources = flood_sources.setdefault(int(_field(row, "vni", f"{where} vteps")), set())
            sources.update(str(source) for source in row.get("sources") or [])
    table: VniTable = {}
    for row in _rows(vnis, f"{where} vnis"):
        number = int(_field(row, "vni", f"{where} vnis"))
        group = row.get("group")
        flood = [str(ip) for ip in _field(row, "flood", f"{where} vnis[{number}]") if ip != group]
        tap = str(_field(row, "tap", f"{where} vnis[{number}]"))
        table[number] = {
            "type": "l2", "vlan": None, "state": _tap_state(link_of.get(tap)),
            "learning": _vni_learning(number, configured.get(number, {}), flood_sources.get(number, ()), evpn_on),
            "interface": tap, "source_ip": ipaddress.ip_address(local_ip).compressed, "source_interface": None,
            "flood_list": sorted_ips(flood),
            "mcast_group": ipaddress.ip_address(group).compressed if group else None,
            "vrf": None, "bridge": row.get("bridge") or None, "svi": None,
        }
    return dict(sorted(table.items()))


def vtep_table(vteps: object, host: str) -> VtepTable:
    """`get_vxlan_vteps()` from the `vteps` reply: one entry per remote of any VNI."""
    found: dict[str, tuple[set[int], set[Learning]]] = {}
    where = f"{host} [pyvtep] vteps"
    for row in _rows(vteps, where):
        address = _address(_field(row, "remote", where), f"{where}.remote")
        vnis, learnings = found.setdefault(address, (set(), set()))
        vnis.add(int(_field(row, "vni", where)))
        learnings.update(SOURCE_LEARNING.get(str(source), "unknown") for source in row.get("sources") or [])
    result: VtepTable = {}
    for address in sorted_ips(found):
        vnis, learnings = found[address]
        info: VtepInfo = {"vnis": sorted(vnis), "state": "unknown", "learning": _strongest(learnings)}
        result[address] = info
    return result


def _address(value: object, what: str) -> str:
    try:
        return ipaddress.ip_address(str(value)).compressed
    except ValueError:
        raise VxautoError.single(what, "", "not an IP address", str(value)) from None


def _taps(vnis: object, host: str) -> dict[int, str]:
    where = f"{host} [pyvtep] vnis"
    return {int(_field(row, "vni", where)): str(_field(row, "tap", where)) for row in _rows(vnis, where)}


def mac_address_table(macs: object, vnis: object, host: str) -> list[models.MACAdressTable]:
    """`get_mac_address_table()`: every MAC of every VNI on the VNI's TAP (pyvtep's port of the segment),
    local and remote alike; `static` for configured entries, no VLAN (0)."""
    taps = _taps(vnis, host)
    table: list[models.MACAdressTable] = []
    where = f"{host} [pyvtep] macs"
    for row in _rows(macs, where):
        table.append({
            "mac": str(_field(row, "mac", where)).upper(), "interface": taps.get(int(_field(row, "vni", where)), ""),
            "vlan": 0,
            "static": row.get("type") == "static", "active": True, "moves": -1, "last_move": -1.0,
        })
    return table


def vxlan_mac_table(macs: object, vnis: object, evpn: Mapping[str, Any] | None, host: str) -> VxlanMacTable:
    """`get_vxlan_macs()`: local MACs on the VNI's TAP (`ports`), remote ones behind their VTEP (`vteps`),
    and, with EVPN, the route pyvtep advertises (local, its MAC-mobility sequence above the highest remote
    one) or the remote route it installed. pyvtep has no duplicate-address detection (0, never flagged)."""
    taps = _taps(vnis, host)
    table: VxlanMacTable = {}
    where = f"{host} [pyvtep] macs"
    for row in _rows(macs, where):
        vni, mac = int(_field(row, "vni", where)), str(_field(row, "mac", where)).lower()
        place: MacPlace = table.setdefault(vni, {}).setdefault(mac, {"ports": [], "vteps": [], "evpn": None})
        if row.get("local"):
            place["ports"].append(taps.get(vni, ""))
        elif row.get("remote"):
            place["vteps"].append(_address(row["remote"], f"{where}.remote"))
    if not evpn:
        return table
    remote_seq: dict[tuple[int, str], tuple[int, str]] = {}
    for route in (evpn.get("received") or {}).get("macs") or []:
        key = (int(route["vni"]), str(route["mac"]).lower())
        remote_seq[key] = max(remote_seq.get(key, (-1, "")), (int(route.get("sequence") or 0), str(route["remote"])))
    advertised = {(int(r["vni"]), str(r["mac"]).lower()): int(r.get("sequence") or 0)
                  for r in (evpn.get("advertised") or {}).get("macs") or []}
    for (vni, mac), place in [((vni, mac), place) for vni, by_mac in table.items() for mac, place in by_mac.items()]:
        seen = remote_seq.get((vni, mac))
        known: EvpnMac
        if (vni, mac) in advertised:
            known = {"type": "local", "interface": taps.get(vni), "vtep": None,
                              "local_seq": advertised[(vni, mac)], "remote_seq": seen[0] if seen else 0,
                              "detections": 0, "duplicate": False}
        elif seen is not None:
            known = {"type": "remote", "interface": None, "vtep": ipaddress.ip_address(seen[1]).compressed,
                     "local_seq": 0, "remote_seq": seen[0], "detections": 0, "duplicate": False}
        else:
            continue
        place["evpn"] = known
    return table


def bgp_neighbors(running: Mapping[str, Any], evpn: Mapping[str, Any] | None) -> dict[
        str, models.BGPStateNeighborsPerVRFDict]:
    """`get_bgp_neighbors()`: the configured EVPN neighbours with the session state gobgpd last reported
    (pyvtep's `evpn` status); `{}` without EVPN. gobgpd opens ipv4 and l2vpn evpn with each; pyvtep does not
    count prefixes per neighbour (-1)."""
    config = running.get("evpn")
    if not config:
        return {}
    seen = {ipaddress.ip_address(str(row["address"])).compressed: row for row in (evpn or {}).get("neighbors") or []}
    peers: dict[str, models.BGPStateNeighborDict] = {}
    for neighbor in config.get("neighbors") or []:
        address = ipaddress.ip_address(str(neighbor["address"])).compressed
        state = seen.get(address, {})
        peers[address] = {
            "local_as": int(config["asn"]), "remote_as": int(state.get("asn") or neighbor["asn"]),
            "remote_id": "0.0.0.0", "is_up": state.get("state") == "established", "is_enabled": True,
            "description": "", "uptime": -1,
            "address_family": {family: {"received_prefixes": -1, "accepted_prefixes": -1, "sent_prefixes": -1}
                               for family in BGP_FAMILIES},
        }
    router_id = str((evpn or {}).get("router_id") or config.get("router_id") or running.get("local_ip"))
    return {"global": {"router_id": router_id, "peers": peers}}


def facts(status: Mapping[str, Any], kernel: str, uptime: str, links: Sequence[Mapping[str, Any]],
          fqdn: str) -> models.FactsDict:
    """`get_facts()`: pyvtep's own name (its API's `status`), the machine's kernel and uptime."""
    name = str(status.get("name") or "")
    return {
        "hostname": name, "fqdn": fqdn.strip() or name, "vendor": "vxauto", "model": "pyvtep",
        "serial_number": "", "os_version": f"pyvtep on {kernel.strip()}",
        "uptime": float(uptime.split(maxsplit=1)[0]) if uptime.strip() else -1.0,
        "interface_list": sorted(str(link["ifname"]) for link in links),
    }
