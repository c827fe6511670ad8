"""The vectorised decoder: all frames of a capture at once, with numpy, no per-packet Python.

For every frame it copies the first ROW bytes out of the capture buffer once (one pass over the file,
which is what costs: the rest happens in cache-friendly arrays). Each header (link layer, outer IP,
UDP + VXLAN + inner Ethernet, inner IP, inner ports) is then a window at a per-frame offset worked out
from the previous one; when all frames share the offset the window is a zero-copy slice. Every field is
a big-endian view of a window.
Decisions are masks; a frame's status is settled by the first rule that applies, in the same order as
`scalar.py`, which defines the rules. Shapes this module does not handle are marked SLOW and decoded
by the scalar decoder; tests check that both give identical rows.
"""

from __future__ import annotations

import numpy as np

from vxauto.monitor.capture import Frames, column, fields_at
from vxauto.monitor.groupby import FINGERPRINT_BYTES, fingerprints
from vxauto.monitor.scalar import (
    ETH_ARP,
    ETH_IPV4,
    ETH_IPV6,
    GPE_NEXT_ETHERNET,
    ICMP_PROTOCOLS,
    IPV6_EXTENSIONS,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    MALFORMED_IP,
    MALFORMED_L2,
    MALFORMED_UDP,
    OTHER,
    PORT_PROTOCOLS,
    SLOW,
    TRUNCATED,
    VLAN_TPIDS,
    VXLAN,
)
from vxauto.monitor.table import (
    FLAG_NO_I,
    FLAG_RESERVED,
    INNER_MALFORMED,
    INNER_OK,
    INNER_TRUNCATED,
    IPV4_MAPPED,
    VARIANT_GBP,
    VARIANT_GPE,
    VARIANT_VXLAN,
    PacketTable,
)

FAST_LINKTYPES = frozenset(
    {LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6}
)
_MAPPED = np.uint64(IPV4_MAPPED)
#: Bytes of every frame copied in the one pass over the buffer: enough for VLAN-tagged IPv6 in IPv6.
ROW = 128
#: Deepest byte (from a frame's start) any window may touch: link 22 + IPv4 60 + UDP/VXLAN/Ethernet 38
#: + inner IPv4 60 + ports 4, rounded up. Frames closer than this to the end of a memory-mapped buffer
#: (no padding there) go to the scalar decoder.
REACH = 192


def _lookup(values: frozenset[int] | tuple[int, ...], size: int) -> np.ndarray:
    table = np.zeros(size, np.bool_)
    table[list(values)] = True
    return table


_VLAN = _lookup(VLAN_TPIDS, 1 << 16)
_IPV6_EXTENSION = _lookup(IPV6_EXTENSIONS, 256)
_PORT_PROTOCOL = _lookup(PORT_PROTOCOLS, 256)
_ICMP_PROTOCOL = _lookup(ICMP_PROTOCOLS, 256)


class _Rows:
    """The first ROW bytes of every frame; windows at per-frame offsets are cut from them."""

    def __init__(self, buf: np.ndarray, start: np.ndarray) -> None:
        self.buf, self.start = buf, start
        self.rows = fields_at(buf, start, ROW)
        self.flat = self.rows.reshape(-1)

    def window(self, offset: np.ndarray | int, width: int) -> np.ndarray:
        """`width` bytes at `offset` (from each frame's start) for every frame.

        Offsets take few values (header layouts), so the most common one is a slice of the rows and
        only the other frames are gathered one by one.
        """
        if isinstance(offset, int) and offset + width <= ROW:
            return self.rows[:, offset : offset + width]
        if isinstance(offset, int):
            offset = np.full(len(self.start), offset, np.int64)
        if not len(offset):
            return np.zeros((0, width), np.uint8)
        common = int(np.argmax(np.bincount(np.minimum(offset, ROW))))
        if common + width > ROW:
            return self._gather(np.arange(len(offset)), offset, width)
        others = np.flatnonzero(offset != common)
        if not len(others):
            return self.rows[:, common : common + width]
        window = self.rows[:, common : common + width].copy()
        window[others] = self._gather(others, offset[others], width)
        return window

    def _gather(self, rows: np.ndarray, offset: np.ndarray, width: int) -> np.ndarray:
        inside = offset + width <= ROW
        window = fields_at(self.flat, rows * ROW + np.minimum(offset, ROW - width), width)
        if not inside.all():
            outside = ~inside
            window[outside] = fields_at(self.buf, self.start[rows[outside]] + offset[outside], width)
        return window


