"""Juniper Junos (QFX): EVPN instances, L3 contexts and remote VTEPs, as Junos JSON.

Commands (`| display json`, or the same RPCs with `format="json"` over NETCONF):
- `show evpn instance extensive`: per EVPN instance with `evpn-encap-type` VXLAN, the bridge
  domains (`vlan-id`, `domain-id` = VNI, `irb-interface`) and the IRBs' L3 context (VRF).
- `show evpn l3-context extensive`: L3 VNIs (`context-vni`) and their VRFs and source VTEP.
- `show ethernet-switching vxlan-tunnel-end-point remote`: the source VTEP (address, `lo0.0`)
  and every remote VTEP with the VNIs (`vn-id`) and multicast group it serves.

Junos JSON wraps every leaf as `[{"data": value}]`. Junos 18.1 also leaves a trailing comma after
`attributes` when an element is otherwise empty (a real quirk, see the 18.1R3 fixture); replies are
repaired for that before decoding. Junos reports no per-VNI or per-VTEP state in these outputs, so
state is `unknown`.
"""

from __future__ import annotations

import re

from vxauto.devices.contract import Learning, VniInfo, VniTable, VtepTable, sorted_ips
from vxauto.devices.parsers.replies import (
    Fetch,
    Node,
    Reply,
    VtepCollector,
    decode_json,
    new_vni,
)

PLATFORM = "junos"
SHOW_EVPN_INSTANCE = "show evpn instance extensive"
SHOW_EVPN_L3_CONTEXT = "show evpn l3-context extensive"
SHOW_REMOTE_VTEPS = "show ethernet-switching vxlan-tunnel-end-point remote"
VNI_COMMANDS = (SHOW_EVPN_INSTANCE, SHOW_EVPN_L3_CONTEXT, SHOW_REMOTE_VTEPS)
VTEP_COMMANDS = VNI_COMMANDS

_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def repair_trailing_commas(text: str) -> str:
    """Junos 18.1 writes `"attributes" : {...}, }`; drop commas that precede a closing bracket."""
    return _TRAILING_COMMA.sub(r"\1", text)


def _decode(reply: Reply) -> Node:
    return decode_json(reply, repair=repair_trailing_commas)


def _elements(node: Node | None, key: str) -> list[Node]:
    """Junos' list-of-elements for `key` ([] when absent)."""
    if node is None:
        return []
    child = node.opt(key)
    return [] if child is None else child.rows()


def _leaf(node: Node, key: str) -> Node | None:
    """The value of a Junos leaf `key: [{"data": value}]`, None when absent or empty."""
    child = node.opt(key)
    if child is None:
        return None
    first = child.rows()[0] if child.rows() else None
    if first is None or not isinstance(first.value, dict) or "data" not in first.mapping():
        return None
    return first.req("data")


def _leaf_text(node: Node, key: str) -> str | None:
    leaf = _leaf(node, key)
    return None if leaf is None else leaf.text()


def _root_element(reply: Reply, key: str) -> Node | None:
    """The single element under the reply's top-level key; None when the device has nothing."""
    elements = _decode(reply).req(key).rows()
    return elements[0] if elements else None


# --------------------------------------------------------------------------- remote VTEPs


def _source_vtep(remote_reply: Reply) -> tuple[str | None, str | None, Node | None]:
    """(source VTEP address, source interface, the svtep element with the remote list)."""
    info = _root_element(remote_reply, "vxlan-source-vtep-information")
    for svtep in _elements(info, "svtep-format"):
        address_leaf = _leaf(svtep, "source-vtep-address")
        return (address_leaf.ip() if address_leaf else None, _leaf_text(svtep, "source-vtep-interface"), svtep)
    return None, None, None


def _remote_vteps(svtep: Node | None) -> list[tuple[str, list[int], str | None]]:
    """(remote VTEP, VNIs, multicast group) per remote VTEP."""
    result = []
    for remote in _elements(svtep, "vxlan-remote-vtep-information"):
        address_leaf = _leaf(remote, "remote-vtep-address")
        if address_leaf is None:
            raise remote.fail("remote VTEP without `remote-vtep-address`", remote.value)
        address = address_leaf.ip()
        if address is None:
            continue
        vnis: list[int] = []
        group = None
        for dynamic in _elements(remote, "vxlan-dynamic-information"):
            for vxlan in _elements(dynamic, "vxlan-format"):
                vn_id = _leaf(vxlan, "vn-id")
                if vn_id is None:
                    raise vxlan.fail("`vxlan-format` without `vn-id`", vxlan.value)
                vnis.append(vn_id.vni())
                mcast = _leaf(vxlan, "multicast-address")
                group = group or (mcast.ip() if mcast else None)
        result.append((address, sorted(set(vnis)), group))
    return result


# --------------------------------------------------------------------------- VNIs


