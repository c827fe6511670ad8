"""Linux kernel VXLAN state from iproute2: `ip -d link show type vxlan` and `bridge fdb show`.

Both commands are read in their JSON form (`ip -j ...`, `bridge -j ...`, what the FRR/Linux driver
runs) and in their text form (what older captures such as Cumulus 3.x/4.x hold). Both forms turn
into the same `VxlanLink` / `FdbEntry` records, so the VNI logic in `frr.py` has one input shape.

Text `ip -d address show` output is accepted too: its per-link blocks have the same layout, and
non-`ip` lines around it (e.g. vtysh output in the same capture) are skipped.

A single VXLAN device carrying many VNIs (`vxlan external`, FRR's "SVD") has no VNI of its own and
is skipped here; its VNIs are known only from zebra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vxauto.devices.parsers.replies import Reply, canonical_ip, decode_json, reply_text

ZERO_MAC = "00:00:00:00:00:00"

#: `bridge fdb show` words that take a value; every other word after the MAC is a flag.
_FDB_VALUE_WORDS = frozenset({"dev", "vlan", "dst", "master", "port", "vni", "via", "src_vni", "nhid",
                              "used", "updated", "self_vni"})
_FDB_STATES = frozenset({"permanent", "static", "stale", "noarp", "reachable", "probe", "delay",
                         "failed", "incomplete"})

_LINK_HEADER = re.compile(r"^(?P<index>\d+): (?P<name>[^:@\s]+)(?:@\S+)?: <(?P<flags>[^>]*)>(?P<rest>.*)$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$")


@dataclass(frozen=True)
class VxlanLink:
    """One kernel VXLAN netdev."""

    name: str
    vni: int
    local: str | None
    group: str | None
    remote: str | None
    learning: bool
    up: bool
    master: str | None


@dataclass(frozen=True)
class FdbEntry:
    """One forwarding-database entry; `dst` is set on VXLAN devices' remote entries."""

    mac: str
    dev: str
    vlan: int | None
    dst: str | None
    master: str | None
    flags: frozenset[str]
    state: str

    @property
    def on_bridge(self) -> bool:
        """The bridge's own entry for a port (carries the VLAN), as opposed to the device's `self` entry."""
        return self.master is not None and "self" not in self.flags


def _looks_like_json(reply: Reply) -> bool:
    data = reply.data
    return isinstance(data, list | dict) or (isinstance(data, str) and data.lstrip().startswith(("[", "{")))


# --------------------------------------------------------------------------- ip link


def parse_links(reply: Reply) -> list[VxlanLink]:
    """VXLAN links from `ip -j -d link show [type vxlan]` (JSON) or `ip -d link|address show` (text)."""
    return _links_from_json(reply) if _looks_like_json(reply) else _links_from_text(reply)


def _links_from_json(reply: Reply) -> list[VxlanLink]:
    links = []
    for node in decode_json(reply).elements():
        info = node.opt("linkinfo")
        if info is None or info.opt("info_kind") is None or info.req("info_kind").text() != "vxlan":
            continue  # `ip -j -d link show` without `type vxlan` lists every link
        data = info.req("info_data")
        if data.opt("id") is None and data.mapping().get("external") is True:
            continue  # a single VXLAN device for many VNIs (`external`/vnifilter): VNIs come from zebra
        flags = {flag.text() for flag in node.req("flags").elements()}
        links.append(
            VxlanLink(
                name=node.req("ifname").text(),
                vni=data.req("id").vni(),
                local=data.opt_ip("local"),
                group=data.opt_ip("group"),
                remote=data.opt_ip("remote"),
                # the kernel's default is learning on; old iproute2 omits the key then
                learning=data.mapping().get("learning", True) is not False,
                up={"UP", "LOWER_UP"} <= flags,
                master=node.opt_text("master"),
            )
        )
    return links