class _Settler:
    """Frame status by first matching rule: `rule(mask, code)` only touches frames not yet settled."""

    def __init__(self, count: int, initial: int) -> None:
        self.status = np.full(count, initial, np.uint8)
        self.open = np.ones(count, np.bool_)

    def rule(self, mask: np.ndarray, code: int) -> None:
        hit = self.open & mask
        self.status[hit] = code
        self.open &= ~mask


def decode_fast(frames: Frames, index: np.ndarray | slice, linktype: int, ports: np.ndarray,
                fingerprint: bool = True) -> tuple[
    np.ndarray, PacketTable
]:
    """Statuses of the frames `index` (all of one link type) and the table of their VXLAN packets.

    `ports` is a boolean lookup table of the VXLAN UDP ports. Frames whose status is SLOW must be
    decoded by the scalar decoder; they are not in the table.
    """
    start, size = frames.start[index], frames.caplen[index]
    frame = _Settler(len(start), VXLAN)
    frame.rule(start + REACH > len(frames.buf), SLOW)
    rows = _Rows(frames.buf, start)
    ethertype, l3 = _link_layer(rows, size, linktype, frame)
    outer = _outer_ip(rows.window(l3, 40), size - l3, ethertype, frame)
    l4 = l3 + outer["header_len"]
    udp = rows.window(l4, 38)
    udp_len = column(udp, 4, ">u2").astype(np.int64)
    dport = column(udp, 2, ">u2")
    frame.rule(size < l4 + 4, TRUNCATED)
    frame.rule(~ports[dport], OTHER)
    frame.rule(size < l4 + 8, TRUNCATED)
    frame.rule((udp_len < 16) | (l4 + udp_len > l3 + outer["ip_len"]), MALFORMED_UDP)
    frame.rule(size < l4 + 16, TRUNCATED)
    b0, b1, b2, b3, b7 = udp[:, 8], udp[:, 9], udp[:, 10], udp[:, 11], udp[:, 15]
    gpe = (b0 & 0x04) != 0
    frame.rule(gpe & (b3 != GPE_NEXT_ETHERNET), SLOW)  # GPE carrying IP or NSH: rare, scalar path
    end = np.minimum(size, l4 + udp_len)
    inner = _inner(rows, udp, l4 + 16, end, frame)
    keep = frame.status == VXLAN
    every = bool(keep.all())
    variant, problems = _flags(b0, b1, b2, b3, b7, gpe)
    columns = {
        "ts_ns": frames.ts_ns[index],
        "wire_len": frames.origlen[index],
        "outer_ip_len": outer["ip_len"],
        "outer_version": outer["version"],
        "outer_src_hi": outer["src_hi"],
        "outer_src_lo": outer["src_lo"],
        "outer_dst_hi": outer["dst_hi"],
        "outer_dst_lo": outer["dst_lo"],
        "fragmented": np.zeros(len(keep), np.bool_),
        "udp_sport": column(udp, 0, ">u2").astype(np.uint16),
        "udp_dport": dport.astype(np.uint16),
        "variant": variant,
        "flags": np.array(b0, np.uint8),
        "flag_problems": problems,
        "vni": (column(udp, 12, ">u4") >> 8).astype(np.uint32),
        "inner_len": udp_len - 16,
    }
    columns.update(inner)
    columns["inner_hash"] = (fingerprints(rows.window(l4 + 16, FINGERPRINT_BYTES), end - (l4 + 16)) if fingerprint
                             else np.zeros(len(keep), np.uint64))
    return frame.status, PacketTable(columns if every else {name: values[keep] for name, values in columns.items()})


