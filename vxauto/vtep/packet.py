"""RFC 7348 framing and the small packet helpers the datapath needs (pure functions, no I/O).

VXLAN header (RFC 7348 section 5):

    |R|R|R|R|I|R|R|R|            Reserved                           |
    |                VXLAN Network Identifier (VNI) |   Reserved    |

The I flag must be 1; all other flag and reserved bits are sent as zero and ignored on receive.
"""

from __future__ import annotations

import socket
import struct
import zlib

VXLAN_HEADER_LEN = 8
VXLAN_FLAG_I = 0x08
VNI_MAX = (1 << 24) - 1
ETH_HEADER_LEN = 14
ETH_MIN_FRAME = ETH_HEADER_LEN
OUTER_IPV4_OVERHEAD = 20 + 8 + VXLAN_HEADER_LEN  # outer IPv4 + UDP + VXLAN in front of the inner frame
OUTER_IPV6_OVERHEAD = 40 + 8 + VXLAN_HEADER_LEN  # the same over an IPv6 underlay (no extension headers)
TAP_MTU_OVERHEAD = OUTER_IPV4_OVERHEAD + ETH_HEADER_LEN  # what a 1500 underlay leaves for the inner IP MTU

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_ARP = 0x0806
VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
IPPROTO_TCP = 6
IPPROTO_UDP = 17

# Ports RFC 7348 section 5 and section 8 mention.
IANA_VXLAN_PORT = 4789
LINUX_LEGACY_VXLAN_PORT = 8472

_HEADER = struct.Struct("!II")


def outer_overhead(ip_version: int) -> int:
    """Bytes the underlay adds in front of an inner frame: outer IP + UDP + VXLAN headers."""
    return OUTER_IPV6_OVERHEAD if ip_version == 6 else OUTER_IPV4_OVERHEAD


def tap_mtu_overhead(ip_version: int) -> int:
    """Underlay MTU minus TAP MTU: 50 bytes over IPv4, 70 over IPv6 (as kernel VXLAN devices default to)."""
    return outer_overhead(ip_version) + ETH_HEADER_LEN


def vxlan_header(vni: int) -> bytes:
    """The 8-byte header for `vni`: I flag set, every reserved bit zero."""
    if not 0 <= vni <= VNI_MAX:
        raise ValueError(f"VNI out of the 24-bit range: {vni}")
    return _HEADER.pack(VXLAN_FLAG_I << 24, vni << 8)


def parse_vxlan_header(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """(flags byte, VNI) of a VXLAN header, or None when there are fewer than 8 bytes."""
    if len(data) < VXLAN_HEADER_LEN:
        return None
    return data[0], (data[4] << 16) | (data[5] << 8) | data[6]


def mac_text(mac: bytes) -> str:
    return mac.hex(":")


def mac_bytes(text: str) -> bytes:
    """`02:00:5e:00:00:01` (or with `-`) to 6 bytes; raises ValueError on anything else."""
    cleaned = text.replace("-", ":").lower()
    parts = cleaned.split(":")
    if len(parts) != 6 or not all(len(part) == 2 for part in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(part, 16) for part in parts)


def is_multicast_mac(mac: bytes | memoryview) -> bool:
    """Group bit set: broadcast and multicast frames are BUM traffic."""
    return bool(mac[0] & 1)


def ip_text(packed: bytes) -> str:
    """4 or 16 bytes as text (RFC 5952 form for IPv6, the form `str(IPv6Address)` gives)."""
    return socket.inet_ntoa(packed) if len(packed) == 4 else socket.inet_ntop(socket.AF_INET6, packed)


# ---------------------------------------------------------------------------------------------------
# Internet checksum (RFC 1071) through Python's C-speed big integers: the one's complement sum of
# 16-bit words is congruent to the number the bytes spell modulo 0xFFFF, because 2**16 == 1 (mod 0xFFFF).


def ones_sum(data: bytes | bytearray | memoryview) -> int:
    """One's complement sum of `data` as 16-bit big-endian words (odd length padded), in 0..0xFFFF."""
    value = int.from_bytes(data, "big")
    if len(data) & 1:
        value <<= 8
    return fold(value)


def fold(value: int) -> int:
    """Reduce a sum of 16-bit words to one's complement form; a non-zero sum never becomes 0."""
    if not value:
        return 0
    folded = value % 0xFFFF
    return folded or 0xFFFF


def checksum_from_sum(total: int) -> int:
    """The checksum field value for a (possibly unfolded) one's complement sum."""
    return 0xFFFF - fold(total)


def ipv4_pseudo_sum(header: bytes | bytearray | memoryview, l3: int, protocol: int, length: int) -> int:
    """Sum of the IPv4 pseudo header (addresses from the IP header at `l3`, protocol, L4 length)."""
    return int.from_bytes(header[l3 + 12 : l3 + 20], "big") % 0xFFFF + protocol + length


def ipv6_pseudo_sum(header: bytes | bytearray | memoryview, l3: int, protocol: int, length: int) -> int:
    return int.from_bytes(header[l3 + 8 : l3 + 40], "big") % 0xFFFF + protocol + length


# ---------------------------------------------------------------------------------------------------
# Flow entropy for the outer UDP source port (RFC 7348 section 5: hash of the inner headers).


_PORTED = frozenset({IPPROTO_TCP, IPPROTO_UDP, 132})  # TCP, UDP, SCTP carry ports right after the header


def flow_key(frame: bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
    """The inner-header bytes that identify a flow: IP addresses and ports, else the L2 header.

    Ports are read at the offset of an IPv4 header without options (IPv6 without extension headers);
    when there are options the bytes read are just as constant per flow, which is all ECMP needs.
    Other protocols (ICMP...) hash on addresses only: their "port" bytes change per packet.
    A memoryview slice is returned when given one: no copy on the per-packet path.
    """
    length = len(frame)
    if length >= 34 and frame[12] == 0x08 and frame[13] == 0x00:
        return frame[26:38] if frame[23] in _PORTED and length >= 38 else frame[26:34]
    if length >= 54 and frame[12] == 0x86 and frame[13] == 0xDD:
        return frame[22:58] if frame[20] in _PORTED and length >= 58 else frame[22:54]
    return frame[0:ETH_HEADER_LEN]


def source_port_index(frame: bytes | bytearray | memoryview, count: int) -> int:
    """Which of `count` underlay source ports carries this inner flow (CRC-32: stable across restarts)."""
    return zlib.crc32(flow_key(frame)) % count


def has_inner_vlan(frame: bytes | bytearray | memoryview) -> bool:
    return len(frame) >= ETH_HEADER_LEN and ((frame[12] << 8) | frame[13]) in VLAN_TPIDS
