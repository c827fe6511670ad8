"""Cisco NX-OS: `show nve vni all detail`, `show nve interface nve 1`, `show nve peers detail`.

Structured form: NX-API JSON or `| json native` over SSH. Both have NX-OS's table shape
(`{"TABLE_x": {"ROW_x": [...]}}`, where a single row may come as a bare object and numbers may be
strings (`| json`, NX-API) or numbers (`| json native`)); both are accepted.

- VNI rows: `type` is `L2 [<bd>]` or `L3 [<vrf>]`; `mcast` is `UnicastBGP` (ingress replication
  from EVPN type-3 routes), `UnicastStatic` (static peer list), an IP (multicast group) or `n/a`;
  `mode` is control-plane (EVPN) or data-plane.
- The NVE interface gives the source interface and address. On a vPC pair the VTEP address other
  VTEPs use is the shared `secondary-ip`, so that is `source_ip` when it is set.
- Peer rows: `cp-vni` lists the VNIs learned from that peer over the control plane. An L2 VNI's
  flood list is the peers whose `cp-vni` holds it.

Plain-text fallback (`show nve vni`, `show nve peers`) is parsed with ntc-templates' TextFSM
templates. Those outputs have no source address, no per-peer VNIs and no flood lists, so
`source_ip` is None, `flood_list` is None and a VTEP's `vnis` is None there.
"""

from __future__ import annotations

import re

from vxauto.devices.contract import Learning, VniTable, VtepTable, sorted_ips
from vxauto.devices.parsers.replies import (
    Fetch,
    Node,
    Reply,
    VtepCollector,
    canonical_ip,
    decode_json,
    new_vni,
    number_list,
    reply_text,
    state_from,
)

PLATFORM = "nxos"
SHOW_NVE_VNI = "show nve vni all detail"
SHOW_NVE_INTERFACE = "show nve interface nve 1"
SHOW_NVE_PEERS = "show nve peers detail"
VNI_COMMANDS = (SHOW_NVE_VNI, SHOW_NVE_INTERFACE, SHOW_NVE_PEERS)
VTEP_COMMANDS = (SHOW_NVE_PEERS,)

TEXT_SHOW_NVE_VNI = "show nve vni"
TEXT_SHOW_NVE_PEERS = "show nve peers"

_TYPE = re.compile(r"^(?P<layer>L2|L3)\s*\[(?P<inner>[^\]]*)\]")
_LEARN_TYPE: dict[str, Learning] = {"CP": "evpn", "DP": "dataplane"}


def _table(reply: Reply, table: str, row: str) -> list[Node]:
    """Rows of an NX-OS JSON table; an empty reply or body means "no rows"."""
    data = reply.data
    if data is None or (isinstance(data, str | dict | list) and not data):
        return []  # NX-OS prints nothing for `| json` of an empty table
    root = decode_json(reply)
    rows: list[Node] = []
    for part in root.req(table).rows():  # TABLE_x is sometimes a list of {ROW_x: ...}
        rows.extend(part.req(row).rows())
    return rows


def _type_and_inner(node: Node) -> tuple[str, str]:
    text = node.text()
    match = _TYPE.match(text)
    if match is None:
        raise node.fail("expected `L2 [<bd>]` or `L3 [<vrf>]`", text)
    return match["layer"].lower(), match["inner"].strip()


def _replication(mcast: str | None, mode: str, where: Node) -> tuple[Learning, str | None]:
    """(learning, multicast group) from the `mcast` and `mode` columns."""
    control_plane = mode.lower().replace("-", "") in {"controlplane", "cp"}
    value = (mcast or "").strip()
    group = None
    if value and value.lower() not in {"unicastbgp", "unicaststatic", "n/a", ""}:
        try:
            group = canonical_ip(value)
        except ValueError:
            raise where.fail("expected UnicastBGP, UnicastStatic, n/a or a multicast group", value) from None
    if control_plane:
        return "evpn", group
    if value.lower() == "unicaststatic":
        return "static", group
    return ("dataplane" if group else "unknown"), group


def _source(interface_reply: Reply | None) -> dict[str, tuple[str | None, str | None]]:
    """NVE interface name -> (VTEP address, source interface)."""
    if interface_reply is None:
        return {}
    result = {}
    for row in _table(interface_reply, "TABLE_nve_if", "ROW_nve_if"):
        address = row.opt_ip("secondary-ip") or row.opt_ip("primary-ip")
        result[row.req("if-name").text().lower()] = (address, row.opt_text("source-if"))
    return result


def _peer_vnis(peers_reply: Reply | None) -> dict[str, list[int]]:
    """Peer address -> control-plane VNIs."""
    if peers_reply is None:
        return {}
    result: dict[str, list[int]] = {}
    for row in _table(peers_reply, "TABLE_nve_peers", "ROW_nve_peers"):
        address = row.req("peer-ip").ip()
        cp_vni = row.opt("cp-vni")
        if address is not None and cp_vni is not None:
            result[address] = number_list(cp_vni.text(), cp_vni)
    return result