def _irb_vrfs(instance: Node) -> dict[str, str]:
    vrfs = {}
    for table in _elements(instance, "irb-interface-status-table"):
        for irb in _elements(table, "irb-interface"):
            name, vrf = _leaf_text(irb, "irb-interface-name"), _leaf_text(irb, "irb-interface-l3-context")
            if name and vrf:
                vrfs[name] = vrf
    return vrfs


def _bridge_domain_vnis(instance_reply: Reply) -> dict[int, VniInfo]:
    result: dict[int, VniInfo] = {}
    info = _root_element(instance_reply, "evpn-instance-information")
    for instance in _elements(info, "evpn-instance"):
        if (_leaf_text(instance, "evpn-encap-type") or "").upper() != "VXLAN":
            continue  # MPLS instances and the built-in __default_evpn__ carry no VNI
        irb_vrfs = _irb_vrfs(instance)
        for table in _elements(instance, "bridge-domain-status-table"):
            for domain in _elements(table, "bridge-domain"):
                vni_leaf = _leaf(domain, "domain-id")
                if vni_leaf is None:
                    raise domain.fail("bridge domain without `domain-id` (its VNI)", domain.value)
                vlan_leaf = _leaf(domain, "vlan-id")
                irb = _leaf_text(domain, "irb-interface")
                irb = None if irb in {None, "", "None"} else irb
                result[vni_leaf.vni()] = new_vni(
                    "l2",
                    vlan=vlan_leaf.vlan() if vlan_leaf is not None and vlan_leaf.text().isdigit() else None,
                    learning="evpn",
                    svi=irb,
                    vrf=irb_vrfs.get(irb or ""),
                )
    return result


def _l3_vnis(l3_reply: Reply) -> dict[int, tuple[str, str | None]]:
    """L3 VNI -> (VRF, source VTEP address)."""
    result = {}
    info = _root_element(l3_reply, "evpn-l3-context-information")
    for context in _elements(info, "evpn-l3-context"):
        encapsulation = (_leaf_text(context, "context-encapsulation") or "").upper()
        vni_leaf = _leaf(context, "context-vni")
        if encapsulation != "VXLAN" or vni_leaf is None:
            continue
        name = _leaf_text(context, "context-name")
        if name is None:
            raise context.fail("L3 context without `context-name`", context.value)
        source = None
        for vtep in _elements(context, "context-source-vtep"):
            address_leaf = _leaf(vtep, "vtep-address")
            address = address_leaf.ip() if address_leaf else None
            if address and not address.startswith("fe80:"):  # skip the IPv6 link-local entry
                source = source or address
        result[vni_leaf.vni()] = (name, source)
    return result


def vnis_from_replies(instance_reply: Reply, l3_reply: Reply, remote_reply: Reply) -> VniTable:
    """`get_vxlan_vnis()` from the three replies."""
    source_ip, source_interface, svtep = _source_vtep(remote_reply)
    remotes = _remote_vteps(svtep)
    table = _bridge_domain_vnis(instance_reply)
    for vni, info in table.items():
        info["source_ip"] = source_ip
        info["source_interface"] = source_interface
        info["flood_list"] = sorted_ips(address for address, vnis, _ in remotes if vni in vnis)
        info["mcast_group"] = next((group for _, vnis, group in remotes if vni in vnis and group), None)
    for vni, (vrf, context_source) in _l3_vnis(l3_reply).items():
        table[vni] = new_vni(
            "l3",
            learning="evpn",
            vrf=vrf,
            source_ip=source_ip or context_source,
            source_interface=source_interface,
        )
    return dict(sorted(table.items()))


def vteps_from_replies(instance_reply: Reply, l3_reply: Reply, remote_reply: Reply) -> VtepTable:
    """`get_vxlan_vteps()`: the remote VTEP table; learning is EVPN for VNIs of an EVPN instance."""
    vnis = vnis_from_replies(instance_reply, l3_reply, remote_reply)
    collector = VtepCollector()
    _, _, svtep = _source_vtep(remote_reply)
    for address, remote_vnis, group in _remote_vteps(svtep):
        learning: Learning
        if any(vni in vnis and vnis[vni]["learning"] == "evpn" for vni in remote_vnis):
            learning = "evpn"
        else:  # a VTEP configured by hand (`remote-vtep-list`), or flood-and-learn over multicast
            learning = "dataplane" if group else "static"
        collector.add(address, remote_vnis, learning)
    return collector.table()


def get_vxlan_vnis(fetch: Fetch) -> VniTable:
    return vnis_from_replies(fetch(SHOW_EVPN_INSTANCE), fetch(SHOW_EVPN_L3_CONTEXT), fetch(SHOW_REMOTE_VTEPS))


def get_vxlan_vteps(fetch: Fetch) -> VtepTable:
    return vteps_from_replies(fetch(SHOW_EVPN_INSTANCE), fetch(SHOW_EVPN_L3_CONTEXT), fetch(SHOW_REMOTE_VTEPS))
