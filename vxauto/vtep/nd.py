"""IPv6 Neighbor Discovery suppression: read a Neighbor Solicitation, build the Neighbor Advertisement.

RFC 7432 section 10 (and RFC 9161 for the operational detail) lets a VTEP answer ARP requests and
Neighbor Solicitations for addresses EVPN MAC+IP routes placed behind a remote VTEP, so they need not be
flooded through the fabric. This module is the IPv6 half, pure functions (no I/O):

* `solicitation(frame)` accepts only what RFC 4861 section 7.1.1 lets a node act on: an Ethernet frame
  with IPv6 (no extension headers), hop limit 255, ICMPv6 type 135 code 0, at least 24 bytes, a correct
  ICMPv6 checksum, a unicast target. Duplicate address detection (source `::`) is not answered: the
  host probing an address must hear from its owner, not from us (the Linux bridge's `neigh_suppress`
  does the same).
* `advertisement(...)` builds the answer as the Linux bridge's proxy ND does: solicited, override set
  (the host replaces a stale entry at once), router flag as the route says, and the target link-layer
  address option (RFC 4861 section 4.4) carrying the MAC from the EVPN route.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vxauto.vtep.packet import ETH_HEADER_LEN, ETHERTYPE_IPV6, checksum_from_sum, ones_sum

IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_SOLICIT = 135
ND_NEIGHBOR_ADVERT = 136
ND_HOP_LIMIT = 255  # RFC 4861: anything else was forwarded by a router and must be ignored
OPTION_SOURCE_LLA = 1
OPTION_TARGET_LLA = 2
NA_ROUTER = 0x80  # flag bits in the first byte after the ICMPv6 checksum
NA_SOLICITED = 0x40
NA_OVERRIDE = 0x20

IPV6_HEADER_LEN = 40
_ICMP = ETH_HEADER_LEN + IPV6_HEADER_LEN  # where the ICMPv6 message starts in the frame
NS_MIN_FRAME = _ICMP + 24  # type, code, checksum, reserved, target address
NA_LEN = 32  # ICMPv6 NA with one target link-layer address option (8 bytes)
NA_FRAME_LEN = _ICMP + NA_LEN
_NA = struct.Struct("!BBHB3x16sBB6s")
_IPV6 = struct.Struct("!IHBB16s16s")
_UNSPECIFIED = bytes(16)


@dataclass(frozen=True, slots=True)
class Solicitation:
    """Who asks (MAC and IPv6 address) for which target address."""

    asker_mac: bytes
    asker_ip: bytes
    target: bytes


def solicitation(frame: bytes | bytearray | memoryview) -> Solicitation | None:
    """The Neighbor Solicitation in `frame` if it is one a node may answer, else None (see the module)."""
    if len(frame) < NS_MIN_FRAME or ((frame[12] << 8) | frame[13]) != ETHERTYPE_IPV6:
        return None
    if frame[14] >> 4 != 6 or frame[20] != IPPROTO_ICMPV6 or frame[21] != ND_HOP_LIMIT:
        return None
    length = (frame[18] << 8) | frame[19]
    if length < 24 or _ICMP + length > len(frame):
        return None
    if frame[_ICMP] != ND_NEIGHBOR_SOLICIT or frame[_ICMP + 1] != 0:
        return None
    source, target = bytes(frame[22:38]), bytes(frame[_ICMP + 8 : _ICMP + 24])
    if source == _UNSPECIFIED or target[0] == 0xFF:
        return None  # duplicate address detection, or a multicast target (invalid)
    pseudo = ones_sum(frame[22:54]) + IPPROTO_ICMPV6 + length
    if checksum_from_sum(pseudo + ones_sum(frame[_ICMP : _ICMP + length])) != 0:
        return None  # a correct checksum makes the total sum 0xFFFF: its complement is 0
    return Solicitation(asker_mac=bytes(frame[6:12]), asker_ip=source, target=target)


def advertisement(asked: Solicitation, target_mac: bytes, router: bool = False) -> bytes:
    """The solicited Neighbor Advertisement for `asked`, from `target_mac`, as an Ethernet frame."""
    flags = NA_SOLICITED | NA_OVERRIDE | (NA_ROUTER if router else 0)
    unsummed = _NA.pack(ND_NEIGHBOR_ADVERT, 0, 0, flags, asked.target, OPTION_TARGET_LLA, 1, target_mac)
    pseudo = ones_sum(asked.target + asked.asker_ip) + IPPROTO_ICMPV6 + NA_LEN
    checksum = checksum_from_sum(pseudo + ones_sum(unsummed))
    icmp = unsummed[:2] + checksum.to_bytes(2, "big") + unsummed[4:]
    ipv6 = _IPV6.pack(6 << 28, NA_LEN, IPPROTO_ICMPV6, ND_HOP_LIMIT, asked.target, asked.asker_ip)
    return asked.asker_mac + target_mac + ETHERTYPE_IPV6.to_bytes(2, "big") + ipv6 + icmp