def _link_layer(rows: _Rows, size: np.ndarray, linktype: int, frame: _Settler) -> tuple[np.ndarray, np.ndarray]:
    """(ethertype, offset of the outer IP header) per frame."""
    head = rows.window(0, 22)
    count = len(size)
    if linktype == LINKTYPE_ETHERNET:
        frame.rule(size < 14, MALFORMED_L2)
        first, second, third = column(head, 12, ">u2"), column(head, 16, ">u2"), column(head, 20, ">u2")
        tag1 = _VLAN[first]
        if not tag1.any():  # the usual case: no outer tags at all
            return first.astype(np.int64), np.full(count, 14, np.int64)
        tag2 = _VLAN[second]
        frame.rule(tag1 & (size < 18), TRUNCATED)
        frame.rule(tag1 & tag2 & (size < 22), TRUNCATED)
        ethertype = np.where(tag1, np.where(tag2, third, second), first)
        return ethertype.astype(np.int64), np.where(tag1, np.where(tag2, 22, 18), 14).astype(np.int64)
    if linktype == LINKTYPE_LINUX_SLL:
        frame.rule(size < 16, MALFORMED_L2)
        return column(head, 14, ">u2").astype(np.int64), np.full(count, 16, np.int64)
    if linktype == LINKTYPE_LINUX_SLL2:
        frame.rule(size < 20, MALFORMED_L2)
        return column(head, 0, ">u2").astype(np.int64), np.full(count, 20, np.int64)
    # RAW / IPV4 / IPV6: the IP version nibble says which
    frame.rule(size < 1, MALFORMED_L2)
    version = head[:, 0] >> 4
    ethertype = np.where(version == 4, ETH_IPV4, np.where(version == 6, ETH_IPV6, 0))
    return ethertype.astype(np.int64), np.zeros(count, np.int64)


def _outer_ip(ip: np.ndarray, size: np.ndarray, ethertype: np.ndarray, frame: _Settler) -> dict[str, np.ndarray]:
    """Outer IPv4/IPv6 fields from the 40-byte window `ip`; `size` is what was captured from it on."""
    v4, v6 = ethertype == ETH_IPV4, ethertype == ETH_IPV6
    any_v4, any_v6 = bool(v4.any()), bool(v6.any())
    frame.rule(~v4 & ~v6, OTHER)
    first = ip[:, 0]
    count = len(first)
    if not (any_v4 or any_v6):  # nothing here is IP: every frame is settled as OTHER already
        zeros = np.zeros(count, np.uint64)
        return {"version": np.zeros(count, np.uint8), "header_len": np.zeros(count, np.int64),
                "ip_len": np.zeros(count, np.int64), "src_hi": zeros, "src_lo": zeros, "dst_hi": zeros,
                "dst_lo": zeros}
    header_len = total = np.zeros(count, np.int64)
    if any_v4:
        header_len = (first & 15).astype(np.int64) * 4
        total = column(ip, 2, ">u2").astype(np.int64)
        frame.rule(v4 & (size < 20), TRUNCATED)
        frame.rule(v4 & (((first >> 4) != 4) | (header_len < 20) | (total < header_len)), MALFORMED_IP)
        frame.rule(v4 & (ip[:, 9] != 17), OTHER)
        frame.rule(v4 & ((column(ip, 6, ">u2") & 0x3FFF) != 0), SLOW)  # fragments: reassembled by scalar.py
    if any_v6:
        next_header = ip[:, 6]
        frame.rule(v6 & (size < 40), TRUNCATED)
        frame.rule(v6 & ((first >> 4) != 6), MALFORMED_IP)
        frame.rule(v6 & (next_header != 17) & _IPV6_EXTENSION[next_header], SLOW)
        frame.rule(v6 & (next_header != 17), OTHER)
    src_v4 = dst_v4 = None
    if any_v4:
        src_v4 = column(ip, 12, ">u4").astype(np.uint64) | _MAPPED
        dst_v4 = column(ip, 16, ">u4").astype(np.uint64) | _MAPPED
    if not any_v6:
        assert src_v4 is not None and dst_v4 is not None  # any_v4 holds: no IPv6 here and the no-IP case returned
        zeros = np.zeros(len(first), np.uint64)
        return {"version": np.full(len(first), 4, np.uint8), "header_len": header_len, "ip_len": total,
                "src_hi": zeros, "src_lo": src_v4, "dst_hi": zeros, "dst_lo": dst_v4}
    v6_fields = {name: column(ip, at, ">u8").astype(np.uint64) for name, at in
                 (("src_hi", 8), ("src_lo", 16), ("dst_hi", 24), ("dst_lo", 32))}
    v6_len = 40 + column(ip, 4, ">u2").astype(np.int64)
    if not any_v4:
        return {"version": np.full(len(first), 6, np.uint8), "header_len": np.full(len(first), 40, np.int64),
                "ip_len": v6_len, **v6_fields}
    assert src_v4 is not None and dst_v4 is not None  # any_v4 holds: the IPv6-only case returned above
    zero = np.uint64(0)
    return {
        "version": np.where(v4, 4, 6).astype(np.uint8),
        "header_len": np.where(v4, header_len, 40),
        "ip_len": np.where(v4, total, v6_len),
        "src_hi": np.where(v4, zero, v6_fields["src_hi"]),
        "src_lo": np.where(v4, src_v4, v6_fields["src_lo"]),
        "dst_hi": np.where(v4, zero, v6_fields["dst_hi"]),
        "dst_lo": np.where(v4, dst_v4, v6_fields["dst_lo"]),
    }


