"""Inner headers of an Ethernet frame and the state of their checksums: the common ground of segmentation
(`segmentation`, `vectorised_gso`) and coalescing (`coalescing`).

`parse_layers` finds the IP and TCP/UDP headers of a frame (raising `OffloadError` for what neither
side can handle); the checksum helpers tell a complete L4 checksum from a CHECKSUM_PARTIAL one (the
pseudo-header sum a sending stack leaves for offload) and complete or describe the latter.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from types import ModuleType

from vxauto.vtep.kernel import (
    VNET_F_NEEDS_CSUM,
    VNET_HDR,
)
from vxauto.vtep.packet import (
    ETH_HEADER_LEN,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    checksum_from_sum,
    fold,
    ipv4_pseudo_sum,
    ipv6_pseudo_sum,
    ones_sum,
)

TCP_FIN = 0x01
TCP_PSH = 0x08
TCP_ACK = 0x10
TCP_CWR = 0x80

#: Network-order fields packed and read in place by the segmentation, coalescing and numpy GSO paths.
U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
TWO_U16 = struct.Struct("!HH")

optional_numpy: ModuleType | None
try:  # optional accelerator for payload checksums and vectorised GSO; everything works without it
    import numpy as optional_numpy
except ImportError:  # pragma: no cover - depends on the environment
    optional_numpy = None


class OffloadError(ValueError):
    """A super-frame or partial-checksum request the datapath cannot honour (counted, then dropped)."""


@dataclass(frozen=True)
class Layers:
    """Offsets of the inner headers of one Ethernet frame."""

    l3: int
    l4: int
    payload: int
    ipv6: bool
    protocol: int


def parse_layers(frame: memoryview | bytes | bytearray, l3: int = ETH_HEADER_LEN) -> Layers:
    """Locate the IP and TCP/UDP headers; raise OffloadError for anything segmentation cannot handle."""
    length = len(frame)
    if length < l3 + 20:
        raise OffloadError("frame too short for an IP header")
    ethertype = (frame[l3 - 2] << 8) | frame[l3 - 1]
    if ethertype == ETHERTYPE_IPV4 and frame[l3] >> 4 == 4:
        l4 = l3 + (frame[l3] & 0x0F) * 4
        protocol, ipv6 = frame[l3 + 9], False
        if l4 < l3 + 20:
            raise OffloadError("IPv4 header length below 20")
    elif ethertype == ETHERTYPE_IPV6 and frame[l3] >> 4 == 6 and length >= l3 + 40:
        l4, protocol, ipv6 = l3 + 40, frame[l3 + 6], True  # extension headers are not offloaded by Linux
    else:
        raise OffloadError("not an IPv4/IPv6 frame")
    if protocol == IPPROTO_TCP:
        if length < l4 + 20:
            raise OffloadError("frame too short for a TCP header")
        payload = l4 + (frame[l4 + 12] >> 4) * 4
        if payload < l4 + 20:
            raise OffloadError("TCP header length below 20")
    elif protocol == IPPROTO_UDP:
        payload = l4 + 8
    else:
        raise OffloadError(f"IP protocol {protocol} cannot be segmented")
    if payload > length:
        raise OffloadError("headers run past the end of the frame")
    return Layers(l3, l4, payload, ipv6, protocol)


def complete_checksum(frame: memoryview | bytearray, start: int, offset: int) -> None:
    """Finish a CHECKSUM_PARTIAL frame in place: the field holds the pseudo-header sum already."""
    where = start + offset
    if start < ETH_HEADER_LEN or where + 2 > len(frame):
        raise OffloadError("partial checksum position outside the frame")
    value = checksum_from_sum(ones_sum(frame[start:]))
    if offset == 6 and value == 0:
        value = 0xFFFF  # UDP: a computed zero is sent as all ones (RFC 768)
    U16.pack_into(frame, where, value)


def pseudo_sum(frame: memoryview | bytes | bytearray, layers: Layers, length: int) -> int:
    if layers.ipv6:
        return ipv6_pseudo_sum(frame, layers.l3, layers.protocol, length)
    return ipv4_pseudo_sum(frame, layers.l3, layers.protocol, length)


def l4_checksum_offset(protocol: int) -> int:
    return 16 if protocol == IPPROTO_TCP else 6


def checksum_is_partial(frame: memoryview | bytes | bytearray, layers: Layers, length: int) -> bool:
    """True when the L4 checksum field holds only the pseudo-header sum (CHECKSUM_PARTIAL).

    A kernel VTEP sending over veth never completes inner checksums: the skb stays CHECKSUM_PARTIAL
    and the kernel receiver trusts that flag, but a userspace receiver sees the half-done field. Such
    a frame goes to the TAP with NEEDS_CSUM, which restores exactly the state the sender's skb had.
    A correct checksum that happens to equal this value is harmless: completing it yields itself.
    """
    where = layers.l4 + l4_checksum_offset(layers.protocol)
    field = (frame[where] << 8) | frame[where + 1]
    return field == fold(pseudo_sum(frame, layers, length))


def l4_length(frame: memoryview | bytes | bytearray, layers: Layers) -> int:
    """L4 length from the IP header (Ethernet padding excluded), or -1 if the header lies."""
    l3 = layers.l3
    if layers.ipv6:
        length = (frame[l3 + 4] << 8) | frame[l3 + 5]
    else:
        length = ((frame[l3 + 2] << 8) | frame[l3 + 3]) - (layers.l4 - l3)
    return length if layers.payload - layers.l4 <= length <= len(frame) - layers.l4 else -1


def partial_checksum_header(frame: memoryview | bytes | bytearray) -> bytes | None:
    """The virtio-net header (NEEDS_CSUM) to write a CHECKSUM_PARTIAL TCP/UDP frame with, else None."""
    try:
        layers = parse_layers(frame)
    except OffloadError:
        return None
    length = l4_length(frame, layers)
    if length < 0:
        return None
    offset = l4_checksum_offset(layers.protocol)
    if layers.protocol == IPPROTO_UDP and not layers.ipv6 and frame[layers.l4 + 6] == frame[layers.l4 + 7] == 0:
        return None  # IPv4 UDP without checksum
    if not checksum_is_partial(frame, layers, length):
        return None
    return VNET_HDR.pack(VNET_F_NEEDS_CSUM, 0, 0, 0, layers.l4, offset, 0)
