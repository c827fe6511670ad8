"""FRR (zebra) + Linux kernel VXLAN getters: `show evpn vni detail json`, `ip -d link`, `bridge fdb`.

Inputs, by role:
- `evpn`: `vtysh -c "show evpn vni detail json"`, or None on a VTEP without FRR EVPN (static Linux).
  FRR has printed this in three shapes, all accepted: objects written one after another with an
  empty `{}` at the end (Cumulus 3.7 / FRR 4), a JSON array (Cumulus 4.x, FRR >= 7), and an object
  keyed by VNI (`show evpn vni json` without `detail`). Key names moved between releases
  (`vrf`/`tenantVrf`, `vxlanInterface`/`vxlanIntf`/`vxlanIf`, `numRemoteVteps` as a list of IPs
  or a count next to `remoteVteps`), so each field is read from every spelling.
- `links`: `ip -j -d link show type vxlan` (or its text form, see `iproute2.py`).
- `fdb`: `bridge -j fdb show` (or its text form).

The kernel is the data plane, so its tables win where both sides speak: the flood list is the
kernel's all-zero-MAC entries when there are any, and a VNI's VLAN is the one its bridge port's
FDB entries carry (a single-VNI VXLAN port on a VLAN-aware bridge has exactly one).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

from vxauto.devices.contract import Learning, VniInfo, VniTable, VtepTable, sorted_ips
from vxauto.devices.parsers.iproute2 import ZERO_MAC, FdbEntry, VxlanLink, parse_fdb, parse_links
from vxauto.devices.parsers.replies import (
    Fetch,
    Node,
    Reply,
    new_vni,
    state_from,
    vteps_from_flood_lists,
)

PLATFORM = "frr"

EVPN_VNI_DETAIL = 'vtysh -c "show evpn vni detail json"'
LINKS = "ip -j -d link show type vxlan"
FDB = "bridge -j fdb show"

#: Commands a driver runs, in order; `EVPN_VNI_DETAIL` only where FRR does EVPN.
COMMANDS = (EVPN_VNI_DETAIL, LINKS, FDB)


@dataclass(frozen=True)
class EvpnVni:
    """What zebra says about one VNI (`show evpn vni detail json`)."""

    vni: int
    layer3: bool
    vrf: str | None
    interface: str | None
    svi: str | None
    source_ip: str | None
    mcast_group: str | None
    remote_vteps: tuple[str, ...]
    state: str | None


def _first_text(node: Node, *keys: str) -> str | None:
    """The first of several spellings of a key that is present; FRR renamed keys across releases."""
    for key in keys:
        value = node.opt_text(key)
        if value is not None:
            return value
    return None


def _name_or_none(value: str | None) -> str | None:
    """zebra prints "None" / "n/a" for unset names."""
    return None if value is None or value.strip().lower() in {"", "none", "n/a", "-"} else value.strip()


def _evpn_objects(reply: Reply) -> list[Node]:
    """The per-VNI objects of the reply, whichever of FRR's shapes it has."""
    values = _decode_concatenated(reply, reply.data) if isinstance(reply.data, str) else [reply.data]
    objects: list[Node] = []
    for index, value in enumerate(values):
        node = Node(reply, value, f"[{index}]" if len(values) > 1 else "")
        if isinstance(value, list):
            objects.extend(node.elements())
        elif isinstance(value, dict) and value and all(str(key).isdigit() for key in value):
            objects.extend(child for _, child in node.items())  # `show evpn vni json`: keyed by VNI
        elif isinstance(value, dict):
            objects.append(node)  # one VNI, or {} for "none"
        else:
            raise node.fail("expected a VNI object or a list of them", value)
    # the concatenated form ends with an empty object
    return [node for node in objects if node.mapping()]


def _decode_concatenated(reply: Reply, text: str) -> list[object]:
    """Every top-level JSON value in `text`: zebra once wrote one object per VNI, back to back."""
    decoder = json.JSONDecoder()
    values: list[object] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return values  # vtysh prints nothing at all when zebra has no EVPN VNI
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise reply.error("", f"reply is not valid JSON ({error.msg} at line {error.lineno})",
                              text) from None
        values.append(value)