def _flags(
    b0: np.ndarray, b1: np.ndarray, b2: np.ndarray, b3: np.ndarray, b7: np.ndarray, gpe: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    gbp = ~gpe & ((b0 & 0x80) != 0)
    reserved = (b0 & 0xF7) | b1 | b2 | b3 | b7
    if gpe.any() or gbp.any():
        reserved = np.where(gpe, (b0 & 0xF0) | b1 | b2 | b7, np.where(gbp, (b0 & 0x77) | (b1 & 0xB7) | b7, reserved))
    variant = np.where(gpe, VARIANT_GPE, np.where(gbp, VARIANT_GBP, VARIANT_VXLAN)).astype(np.uint8)
    problems = ((b0 & 0x08) == 0) * np.uint8(FLAG_NO_I) | (reserved != 0) * np.uint8(FLAG_RESERVED)
    return variant, problems.astype(np.uint8)


def _inner(rows: _Rows, udp: np.ndarray, eth: np.ndarray, end: np.ndarray, frame: _Settler) -> dict[
    str, np.ndarray
]:
    """Inner Ethernet / VLAN / IP / ports. `eth` and `end` are offsets from each frame's start."""
    count = len(eth)
    inner = _Settler(count, INNER_OK)
    inner.rule(end < eth + 14, INNER_TRUNCATED)
    has_eth = inner.open.copy()
    all_eth = bool(has_eth.all())
    dst_mac = column(udp, 16, ">u8") >> np.uint64(16)
    src_mac = column(udp, 22, ">u8") >> np.uint64(16)
    if not all_eth:
        dst_mac, src_mac = np.where(has_eth, dst_mac, 0), np.where(has_eth, src_mac, 0)
    dst_mac, src_mac = dst_mac.astype(np.uint64), src_mac.astype(np.uint64)
    first = column(udp, 28, ">u2")
    tag1 = _VLAN[first]
    if tag1.any():
        tci, second, third = (column(udp, at, ">u2") for at in (30, 32, 36))
        tag2 = _VLAN[second]
        cut1 = tag1 & (end < eth + 18)
        cut2 = tag1 & tag2 & (end < eth + 22)
        inner.rule(cut1 | cut2, INNER_TRUNCATED)
        tags = np.where(has_eth & tag1, np.where(tag2 & ~cut2, 2, 1) - cut1, 0).astype(np.uint8)
        vlan = np.where(has_eth & tag1 & ~cut1, tci & 0xFFF, 0).astype(np.uint16)
        ethertype = np.where(tag1, np.where(tag2, third, second), first).astype(np.int64)
        l3 = eth + 14 + np.where(tag1, np.where(tag2, 8, 4), 0)
    else:
        tags, vlan = np.zeros(count, np.uint8), np.zeros(count, np.uint16)
        ethertype, l3 = first.astype(np.int64), eth + 14
    if not inner.open.all():
        ethertype = np.where(inner.open, ethertype, 0)

    ip = rows.window(l3, 40)
    v4, v6, arp = ethertype == ETH_IPV4, ethertype == ETH_IPV6, ethertype == ETH_ARP
    inner.rule(v4 & (end < l3 + 20), INNER_TRUNCATED)
    inner.rule(v4 & (((ip[:, 0] >> 4) != 4) | ((ip[:, 0] & 15) < 5)), INNER_MALFORMED)
    any_v6, any_arp = bool(v6.any()), bool(arp.any())
    if any_v6:
        inner.rule(v6 & (end < l3 + 40), INNER_TRUNCATED)
        inner.rule(v6 & ((ip[:, 0] >> 4) != 6), INNER_MALFORMED)
    if any_arp:
        inner.rule(arp & (end < l3 + 28), INNER_TRUNCATED)
    parsed = inner.open.copy()  # L3 header complete: addresses are known from here on
    proto = ip[:, 9].astype(np.int64)
    if any_v6:
        proto = np.where(v6, ip[:, 6], proto)
        frame.rule(parsed & v6 & _IPV6_EXTENSION[proto], SLOW)
    proto = np.where(v4 | v6, proto, 0)
    arp_ipv4 = arp & (column(ip, 0, ">u2") == 1) & (column(ip, 2, ">u2") == ETH_IPV4) & (ip[:, 4] == 6) & (
        ip[:, 5] == 4
    ) if any_arp else np.zeros(count, np.bool_)
    src_hi, src_lo, dst_hi, dst_lo = _inner_addresses(ip, v4, v6, arp_ipv4, src_mac, dst_mac, parsed)

    not_first_fragment = v4 & ((column(ip, 6, ">u2") & 0x1FFF) != 0)
    header_len = np.where(v4, (ip[:, 0] & 15).astype(np.int64) * 4, 40) if any_v6 else (
        (ip[:, 0] & 15).astype(np.int64) * 4
    )
    l4 = l3 + header_len
    ports = rows.window(l4, 4)
    ip_any = (v4 | v6) & parsed & ~not_first_fragment
    with_ports = ip_any & _PORT_PROTOCOL[proto]
    with_icmp = ip_any & _ICMP_PROTOCOL[proto]
    inner.rule((with_ports & (end < l4 + 4)) | (with_icmp & (end < l4 + 2)), INNER_TRUNCATED)
    ports_ok = inner.open
    sport = np.where(with_ports & ports_ok, column(ports, 0, ">u2"), 0)
    dport = np.where(with_ports & ports_ok, column(ports, 2, ">u2"), 0)
    icmp = with_icmp & ports_ok
    if icmp.any():
        sport, dport = np.where(icmp, ports[:, 0], sport), np.where(icmp, ports[:, 1], dport)
    if any_arp:
        sport = np.where(arp_ipv4 & parsed, column(ip, 6, ">u2"), sport)
    return {
        "inner_status": inner.status,
        "inner_dst_mac": dst_mac,
        "inner_src_mac": src_mac,
        "inner_tags": tags,
        "inner_vlan": vlan,
        "inner_ethertype": ethertype.astype(np.uint16),
        "inner_src_hi": src_hi,
        "inner_src_lo": src_lo,
        "inner_dst_hi": dst_hi,
        "inner_dst_lo": dst_lo,
        "inner_proto": np.where(parsed, proto, 0).astype(np.uint8),
        "inner_sport": sport.astype(np.uint16),
        "inner_dport": dport.astype(np.uint16),
    }


def _inner_addresses(
    ip: np.ndarray, v4: np.ndarray, v6: np.ndarray, arp_ipv4: np.ndarray, src_mac: np.ndarray,
    dst_mac: np.ndarray, parsed: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Inner source/destination as 64-bit halves: IP addresses, ARP sender/target, else MACs."""
    zero = np.uint64(0)
    src_lo = column(ip, 12, ">u4").astype(np.uint64) | _MAPPED
    dst_lo = column(ip, 16, ">u4").astype(np.uint64) | _MAPPED
    non_ip = ~v4 & ~v6 & ~arp_ipv4
    if non_ip.any():
        src_lo, dst_lo = np.where(non_ip, src_mac, src_lo), np.where(non_ip, dst_mac, dst_lo)
    if arp_ipv4.any():
        src_lo = np.where(arp_ipv4, column(ip, 14, ">u4").astype(np.uint64) | _MAPPED, src_lo)
        dst_lo = np.where(arp_ipv4, column(ip, 24, ">u4").astype(np.uint64) | _MAPPED, dst_lo)
    if v6.any():
        src_lo, dst_lo = np.where(v6, column(ip, 16, ">u8"), src_lo), np.where(v6, column(ip, 32, ">u8"), dst_lo)
        src_hi, dst_hi = np.where(v6, column(ip, 8, ">u8"), zero), np.where(v6, column(ip, 24, ">u8"), zero)
    else:
        src_hi = dst_hi = np.zeros(len(v4), np.uint64)
    if parsed.all():
        return tuple(a.astype(np.uint64, copy=False) for a in (src_hi, src_lo, dst_hi, dst_lo))
    return tuple(np.where(parsed, a, zero).astype(np.uint64) for a in (src_hi, src_lo, dst_hi, dst_lo))
