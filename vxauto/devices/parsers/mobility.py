"""Where each MAC of each VNI is, as one Linux VTEP sees it: the kernel FDB and (with FRR EVPN) zebra's table.

Getter `get_vxlan_macs` -> `{vni: {mac: MacPlace}}`:
- `ports`: bridge ports of the VNI's bridge the MAC was learned on (here, behind this VTEP);
- `vteps`: remote VTEPs the VXLAN device forwards the MAC to (FDB entries with `dst`: installed by EVPN
  as `extern_learn`, or learned from the data plane on static-flood VNIs);
- `evpn`: zebra's entry (`show evpn mac vni all json`): local/remote, the remote VTEP, the MAC-mobility
  sequence numbers (RFC 7432 section 15) and duplicate-address detection; None without EVPN.

Inputs: `bridge -j fdb show`, `ip -j -d link show type vxlan` (the VNI of each bridge) and, on FRR EVPN
VTEPs, `vtysh -c "show evpn mac vni all json"`.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from vxauto.devices.parsers.frr import FDB, LINKS
from vxauto.devices.parsers.iproute2 import ZERO_MAC, parse_fdb, parse_links
from vxauto.devices.parsers.replies import Fetch, Reply

EVPN_MACS = 'vtysh -c "show evpn mac vni all json"'
COMMANDS = (EVPN_MACS, LINKS, FDB)


class EvpnMac(TypedDict):
    type: str  # local | remote
    interface: str | None
    vtep: str | None
    local_seq: int
    remote_seq: int
    detections: int
    duplicate: bool


class MacPlace(TypedDict):
    ports: list[str]
    vteps: list[str]
    evpn: EvpnMac | None


VxlanMacTable = dict[int, dict[str, MacPlace]]


def _place(table: VxlanMacTable, vni: int, mac: str) -> MacPlace:
    return table.setdefault(vni, {}).setdefault(mac, {"ports": [], "vteps": [], "evpn": None})


def parse_evpn_macs(reply: Reply) -> dict[int, dict[str, EvpnMac]]:
    """`show evpn mac vni all json`: `{vni: {"numMacs": n, "macs": {mac: {...}}}}`."""
    data: Any = reply.data
    if isinstance(data, str):
        if not data.strip():
            return {}
        try:
            data = json.loads(data)
        except ValueError:
            raise reply.error("", "is not JSON", data) from None
    if not isinstance(data, dict):
        raise reply.error("", "is not a JSON object keyed by VNI", data)
    found: dict[int, dict[str, EvpnMac]] = {}
    for vni, body in data.items():
        macs = body.get("macs") if isinstance(body, dict) else None
        if not str(vni).isdigit() or not isinstance(macs, dict):
            continue
        for mac, entry in macs.items():
            found.setdefault(int(vni), {})[mac.lower()] = {
                "type": str(entry.get("type", "")),
                "interface": entry.get("intf"),
                "vtep": entry.get("remoteVtep"),
                "local_seq": int(entry.get("localSequence", 0)),
                "remote_seq": int(entry.get("remoteSequence", 0)),
                "detections": int(entry.get("detectionCount", 0)),
                "duplicate": bool(entry.get("isDuplicate", False)),
            }
    return found


def get_vxlan_macs(fetch: Fetch, evpn: bool = True) -> VxlanMacTable:
    links = parse_links(fetch(LINKS))
    vni_of_bridge = {link.master: link.vni for link in links if link.master}
    vni_of_device = {link.name: link.vni for link in links}
    table: VxlanMacTable = {}
    for entry in parse_fdb(fetch(FDB)):
        if entry.mac == ZERO_MAC:
            continue
        if entry.dev in vni_of_device:
            if entry.dst is not None:  # the VXLAN device's own entry: where it sends the MAC
                place = _place(table, vni_of_device[entry.dev], entry.mac)
                if entry.dst not in place["vteps"]:
                    place["vteps"].append(entry.dst)
        elif entry.master in vni_of_bridge and entry.state != "permanent" and "permanent" not in entry.flags:
            place = _place(table, vni_of_bridge[entry.master], entry.mac)
            if entry.dev not in place["ports"]:
                place["ports"].append(entry.dev)
    if evpn:
        for vni, macs in parse_evpn_macs(fetch(EVPN_MACS)).items():
            for mac, known in macs.items():
                _place(table, vni, mac)["evpn"] = known
    return table