def parse_evpn_vnis(reply: Reply) -> dict[int, EvpnVni]:
    """Every VNI in `show evpn vni detail json`, keyed by VNI."""
    result: dict[int, EvpnVni] = {}
    for node in _evpn_objects(reply):
        vni = node.req("vni").vni()
        layer3 = node.req("type").text().upper() == "L3"
        result[vni] = EvpnVni(
            vni=vni,
            layer3=layer3,
            vrf=_name_or_none(_first_text(node, "tenantVrf", "vrf")),
            interface=_name_or_none(_first_text(node, "vxlanInterface", "vxlanIntf", "vxlanIf")),
            svi=_name_or_none(_first_text(node, "sviInterface", "sviIntf")),
            source_ip=_address(node, "vtepIp", "localVtepIp"),
            mcast_group=_address(node, "mcastGroup"),
            remote_vteps=tuple(_remote_vteps(node)),
            state=_first_text(node, "state"),
        )
    return result


def _address(node: Node, *keys: str) -> str | None:
    for key in keys:
        child = node.opt(key)
        if child is not None:
            return child.ip()
    return None


def _remote_vteps(node: Node) -> list[str]:
    """Remote VTEPs: a list under `numRemoteVteps` (old) or `remoteVteps` of strings/objects (new)."""
    addresses: list[str] = []
    for key in ("numRemoteVteps", "remoteVteps"):
        child = node.opt(key)
        if child is None or not isinstance(child.value, list):
            continue  # a count, or "n/a" on L3 VNIs
        for item in child.elements():
            address = item.req("ip").ip() if isinstance(item.value, dict) else item.ip()
            if address is not None:
                addresses.append(address)
    return sorted_ips(addresses)


# --------------------------------------------------------------------------- combining


@dataclass(frozen=True)
class _Kernel:
    links_by_vni: dict[int, VxlanLink]
    flood_by_dev: dict[str, list[str]]
    vlans_by_dev: dict[str, set[int]]
    #: (remote VTEP, entry) for every remote MAC behind a VTEP
    remote_entries: list[tuple[str, FdbEntry]]


def _kernel_view(links: list[VxlanLink], fdb: list[FdbEntry]) -> _Kernel:
    vxlan_devs = {link.name for link in links}
    flood: dict[str, set[str]] = defaultdict(set)
    vlans: dict[str, set[int]] = defaultdict(set)
    remote: list[tuple[str, FdbEntry]] = []
    for entry in fdb:
        if entry.dev not in vxlan_devs:
            continue
        if entry.dst is not None and entry.mac == ZERO_MAC:
            flood[entry.dev].add(entry.dst)
        elif entry.dst is not None:
            remote.append((entry.dst, entry))
        if entry.on_bridge and entry.vlan is not None:
            vlans[entry.dev].add(entry.vlan)
    return _Kernel(
        links_by_vni={link.vni: link for link in links},
        flood_by_dev={dev: sorted_ips(addresses) for dev, addresses in flood.items()},
        vlans_by_dev=dict(vlans),
        remote_entries=remote,
    )


def _kernel_learning(link: VxlanLink, kernel: _Kernel) -> Learning:
    if kernel.flood_by_dev.get(link.name) or link.remote:
        return "static"
    if link.group:
        return "dataplane"
    return "unknown"