def vnis_from_replies(vni_reply: Reply, interface_reply: Reply | None, peers_reply: Reply | None) -> VniTable:
    """`get_vxlan_vnis()` from the three structured replies."""
    sources = _source(interface_reply)
    peers = _peer_vnis(peers_reply)
    table: VniTable = {}
    for row in _table(vni_reply, "TABLE_nve_vni", "ROW_nve_vni"):
        vni = row.req("vni").vni()
        layer, inner = _type_and_inner(row.req("type"))
        learning, group = _replication(row.opt_text("mcast"), row.opt_text("mode") or "", row)
        interface = row.opt_text("if-name")
        source_ip, source_interface = sources.get((interface or "").lower(), (None, None))
        vlan_bd = row.opt("vlan-bd")
        table[vni] = new_vni(
            layer,
            vlan=vlan_bd.vlan() if vlan_bd is not None else None,
            state=state_from(row.req("vni-state").text()),
            learning=learning,
            interface=interface,
            source_ip=source_ip,
            source_interface=source_interface,
            flood_list=[] if layer == "l3" else sorted_ips(ip for ip, vnis in peers.items() if vni in vnis),
            mcast_group=group,
            vrf=inner if layer == "l3" else None,
        )
    return dict(sorted(table.items()))


def vteps_from_reply(peers_reply: Reply) -> VtepTable:
    """`get_vxlan_vteps()` from `show nve peers detail`."""
    collector = VtepCollector()
    for row in _table(peers_reply, "TABLE_nve_peers", "ROW_nve_peers"):
        address = row.req("peer-ip").ip()
        if address is None:
            continue
        cp_vni = row.opt("cp-vni")
        collector.add(
            address,
            number_list(cp_vni.text(), cp_vni) if cp_vni is not None else None,
            _LEARN_TYPE.get((row.opt_text("learn-type") or "").upper(), "unknown"),
            state_from(row.req("peer-state").text()),
        )
    return collector.table()


# --------------------------------------------------------------------------- plain text (TextFSM)


def _textfsm_rows(reply: Reply, command: str, header: str) -> list[dict[str, str]]:
    from ntc_templates.parse import parse_output  # imported here: TextFSM loads templates on import

    text = reply_text(reply)
    if not text.strip():
        return []
    if header not in text:
        raise reply.error("", f"not `{command}` output (no `{header}` header)", text)
    rows: list[dict[str, str]] = parse_output(platform="cisco_nxos", command=command, data=text)
    return [{key: str(value).strip() for key, value in row.items()} for row in rows]


def _text_field(reply: Reply, row: dict[str, str], key: str, index: int) -> Node:
    if key not in row:
        raise reply.error(f"row {index}", f"TextFSM row has no `{key}`", sorted(row))
    return Node(reply, row[key], f"row {index}.{key}")


def vnis_from_text(reply: Reply) -> VniTable:
    """`get_vxlan_vnis()` from plain `show nve vni` (no source IP, no flood lists: None)."""
    table: VniTable = {}
    for index, row in enumerate(_textfsm_rows(reply, TEXT_SHOW_NVE_VNI, "Multicast-group")):
        vni = _text_field(reply, row, "vni", index).vni()
        layer = _text_field(reply, row, "type", index).text().lower()
        inner = _text_field(reply, row, "bd_vrf", index).text()
        if layer not in {"l2", "l3"}:
            raise reply.error(f"row {index}.type", "expected L2 or L3", layer)
        where = _text_field(reply, row, "mcast_group", index)
        learning, group = _replication(where.text(), row.get("mode", ""), where)
        table[vni] = new_vni(
            layer,
            vlan=int(inner) if layer == "l2" and inner.isdigit() and 1 <= int(inner) <= 4094 else None,
            state=state_from(_text_field(reply, row, "state", index).text()),
            learning=learning,
            interface=row.get("interface") or None,
            flood_list=[] if layer == "l3" else None,
            mcast_group=group,
            vrf=inner if layer == "l3" else None,
        )
    return dict(sorted(table.items()))


def vteps_from_text(reply: Reply) -> VtepTable:
    """`get_vxlan_vteps()` from plain `show nve peers` (no per-peer VNIs: None)."""
    collector = VtepCollector()
    for index, row in enumerate(_textfsm_rows(reply, TEXT_SHOW_NVE_PEERS, "Peer-IP")):
        address = _text_field(reply, row, "peer", index).ip()
        if address is None:
            continue
        collector.add(
            address,
            None,
            _LEARN_TYPE.get(row.get("type", "").upper(), "unknown"),
            state_from(_text_field(reply, row, "state", index).text()),
        )
    return collector.table()


def get_vxlan_vnis(fetch: Fetch) -> VniTable:
    return vnis_from_replies(fetch(SHOW_NVE_VNI), fetch(SHOW_NVE_INTERFACE), fetch(SHOW_NVE_PEERS))


def get_vxlan_vteps(fetch: Fetch) -> VtepTable:
    return vteps_from_reply(fetch(SHOW_NVE_PEERS))


def get_vxlan_vnis_text(fetch: Fetch) -> VniTable:
    return vnis_from_text(fetch(TEXT_SHOW_NVE_VNI))


def get_vxlan_vteps_text(fetch: Fetch) -> VtepTable:
    return vteps_from_text(fetch(TEXT_SHOW_NVE_PEERS))