def _links_from_text(reply: Reply) -> list[VxlanLink]:
    text = reply_text(reply)
    links = []
    block: list[str] = []
    for line in [*text.splitlines(), "0: end: <>"]:
        if _LINK_HEADER.match(line):
            link = _link_from_block(reply, block) if block else None
            if link is not None:
                links.append(link)
            block = [line]
        elif block and line.startswith((" ", "\t")):
            block.append(line)
        else:
            # a line that belongs to no `ip` block (other command output in the same capture)
            link = _link_from_block(reply, block) if block else None
            if link is not None:
                links.append(link)
            block = []
    return links


def _link_from_block(reply: Reply, block: list[str]) -> VxlanLink | None:
    header = _LINK_HEADER.match(block[0])
    assert header is not None  # blocks only start at header lines
    detail = next((line.split() for line in block[1:] if line.split()[:2] == ["vxlan", "id"]), None)
    if detail is None:
        return None
    words = _word_values(detail)
    where = f"link {header['name']}"
    vni_text = words.get("id", "")
    if not vni_text.isdigit():
        raise reply.error(where, "vxlan line without a numeric id", " ".join(detail))
    rest = header["rest"].split()
    master = rest[rest.index("master") + 1] if "master" in rest[:-1] else None
    flags = set(header["flags"].split(","))
    return VxlanLink(
        name=header["name"],
        vni=int(vni_text),
        local=_text_ip(reply, where, words.get("local")),
        group=_text_ip(reply, where, words.get("group")),
        remote=_text_ip(reply, where, words.get("remote")),
        learning="nolearning" not in detail,
        up={"UP", "LOWER_UP"} <= flags,
        master=master,
    )


def _word_values(words: list[str]) -> dict[str, str]:
    """`vxlan id 24 local 10.0.0.112 ...` -> {"id": "24", "local": "10.0.0.112", ...}."""
    return {word: words[index + 1] for index, word in enumerate(words[:-1])}


def _text_ip(reply: Reply, where: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return canonical_ip(value)
    except ValueError:
        raise reply.error(where, "not an IP address", value) from None


# --------------------------------------------------------------------------- bridge fdb


def parse_fdb(reply: Reply) -> list[FdbEntry]:
    """Entries of `bridge -j fdb show` (JSON) or `bridge fdb show` (text)."""
    return _fdb_from_json(reply) if _looks_like_json(reply) else _fdb_from_text(reply)


def _fdb_from_json(reply: Reply) -> list[FdbEntry]:
    entries = []
    for node in decode_json(reply).elements():
        flag_list = node.opt("flags")
        vlan = node.opt("vlan")
        entries.append(
            FdbEntry(
                mac=node.req("mac").text().lower(),
                dev=node.req("ifname").text(),
                vlan=None if vlan is None else vlan.vlan(),
                dst=node.opt_ip("dst"),
                master=node.opt_text("master"),
                flags=frozenset(flag.text() for flag in flag_list.elements()) if flag_list else frozenset(),
                state=node.opt_text("state") or "",
            )
        )
    return entries


def _fdb_from_text(reply: Reply) -> list[FdbEntry]:
    entries = []
    for number, line in enumerate(reply_text(reply).splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        if not _MAC.match(words[0]) or "dev" not in words:
            raise reply.error(f"line {number}", "not a `bridge fdb show` entry", line)
        entries.append(_fdb_entry_from_words(reply, number, words))
    return entries


def _fdb_entry_from_words(reply: Reply, number: int, words: list[str]) -> FdbEntry:
    values: dict[str, str] = {}
    flags: set[str] = set()
    state = ""
    index = 1
    while index < len(words):
        word = words[index]
        if word in _FDB_VALUE_WORDS and index + 1 < len(words):
            values[word] = words[index + 1]
            index += 2
            continue
        if word in _FDB_STATES:
            state = word
        else:
            flags.add(word)
        index += 1
    where = f"line {number}"
    vlan_text = values.get("vlan")
    if vlan_text is not None and not vlan_text.isdigit():
        raise reply.error(where, "vlan is not a number", vlan_text)
    return FdbEntry(
        mac=words[0].lower(),
        dev=values["dev"],
        vlan=None if vlan_text is None else int(vlan_text),
        dst=_text_ip(reply, where, values.get("dst")),
        master=values.get("master"),
        flags=frozenset(flags),
        state=state,
    )