def _one_vni(vni: int, evpn: EvpnVni | None, link: VxlanLink | None, kernel: _Kernel) -> VniInfo:
    layer3 = evpn is not None and evpn.layer3
    dev = link.name if link else None
    vlans = kernel.vlans_by_dev.get(dev or "", set())
    kernel_flood = kernel.flood_by_dev.get(dev or "")
    if layer3:
        flood: list[str] = []
    elif kernel_flood:
        flood = kernel_flood
    elif evpn is not None:
        flood = list(evpn.remote_vteps)
    else:
        flood = [link.remote] if link and link.remote else []
    if evpn is not None and evpn.state is not None:
        state = state_from(evpn.state)
    elif link is not None:
        state = "up" if link.up else "down"
    else:
        state = "unknown"
    return new_vni(
        "l3" if layer3 else "l2",
        vlan=next(iter(vlans)) if len(vlans) == 1 else None,
        state=state,
        learning="evpn" if evpn is not None else (_kernel_learning(link, kernel) if link else "unknown"),
        interface=dev or (evpn.interface if evpn else None),
        source_ip=(evpn.source_ip if evpn else None) or (link.local if link else None),
        flood_list=flood,
        mcast_group=(evpn.mcast_group if evpn else None) or (link.group if link else None),
        vrf=evpn.vrf if evpn else None,
        bridge=link.master if link else None,
        svi=evpn.svi if evpn else None,
    )


def vnis_from_replies(evpn: Reply | None, links: Reply, fdb: Reply) -> VniTable:
    """`get_vxlan_vnis()` for an FRR/Linux VTEP from the three replies (evpn may be None)."""
    evpn_vnis = parse_evpn_vnis(evpn) if evpn is not None else {}
    kernel = _kernel_view(parse_links(links), parse_fdb(fdb))
    links_by_name = {link.name: link for link in kernel.links_by_vni.values()}
    table: VniTable = {}
    for vni in sorted(set(evpn_vnis) | set(kernel.links_by_vni)):
        info = evpn_vnis.get(vni)
        link = kernel.links_by_vni.get(vni) or (links_by_name.get(info.interface or "") if info else None)
        table[vni] = _one_vni(vni, info, link, kernel)
    return table


def vteps_from_replies(evpn: Reply | None, links: Reply, fdb: Reply) -> VtepTable:
    """`get_vxlan_vteps()` for an FRR/Linux VTEP: flood lists, remote MACs and zebra's VTEP lists."""
    vnis = vnis_from_replies(evpn, links, fdb)
    collector = vteps_from_flood_lists(vnis)
    kernel = _kernel_view(parse_links(links), parse_fdb(fdb))
    vni_by_dev = {link.name: vni for vni, link in kernel.links_by_vni.items()}
    for address, entry in kernel.remote_entries:
        vni = vni_by_dev[entry.dev]
        collector.add(address, [vni], _entry_learning(entry, vnis[vni]["learning"]))
    for vni, info in (parse_evpn_vnis(evpn) if evpn is not None else {}).items():
        for address in info.remote_vteps:
            collector.add(address, [vni], "evpn")
    return collector.table()


def _entry_learning(entry: FdbEntry, vni_learning: Learning) -> Learning:
    if "extern_learn" in entry.flags or vni_learning == "evpn":
        return "evpn"  # installed by zebra from a BGP EVPN route
    if entry.state in {"permanent", "static"}:
        return "static"
    return "dataplane"  # aged, learned from traffic


# --------------------------------------------------------------------------- for the driver


@dataclass(frozen=True)
class FrrReplies:
    """The three replies the FRR/Linux getters read; `evpn` is None on a VTEP without FRR EVPN."""

    evpn: Reply | None
    links: Reply
    fdb: Reply

    @classmethod
    def collect(cls, fetch: Fetch, evpn: bool = True) -> FrrReplies:
        return cls(evpn=fetch(EVPN_VNI_DETAIL) if evpn else None, links=fetch(LINKS), fdb=fetch(FDB))


def get_vxlan_vnis(fetch: Fetch, evpn: bool = True) -> VniTable:
    """The FRR/Linux driver's `get_vxlan_vnis()`; `evpn=False` on a VTEP without FRR EVPN."""
    replies = FrrReplies.collect(fetch, evpn)
    return vnis_from_replies(replies.evpn, replies.links, replies.fdb)


def get_vxlan_vteps(fetch: Fetch, evpn: bool = True) -> VtepTable:
    """The FRR/Linux driver's `get_vxlan_vteps()`; `evpn=False` on a VTEP without FRR EVPN."""
    replies = FrrReplies.collect(fetch, evpn)
    return vteps_from_replies(replies.evpn, replies.links, replies.fdb)
