"""The reference decoder: one frame at a time, in plain Python, for every case.

This is the definition of how vxauto reads a VXLAN packet. The vectorised decoder (`fast.py`) handles
the common shapes over whole captures at once and must give exactly the same answer; anything it does
not handle (outer fragments, IPv6 extension headers, VXLAN-GPE carrying IP, unusual link types) comes
here. Tests check the two against each other on random and mutated packets.

Rules, in order (the first that applies decides the frame's status):
- link layer: too short for its header -> malformed-l2; up to two outer 802.1Q/802.1ad tags;
- outer IP: not IPv4/IPv6 -> other; header cut by the snap length -> truncated; bad version, header
  length or total length -> malformed-ip; not UDP -> other; fragments go to reassembly;
- UDP: ports not captured -> truncated; destination port not a VXLAN port -> other; UDP length shorter
  than UDP + VXLAN headers or longer than the IP payload -> malformed-udp; VXLAN header cut -> truncated;
- everything after that is a VXLAN packet; problems inside the inner frame only mark `inner_status`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from vxauto.monitor.groupby import fingerprint
from vxauto.monitor.table import (
    FLAG_NO_I,
    FLAG_RESERVED,
    INNER_MALFORMED,
    INNER_NOT_ETHERNET,
    INNER_OK,
    INNER_TRUNCATED,
    IPV4_MAPPED,
    VARIANT_GBP,
    VARIANT_GPE,
    VARIANT_VXLAN,
)

# Frame status codes (also used by the vectorised decoder).
VXLAN, OTHER, TRUNCATED, MALFORMED_L2, MALFORMED_IP, MALFORMED_UDP, UNSUPPORTED_LINKTYPE, FRAGMENT = range(8)
SLOW = 8  # vectorised decoder only: hand the frame to this module
STATUS_NAMES = {
    VXLAN: "vxlan",
    OTHER: "other",
    TRUNCATED: "truncated",
    MALFORMED_L2: "malformed-l2",
    MALFORMED_IP: "malformed-ip",
    MALFORMED_UDP: "malformed-udp",
    UNSUPPORTED_LINKTYPE: "unsupported-linktype",
    FRAGMENT: "fragment",
}

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2 = 113, 228, 229, 276
SUPPORTED_LINKTYPES = frozenset(
    {LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4,
     LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2}
)

ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806
VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
MAX_TAGS = 2
IPV6_FRAGMENT = 44
#: IPv6 extension headers with the generic (length + 1) * 8 layout; AH (51) counts in 4-byte units.
IPV6_GENERIC_EXTENSIONS = frozenset({0, 43, 60, 135, 139, 140})
IPV6_AH = 51
IPV6_EXTENSIONS = IPV6_GENERIC_EXTENSIONS | {IPV6_FRAGMENT, IPV6_AH}
PORT_PROTOCOLS = frozenset({6, 17, 132, 136})  # TCP, UDP, SCTP, UDP-Lite
ICMP_PROTOCOLS = frozenset({1, 58})
AF_INET6_VALUES = frozenset({10, 24, 28, 30})  # AF_INET6 on Linux, BSDs, macOS
GPE_NEXT_IPV4, GPE_NEXT_IPV6, GPE_NEXT_ETHERNET = 1, 2, 3

DEFAULT_PORTS = (4789, 8472, 4790)

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_U64 = struct.Struct(">Q").unpack_from


def _mac(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 6], "big")


def _v4(data: bytes, offset: int) -> tuple[int, int]:
    return 0, IPV4_MAPPED | _U32(data, offset)[0]


def _v6(data: bytes, offset: int) -> tuple[int, int]:
    return _U64(data, offset)[0], _U64(data, offset + 8)[0]


@dataclass
class OuterInfo:
    ts_ns: int
    wire_len: int
    ip_len: int
    version: int
    src: tuple[int, int]
    dst: tuple[int, int]
    fragmented: bool = False


@dataclass
class _Pending:
    pieces: dict[int, bytes] = field(default_factory=dict)
    total: int | None = None  # known once the last fragment arrived
    wire: int = 0
    header_len: int = 0


class Reassembler:
    """Outer IP fragment reassembly (IPv4 and IPv6), keyed by addresses, protocol and identification."""

    MAX_PENDING = 4096
    MAX_DATAGRAM = 65_535 + 40

    def __init__(self) -> None:
        self.pending: dict[tuple, _Pending] = {}
        self.dropped = 0  # fragments of datagrams given up (too many pending, too big, overlapping)

    def add(self, key: tuple, offset: int, more: bool, payload: bytes, wire: int, header_len: int) -> bytes | None:
        """Store one fragment; returns the whole IP payload once every piece has arrived."""
        entry = self.pending.get(key)
        if entry is None:
            if len(self.pending) >= self.MAX_PENDING:  # forget the oldest datagram
                oldest = next(iter(self.pending))
                self.dropped += len(self.pending.pop(oldest).pieces)
            entry = self.pending[key] = _Pending()
        if offset == 0:
            entry.header_len = header_len
        entry.pieces[offset] = payload
        entry.wire += wire
        if not more:
            entry.total = offset + len(payload)
        if entry.total is None or entry.total > self.MAX_DATAGRAM:
            return None
        reached = 0
        for start in sorted(entry.pieces):
            if start > reached:
                return None
            reached = max(reached, start + len(entry.pieces[start]))
        if reached < entry.total:
            return None
        whole = bytearray(entry.total)
        for start in sorted(entry.pieces):
            piece = entry.pieces[start]
            whole[start : start + len(piece)] = piece[: max(0, entry.total - start)]
        del self.pending[key]
        self.last_wire, self.last_header_len = entry.wire, entry.header_len
        return bytes(whole)

    def leftover_fragments(self) -> int:
        return self.dropped + sum(len(entry.pieces) for entry in self.pending.values())


class ScalarDecoder:
    """Decodes frames one by one; keeps fragment state between frames."""

    def __init__(self, ports: tuple[int, ...] | frozenset[int] = DEFAULT_PORTS, fingerprint: bool = True) -> None:
        self.ports = frozenset(ports)
        self.fingerprint = fingerprint  # compute inner_hash (matching copies across captures), else 0
        self.reassembler = Reassembler()
        self.completed: tuple[int, tuple | None] | None = None

    # A result is (status, row or None); the row follows table.COLUMNS.
    def decode(self, data: bytes, linktype: int, origlen: int, ts_ns: int) -> tuple[int, tuple | None]:
        status, ethertype, offset = self._link_layer(data, linktype)
        if status != VXLAN:
            return status, None
        return self._outer_ip(data, ethertype, offset, origlen, ts_ns)

    def _link_layer(self, data: bytes, linktype: int) -> tuple[int, int, int]:
        size = len(data)
        if linktype == LINKTYPE_ETHERNET:
            if size < 14:
                return MALFORMED_L2, 0, 0
            ethertype, offset = _U16(data, 12)[0], 14
            for _ in range(MAX_TAGS):
                if ethertype not in VLAN_TPIDS:
                    break
                if size < offset + 4:
                    return TRUNCATED, 0, 0
                ethertype, offset = _U16(data, offset + 2)[0], offset + 4
            return VXLAN, ethertype, offset
        if linktype == LINKTYPE_LINUX_SLL:
            return (MALFORMED_L2, 0, 0) if size < 16 else (VXLAN, _U16(data, 14)[0], 16)
        if linktype == LINKTYPE_LINUX_SLL2:
            return (MALFORMED_L2, 0, 0) if size < 20 else (VXLAN, _U16(data, 0)[0], 20)
        if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
            if size < 1:
                return MALFORMED_L2, 0, 0
            version = data[0] >> 4
            return VXLAN, ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else 0, 0
        if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if size < 4:
                return MALFORMED_L2, 0, 0
            # NULL is in the capturing host's byte order, LOOP in network order: the small value wins.
            little, big = struct.unpack_from("<I", data)[0], _U32(data, 0)[0]
            family = big if linktype == LINKTYPE_LOOP or little > 0xFFFF else little
            return VXLAN, ETH_IPV4 if family == 2 else ETH_IPV6 if family in AF_INET6_VALUES else 0, 4
        return UNSUPPORTED_LINKTYPE, 0, 0

    def _outer_ip(self, data: bytes, ethertype: int, offset: int, origlen: int, ts_ns: int) -> tuple[int, tuple | None]:
        size = len(data)
        if ethertype == ETH_IPV4:
            if size < offset + 20:
                return TRUNCATED, None
            first = data[offset]
            header_len = (first & 15) * 4
            total = _U16(data, offset + 2)[0]
            if first >> 4 != 4 or header_len < 20 or total < header_len:
                return MALFORMED_IP, None
            if data[offset + 9] != 17:
                return OTHER, None
            outer = OuterInfo(ts_ns, origlen, total, 4, _v4(data, offset + 12), _v4(data, offset + 16))
            fragment = _U16(data, offset + 6)[0]
            if fragment & 0x3FFF:
                key = (4, outer.src, outer.dst, _U16(data, offset + 4)[0])
                payload_start, payload_end = offset + header_len, offset + total
                return self._fragment(data, key, (fragment & 0x1FFF) * 8, bool(fragment & 0x2000),
                                      payload_start, payload_end, outer, header_len)
            return self._udp(data, offset + header_len, offset + total, outer)
        if ethertype == ETH_IPV6:
            if size < offset + 40:
                return TRUNCATED, None
            if data[offset] >> 4 != 6:
                return MALFORMED_IP, None
            payload_len, next_header = _U16(data, offset + 4)[0], data[offset + 6]
            end = offset + 40 + payload_len
            outer = OuterInfo(ts_ns, origlen, 40 + payload_len, 6, _v6(data, offset + 8), _v6(data, offset + 24))
            if next_header != 17 and next_header not in IPV6_EXTENSIONS:
                return OTHER, None
            position = offset + 40
            while next_header in IPV6_EXTENSIONS:
                if size < position + 8:
                    return TRUNCATED, None
                if next_header == IPV6_FRAGMENT:
                    if data[position] != 17:
                        return OTHER, None
                    field_value = _U16(data, position + 2)[0]
                    key = (6, outer.src, outer.dst, _U32(data, position + 4)[0])
                    return self._fragment(data, key, field_value & 0xFFF8, bool(field_value & 1), position + 8,
                                          end, outer, position + 8 - offset)
                length = (data[position + 1] + 2) * 4 if next_header == IPV6_AH else (data[position + 1] + 1) * 8
                next_header, position = data[position], position + length
                if position > end:
                    return MALFORMED_IP, None
            if next_header != 17:
                return OTHER, None
            return self._udp(data, position, end, outer)
        return OTHER, None

    def _fragment(self, data: bytes, key: tuple, offset: int, more: bool, start: int, end: int,
                  outer: OuterInfo, header_len: int) -> tuple[int, tuple | None]:
        if len(data) < end:  # a fragment cut by the snap length cannot be reassembled
            return TRUNCATED, None
        whole = self.reassembler.add(key, offset, more, data[start:end], outer.wire_len, header_len)
        if whole is None:
            return FRAGMENT, None
        merged = OuterInfo(outer.ts_ns, self.reassembler.last_wire, self.reassembler.last_header_len + len(whole),
                           outer.version, outer.src, outer.dst, fragmented=True)
        status, row = self._udp(whole, 0, len(whole), merged)
        # The frame that completed the datagram is itself a fragment; the datagram is reported on top.
        self.completed = (status, row)
        return FRAGMENT, None

    def take_completed(self) -> tuple[int, tuple | None] | None:
        """The datagram completed by the last frame, if it completed one (then forgotten)."""
        completed, self.completed = self.completed, None
        return completed

    def _udp(self, data: bytes, l4: int, ip_end: int, outer: OuterInfo) -> tuple[int, tuple | None]:
        size = len(data)
        if size < l4 + 4:
            return TRUNCATED, None
        sport, dport = _U16(data, l4)[0], _U16(data, l4 + 2)[0]
        if dport not in self.ports:
            return OTHER, None
        if size < l4 + 8:
            return TRUNCATED, None
        udp_len = _U16(data, l4 + 4)[0]
        if udp_len < 16 or l4 + udp_len > ip_end:
            return MALFORMED_UDP, None
        if size < l4 + 16:
            return TRUNCATED, None
        b0, b1, b2, b3 = data[l4 + 8 : l4 + 12]
        vni, b7 = _U32(data, l4 + 12)[0] >> 8, data[l4 + 15]
        variant, flag_problems = _flags(b0, b1, b2, b3, b7)
        end = min(size, l4 + udp_len)
        inner = _inner(data, l4 + 16, end, variant, b3)
        row = (
            outer.ts_ns, outer.wire_len, outer.ip_len, outer.version, *outer.src, *outer.dst, outer.fragmented,
            sport, dport, variant, b0, flag_problems, vni, udp_len - 16, *inner,
            fingerprint(data[l4 + 16 : end]) if self.fingerprint else 0,
        )
        return VXLAN, row


def _flags(b0: int, b1: int, b2: int, b3: int, b7: int) -> tuple[int, int]:
    """VXLAN variant and header problems (RFC 7348; VXLAN-GPE and -GBP drafts)."""
    if b0 & 0x04:  # P bit: VXLAN-GPE, the last byte of the first word is the next protocol
        variant, reserved = VARIANT_GPE, (b0 & 0xF0) | b1 | b2 | b7
    elif b0 & 0x80:  # G bit: group-based policy, second byte has the D and A bits, then the group ID
        variant, reserved = VARIANT_GBP, (b0 & 0x77) | (b1 & 0xB7) | b7
    else:
        variant, reserved = VARIANT_VXLAN, (b0 & 0xF7) | b1 | b2 | b3 | b7
    return variant, (0 if b0 & 0x08 else FLAG_NO_I) | (FLAG_RESERVED if reserved else 0)


def _inner(data: bytes, start: int, end: int, variant: int, next_protocol: int) -> tuple:
    """Inner columns: status, dst mac, src mac, tags, vlan, ethertype, src hi/lo, dst hi/lo, proto, ports."""
    dst_mac = src_mac = tags = vlan = 0
    if variant == VARIANT_GPE and next_protocol != GPE_NEXT_ETHERNET:
        ethertype = {GPE_NEXT_IPV4: ETH_IPV4, GPE_NEXT_IPV6: ETH_IPV6}.get(next_protocol, 0)
        if not ethertype:
            return (INNER_NOT_ETHERNET, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        l3 = start
    else:
        if end < start + 14:
            return (INNER_TRUNCATED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        dst_mac, src_mac, ethertype = _mac(data, start), _mac(data, start + 6), _U16(data, start + 12)[0]
        l3 = start + 14
        while ethertype in VLAN_TPIDS and tags < MAX_TAGS:
            if end < l3 + 4:
                return (INNER_TRUNCATED, dst_mac, src_mac, tags, vlan, 0, 0, 0, 0, 0, 0, 0, 0)
            if tags == 0:
                vlan = _U16(data, l3)[0] & 0xFFF
            ethertype, l3, tags = _U16(data, l3 + 2)[0], l3 + 4, tags + 1
    head = (dst_mac, src_mac, tags, vlan, ethertype)
    status, addresses = _inner_l3(data, l3, end, ethertype, dst_mac, src_mac)
    return (status, *head, *addresses)


def _inner_l3(data: bytes, l3: int, end: int, ethertype: int, dst_mac: int, src_mac: int) -> tuple[int, tuple]:
    """(status, (src hi, src lo, dst hi, dst lo, proto, sport, dport)) of the inner packet."""
    nothing = (0, 0, 0, 0, 0, 0, 0)
    if ethertype == ETH_IPV4:
        if end < l3 + 20:
            return INNER_TRUNCATED, nothing
        first = data[l3]
        if first >> 4 != 4 or first & 15 < 5:
            return INNER_MALFORMED, nothing
        proto, src, dst = data[l3 + 9], _v4(data, l3 + 12), _v4(data, l3 + 16)
        if _U16(data, l3 + 6)[0] & 0x1FFF:  # a non-first inner fragment has no ports
            return INNER_OK, (*src, *dst, proto, 0, 0)
        return _inner_ports(data, l3 + (first & 15) * 4, end, proto, src, dst)
    if ethertype == ETH_IPV6:
        if end < l3 + 40:
            return INNER_TRUNCATED, nothing
        if data[l3] >> 4 != 6:
            return INNER_MALFORMED, nothing
        proto, src, dst = data[l3 + 6], _v6(data, l3 + 8), _v6(data, l3 + 24)
        position = l3 + 40
        while proto in IPV6_EXTENSIONS:
            if end < position + 8:
                return INNER_TRUNCATED, (*src, *dst, proto, 0, 0)
            if proto == IPV6_FRAGMENT:
                proto, offset = data[position], _U16(data, position + 2)[0] & 0xFFF8
                position += 8
                if offset:
                    return INNER_OK, (*src, *dst, proto, 0, 0)
                continue
            length = (data[position + 1] + 2) * 4 if proto == IPV6_AH else (data[position + 1] + 1) * 8
            proto, position = data[position], position + length
        return _inner_ports(data, position, end, proto, src, dst)
    if ethertype == ETH_ARP:
        if end < l3 + 28:
            return INNER_TRUNCATED, nothing
        if _U16(data, l3)[0] == 1 and _U16(data, l3 + 2)[0] == ETH_IPV4 and data[l3 + 4] == 6 and data[l3 + 5] == 4:
            return INNER_OK, (*_v4(data, l3 + 14), *_v4(data, l3 + 24), 0, _U16(data, l3 + 6)[0], 0)
    return INNER_OK, (0, src_mac, 0, dst_mac, 0, 0, 0)


def _inner_ports(
    data: bytes, l4: int, end: int, proto: int, src: tuple[int, int], dst: tuple[int, int]
) -> tuple[int, tuple]:
    if proto in PORT_PROTOCOLS:
        if end < l4 + 4:
            return INNER_TRUNCATED, (*src, *dst, proto, 0, 0)
        return INNER_OK, (*src, *dst, proto, _U16(data, l4)[0], _U16(data, l4 + 2)[0])
    if proto in ICMP_PROTOCOLS:
        if end < l4 + 2:
            return INNER_TRUNCATED, (*src, *dst, proto, 0, 0)
        return INNER_OK, (*src, *dst, proto, data[l4], data[l4 + 1])
    return INNER_OK, (*src, *dst, proto, 0, 0)
