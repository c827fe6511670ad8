"""Arista EOS: `show interfaces vxlan 1` and `show vxlan address-table` (eAPI / `| json`).

VNIs come from the Vxlan interface: `vlanToVniMap` (VLAN -> VNI; an EVPN-allocated VLAN has
`source: "evpn"`), `vrfToVniMap` (VRF -> L3 VNI) and `vlanToVtepList` (the head-end replication
flood list per VLAN). EOS keeps no per-VNI state, so a VNI has its Vxlan interface's line protocol.

Learning mode, from `replicationMode`: `headendVcs` means the flood lists are fed by the VXLAN
control service, which BGP EVPN uses (`evpn`; with `controllerClientMode` the feeder is CVX
instead, which is none of our modes -> `unknown`); `headendNonVcs` means configured flood lists
(`static`); a multicast `floodMcastGrp` or `replicationMode: multicast` means flood-and-learn
(`dataplane`). L3 VNIs only exist with EVPN (`evpn`).

Remote VTEPs: the flood lists plus `show vxlan address-table` (remote MACs with their VTEP and
VLAN; `addrType` evpn/static/learned).
"""

from __future__ import annotations

from vxauto.devices.contract import Learning, VniInfo, VniTable, VtepTable, sorted_ips
from vxauto.devices.parsers.replies import (
    Fetch,
    Node,
    Reply,
    decode_json,
    new_vni,
    state_from,
    vteps_from_flood_lists,
)

PLATFORM = "eos"
SHOW_VXLAN_INTERFACE = "show interfaces vxlan 1"
SHOW_VXLAN_ADDRESS_TABLE = "show vxlan address-table"

VNI_COMMANDS = (SHOW_VXLAN_INTERFACE,)
VTEP_COMMANDS = (SHOW_VXLAN_INTERFACE, SHOW_VXLAN_ADDRESS_TABLE)

#: What EOS answers for `show interfaces vxlan 1` on a switch without a Vxlan1 interface.
NO_VXLAN_INTERFACE = "Interface does not exist"

_ADDRESS_LEARNING: dict[str, Learning] = {
    "evpn": "evpn",
    "static": "static",
    "learned": "dataplane",
    "dynamic": "dataplane",
}


def _l2_learning(intf: Node) -> Learning:
    mode = intf.opt_text("replicationMode") or ""
    if intf.opt_ip("floodMcastGrp") or mode == "multicast":
        return "dataplane"
    if mode == "headendVcs":
        return "unknown" if intf.mapping().get("controllerClientMode") is True else "evpn"
    if mode == "headendNonVcs":
        return "static"
    return "unknown"


def _flood_list(intf: Node, vlan_key: str) -> list[str]:
    vteps = intf.opt("vlanToVtepList")
    entry = vteps.opt(vlan_key) if vteps is not None else None
    if entry is None:
        return []
    addresses: list[str] = []
    for key in ("remoteVtepAddr", "remoteVtepAddr6"):
        if entry.opt(key) is not None:
            addresses += entry.req(key).list_of_ips()
    return sorted_ips(addresses)


def _interface_vnis(name: str, intf: Node) -> dict[int, VniInfo]:
    source_interface = intf.opt_text("srcIpIntf") or None
    shared = {
        "state": state_from(intf.opt_text("lineProtocolStatus")),
        "interface": name,
        "source_ip": intf.opt_ip("srcIpAddr"),
        "source_interface": source_interface,
    }
    vrf_vnis = intf.opt("vrfToVniMap")
    vrf_by_vni = {value.vni(): vrf for vrf, value in vrf_vnis.items()} if vrf_vnis else {}
    l2_learning = _l2_learning(intf)
    result: dict[int, VniInfo] = {}
    for vlan_key, entry in intf.req("vlanToVniMap").items():
        vlan = Node(entry.reply, vlan_key, entry.path).vlan()  # the key is the VLAN
        vni = entry.req("vni").vni()
        if vni in result:
            raise entry.fail(f"VNI {vni} is mapped to two VLANs", vlan_key)
        if vni in vrf_by_vni:
            result[vni] = new_vni("l3", vlan=vlan, learning="evpn", vrf=vrf_by_vni[vni], **shared)
        else:
            result[vni] = new_vni("l2", vlan=vlan, learning=l2_learning,
                                  flood_list=_flood_list(intf, vlan_key),
                                  mcast_group=intf.opt_ip("floodMcastGrp"), **shared)
    for vni, vrf in vrf_by_vni.items():
        if vni not in result:  # an L3 VNI whose VLAN the output does not show
            result[vni] = new_vni("l3", learning="evpn", vrf=vrf, **shared)
    return result


def _has_no_vxlan_interface(reply: Reply) -> bool:
    return isinstance(reply.data, str) and NO_VXLAN_INTERFACE in reply.data and \
        reply.data.lstrip().startswith("%")


def vnis_from_reply(reply: Reply) -> VniTable:
    """`get_vxlan_vnis()` from a `show interfaces vxlan 1` reply."""
    if _has_no_vxlan_interface(reply):
        return {}  # no Vxlan interface: the switch carries no VNI
    table: VniTable = {}
    for name, intf in decode_json(reply).req("interfaces").items():
        for vni, info in _interface_vnis(name, intf).items():
            if vni in table:
                raise intf.fail(f"VNI {vni} is on two Vxlan interfaces", name)
            table[vni] = info
    return dict(sorted(table.items()))


def vteps_from_replies(interface_reply: Reply, address_reply: Reply) -> VtepTable:
    """`get_vxlan_vteps()`: VTEPs of the flood lists plus those behind remote MACs."""
    vnis = vnis_from_reply(interface_reply)
    collector = vteps_from_flood_lists(vnis)
    vni_by_vlan = {info["vlan"]: vni for vni, info in vnis.items() if info["vlan"] is not None}
    for row in decode_json(address_reply).req("addresses").elements():
        address = row.req("vtep").ip()
        if address is None:
            continue  # a local entry: no remote VTEP
        vlan = row.req("vlanId").vlan()
        vni = vni_by_vlan.get(vlan) if vlan is not None else None
        learning = _ADDRESS_LEARNING.get((row.opt_text("addrType") or "").lower(), "unknown")
        collector.add(address, [] if vni is None else [vni], learning)
    return collector.table()


def get_vxlan_vnis(fetch: Fetch) -> VniTable:
    return vnis_from_reply(fetch(SHOW_VXLAN_INTERFACE))


def get_vxlan_vteps(fetch: Fetch) -> VtepTable:
    return vteps_from_replies(fetch(SHOW_VXLAN_INTERFACE), fetch(SHOW_VXLAN_ADDRESS_TABLE))
