"""Segmentation and coalescing: what a NIC does for TSO/GRO, done in Python for the TAP side.

With `TUNSETOFFLOAD` the kernel hands the TAP reader TCP (and UDP) super-frames of up to 64 KiB behind a
virtio-net header, and accepts such super-frames on write. Segmentation cuts a super-frame into
MSS-sized frames with their own, correct IP and L4 headers and checksums (they cross the underlay as
ordinary VXLAN packets a kernel VTEP must accept); coalescing does the reverse for a received batch of
one TCP flow, so the local stack gets one write instead of forty.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from vxauto.vtep.kernel import (
    VNET_F_NEEDS_CSUM,
    VNET_GSO_ECN,
    VNET_GSO_TCPV4,
    VNET_GSO_TCPV6,
    VNET_GSO_UDP_L4,
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

if TYPE_CHECKING:  # numpy stays optional at run time; annotations only name its array type
    from numpy import ndarray

_numpy: ModuleType | None
try:  # optional accelerator for payload checksums; everything works without it
    import numpy as _numpy
except ImportError:  # pragma: no cover - depends on the environment
    _numpy = None

TCP_FIN = 0x01
TCP_PSH = 0x08
TCP_ACK = 0x10
TCP_CWR = 0x80
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_TWO_U16 = struct.Struct("!HH")


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
    _U16.pack_into(frame, where, value)


def _pseudo_sum(frame: memoryview | bytes | bytearray, layers: Layers, length: int) -> int:
    if layers.ipv6:
        return ipv6_pseudo_sum(frame, layers.l3, layers.protocol, length)
    return ipv4_pseudo_sum(frame, layers.l3, layers.protocol, length)


def segment(
    frame: memoryview, gso_type: int, gso_size: int, l3: int = ETH_HEADER_LEN, prefix: bytes = b""
) -> list[tuple[bytes, memoryview]]:
    """Cut a TSO/USO super-frame into (prefix + headers, payload slice) pairs, one per wire frame.

    Every piece gets its own IP total length, IPv4 ID and header checksum, TCP sequence number and
    flags (FIN/PSH only on the last, CWR only on the first) or UDP length, and a full L4 checksum.
    `prefix` (the VXLAN header) is glued in front of each header so a piece is two buffers, not three.
    """
    kind = gso_type & ~VNET_GSO_ECN
    if gso_size <= 0:
        raise OffloadError("GSO size is zero")
    layers = parse_layers(frame, l3)
    expected = {VNET_GSO_TCPV4: (IPPROTO_TCP, False), VNET_GSO_TCPV6: (IPPROTO_TCP, True)}.get(kind)
    if kind == VNET_GSO_UDP_L4:
        expected = (IPPROTO_UDP, layers.ipv6)
    if expected != (layers.protocol, layers.ipv6):
        raise OffloadError(f"GSO type {gso_type} does not match the frame's headers")
    payload = frame[layers.payload :]
    if not payload:
        raise OffloadError("super-frame without payload")
    if layers.protocol == IPPROTO_TCP and not layers.ipv6:
        return _segment_tcp4(frame, layers, payload, gso_size, prefix)
    if layers.protocol == IPPROTO_TCP:
        pieces = _segment_tcp(frame, layers, payload, gso_size)
    else:
        pieces = _segment_udp(frame, layers, payload, gso_size)
    return [(prefix + header, chunk) for header, chunk in pieces] if prefix else pieces


def chunk_sums(payload: memoryview, size: int) -> list[int]:
    """One's complement sum (mod 0xFFFF, 0 standing for 0xFFFF) of each `size`-byte slice.

    With numpy present the full-size slices are summed in one vectorised call (20x faster than
    Python's big integers on 64 KiB); numpy adds little-endian words, and by RFC 1071's byte-order
    independence the byte-swapped result is the big-endian sum.
    """
    full = len(payload) // size
    sums: list[int] = []
    done = 0
    if _numpy is not None and not size & 1 and full >= 4:
        words = _numpy.frombuffer(payload, dtype=_numpy.uint16, count=full * size // 2).reshape(full, size // 2)
        sums = [((v & 0xFF) << 8) | (v >> 8) for v in (words.sum(axis=1, dtype=_numpy.uint64) % 0xFFFF).tolist()]
        done = full * size
    from_bytes = int.from_bytes
    for offset in range(done, len(payload), size):
        chunk = payload[offset : offset + size]
        value = from_bytes(chunk, "big")
        if len(chunk) & 1:
            value <<= 8  # an odd slice is summed as if padded with one zero byte
        sums.append(value % 0xFFFF)
    return sums


def _segment_tcp4(
    frame: memoryview, layers: Layers, payload: memoryview, mss: int, prefix: bytes
) -> list[tuple[bytes, memoryview]]:
    """The hot path (IPv4 TCP): one Struct.pack per header and integer-only checksum updates."""
    l3, l4, header_len = layers.l3, layers.l4, layers.payload
    tcp_header_len = header_len - l4
    head = prefix + bytes(frame[: l3 + 2])
    ip_mid, ip_tail = bytes(frame[l3 + 6 : l3 + 10]), bytes(frame[l3 + 12 : l4])
    ports, ack_offset = bytes(frame[l4 : l4 + 4]), bytes(frame[l4 + 8 : l4 + 13])
    window, options = bytes(frame[l4 + 14 : l4 + 16]), bytes(frame[l4 + 18 : header_len])
    pack = struct.Struct(
        f"!{len(head)}sHH4sH{len(ip_tail)}s4sI5sB2sH{len(options)}s"
    ).pack
    seq0 = _U32.unpack_from(frame, l4 + 4)[0]
    flags0 = frame[l4 + 13]
    ip_id0 = _U16.unpack_from(frame, l3 + 4)[0]
    ip_constant = fold(int.from_bytes(frame[l3 : l3 + 2], "big") + ones_sum(ip_mid) + ones_sum(ip_tail))
    # TCP sum without sequence number, flags, checksum and the length in the pseudo header.
    tcp_constant = fold(
        ipv4_pseudo_sum(frame, l3, IPPROTO_TCP, 0) + ones_sum(ports) + ones_sum(ack_offset[:4])
        + (ack_offset[4] << 8) + ones_sum(window) + ones_sum(options)
    )
    sums = chunk_sums(payload, mss)
    count = len(sums)
    out: list[tuple[bytes, memoryview]] = []
    middle_flags = flags0 & ~(TCP_FIN | TCP_PSH)
    for index in range(count):
        start = index * mss
        chunk = payload[start : start + mss]
        size = len(chunk)
        seq = (seq0 + start) & 0xFFFFFFFF
        flags = flags0 if index == count - 1 else middle_flags
        if index:
            flags &= ~TCP_CWR
        total = header_len - l3 + size
        ip_id = (ip_id0 + index) & 0xFFFF
        value = ip_constant + total + ip_id
        value = (value & 0xFFFF) + (value >> 16)
        value = (value & 0xFFFF) + (value >> 16)
        value2 = tcp_constant + tcp_header_len + size + (seq >> 16) + (seq & 0xFFFF) + flags + sums[index]
        value2 = (value2 & 0xFFFF) + (value2 >> 16)
        value2 = (value2 & 0xFFFF) + (value2 >> 16)
        out.append((pack(head, total, ip_id, ip_mid, value ^ 0xFFFF, ip_tail, ports, seq, ack_offset, flags,
                         window, value2 ^ 0xFFFF, options), chunk))
    return out


def _chunks(payload: memoryview, size: int) -> list[memoryview]:
    return [payload[offset : offset + size] for offset in range(0, len(payload), size)]


def _ip_sum_without_variable_fields(template: bytearray, layers: Layers) -> int:
    """IPv4 header sum with total length, ID and checksum zeroed (they change per segment)."""
    l3 = layers.l3
    header = bytearray(template[l3 : layers.l4])
    header[2:6] = b"\0\0\0\0"
    header[10:12] = b"\0\0"
    return ones_sum(header)


def _segment_tcp(
    frame: memoryview, layers: Layers, payload: memoryview, mss: int
) -> list[tuple[bytes, memoryview]]:
    l3, l4, header_len = layers.l3, layers.l4, layers.payload
    template = bytearray(frame[:header_len])
    tcp_header_len = header_len - l4
    seq0 = _U32.unpack_from(template, l4 + 4)[0]
    flags0 = template[l4 + 13]
    ip_id0 = _U16.unpack_from(template, l3 + 4)[0]
    # Constant parts of the TCP sum: pseudo header without length, TCP header without seq/flags/checksum.
    tcp = bytearray(template[l4:header_len])
    tcp[4:8] = b"\0\0\0\0"
    tcp[13] = 0
    tcp[16:18] = b"\0\0"
    constant = _pseudo_sum(template, layers, 0) + ones_sum(tcp)
    ip_constant = 0 if layers.ipv6 else _ip_sum_without_variable_fields(template, layers)
    pieces = _chunks(payload, mss)
    last = len(pieces) - 1
    out: list[tuple[bytes, memoryview]] = []
    for index, chunk in enumerate(pieces):
        size = len(chunk)
        seq = (seq0 + index * mss) & 0xFFFFFFFF
        flags = flags0 if index == last else flags0 & ~(TCP_FIN | TCP_PSH)
        if index:
            flags &= ~TCP_CWR
        header = bytearray(template)
        if layers.ipv6:
            _U16.pack_into(header, l3 + 4, tcp_header_len + size)
        else:
            total, ip_id = header_len - l3 + size, (ip_id0 + index) & 0xFFFF
            _TWO_U16.pack_into(header, l3 + 2, total, ip_id)
            _U16.pack_into(header, l3 + 10, checksum_from_sum(ip_constant + total + ip_id))
        _U32.pack_into(header, l4 + 4, seq)
        header[l4 + 13] = flags
        total_sum = constant + tcp_header_len + size + (seq >> 16) + (seq & 0xFFFF) + flags + ones_sum(chunk)
        _U16.pack_into(header, l4 + 16, checksum_from_sum(total_sum))
        out.append((bytes(header), chunk))
    return out


def _segment_udp(
    frame: memoryview, layers: Layers, payload: memoryview, size: int
) -> list[tuple[bytes, memoryview]]:
    l3, l4, header_len = layers.l3, layers.l4, layers.payload
    template = bytearray(frame[:header_len])
    ip_id0 = 0 if layers.ipv6 else _U16.unpack_from(template, l3 + 4)[0]
    udp = bytearray(template[l4:header_len])
    udp[4:8] = b"\0\0\0\0"
    constant = _pseudo_sum(template, layers, 0) + ones_sum(udp)
    ip_constant = 0 if layers.ipv6 else _ip_sum_without_variable_fields(template, layers)
    out: list[tuple[bytes, memoryview]] = []
    for index, chunk in enumerate(_chunks(payload, size)):
        udp_len = 8 + len(chunk)
        header = bytearray(template)
        if layers.ipv6:
            _U16.pack_into(header, l3 + 4, udp_len)
        else:
            total, ip_id = header_len - l3 + len(chunk), (ip_id0 + index) & 0xFFFF
            _TWO_U16.pack_into(header, l3 + 2, total, ip_id)
            _U16.pack_into(header, l3 + 10, checksum_from_sum(ip_constant + total + ip_id))
        # UDP length appears twice in the sum: in the pseudo header and in the UDP header itself.
        value = checksum_from_sum(constant + 2 * udp_len + ones_sum(chunk)) or 0xFFFF
        _TWO_U16.pack_into(header, l4 + 4, udp_len, value)
        out.append((bytes(header), chunk))
    return out


# ---------------------------------------------------------------------------------------------------
# Coalescing received TCP segments of one flow into a super-frame for the TAP (software GRO).


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
    return field == fold(_pseudo_sum(frame, layers, length))


def l4_length(frame: memoryview | bytes | bytearray, layers: Layers) -> int:
    """L4 length from the IP header (Ethernet padding excluded), or -1 if the header lies."""
    l3 = layers.l3
    if layers.ipv6:
        length = (frame[l3 + 4] << 8) | frame[l3 + 5]
    else:
        length = ((frame[l3 + 2] << 8) | frame[l3 + 3]) - (layers.l4 - l3)
    return length if layers.payload - layers.l4 <= length <= len(frame) - layers.l4 else -1


def tcp_segment_ok(frame: memoryview | bytes | bytearray, layers: Layers) -> bool:
    """IPv4 header checksum correct, and the TCP checksum correct or CHECKSUM_PARTIAL (see above)."""
    length = l4_length(frame, layers)
    if length < 0:
        return False
    if not layers.ipv6 and fold(ones_sum(frame[layers.l3 : layers.l4])) != 0xFFFF:
        return False
    if checksum_is_partial(frame, layers, length):
        return True
    pseudo = _pseudo_sum(frame, layers, length)
    return fold(pseudo + ones_sum(frame[layers.l4 : layers.l4 + length])) == 0xFFFF


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


@dataclass
class TcpRun:
    """Consecutive, contiguous segments of one TCP flow waiting to be written as one super-frame."""

    key: bytes
    first: memoryview
    layers: Layers
    mss: int
    next_seq: int
    payloads: list[memoryview]
    size: int
    flags: int
    closed: bool = False  # a short segment or PSH ended it: nothing more may join


def coalescable_key(frame: memoryview, layers: Layers) -> bytes | None:
    """The header bytes that must match for segments to merge (GRO rules), or None if it cannot merge.

    Only IPv4 TCP without fragmentation, with plain ACK(+PSH) flags and a payload merges; the key is
    the whole header with the fields that legitimately change per segment (lengths, ID, checksums,
    sequence number, PSH, window) masked out.
    """
    if layers.ipv6 or layers.protocol != IPPROTO_TCP:
        return None
    l3, l4 = layers.l3, layers.l4
    flags = frame[l4 + 13]
    if flags & ~TCP_PSH != TCP_ACK:
        return None
    if (frame[l3 + 6] & 0x3F) or frame[l3 + 7]:  # MF flag or fragment offset
        return None
    total = (frame[l3 + 2] << 8) | frame[l3 + 3]
    if total != len(frame) - l3 or total <= layers.payload - l3:
        return None  # Ethernet padding or no payload: leave it to the kernel
    key = bytearray(frame[: layers.payload])
    key[l3 + 2 : l3 + 6] = b"\0\0\0\0"
    key[l3 + 10 : l3 + 12] = b"\0\0"
    key[l4 + 4 : l4 + 8] = b"\0\0\0\0"
    key[l4 + 13] = 0
    key[l4 + 14 : l4 + 18] = b"\0\0\0\0"
    return bytes(key)


def start_run(frame: memoryview, layers: Layers, key: bytes) -> TcpRun:
    payload = frame[layers.payload :]
    seq = _U32.unpack_from(frame, layers.l4 + 4)[0]
    flags = frame[layers.l4 + 13]
    return TcpRun(key, frame, layers, len(payload), (seq + len(payload)) & 0xFFFFFFFF, [payload],
                  len(payload), flags, closed=bool(flags & TCP_PSH))


def try_extend(run: TcpRun, frame: memoryview, layers: Layers, key: bytes, limit: int) -> bool:
    """Append `frame` to `run` if it continues the same flow (GRO rules); False leaves both untouched."""
    if run.closed or key != run.key or layers.payload != run.layers.payload:
        return False
    if _U32.unpack_from(frame, layers.l4 + 4)[0] != run.next_seq:
        return False
    payload = frame[layers.payload :]
    size = len(payload)
    if size > run.mss or run.size + size + layers.payload - layers.l3 > limit:
        return False
    run.payloads.append(payload)
    run.size += size
    run.next_seq = (run.next_seq + size) & 0xFFFFFFFF
    flags = frame[layers.l4 + 13]
    run.flags |= flags & TCP_PSH
    run.closed = size < run.mss or bool(flags & TCP_PSH)
    return True


def super_frame(run: TcpRun) -> list[bytes | memoryview]:
    """The buffers for one TAP write: virtio-net header, merged headers, then every payload slice.

    The merged frame is CHECKSUM_PARTIAL (pseudo-header sum in the TCP checksum field) so the kernel
    can segment it again if it forwards it; each segment's own checksum was verified before merging.
    """
    layers = run.layers
    l3, l4, header_len = layers.l3, layers.l4, layers.payload
    header = bytearray(run.first[:header_len])
    total = header_len - l3 + run.size
    _U16.pack_into(header, l3 + 2, total)
    header[l3 + 10 : l3 + 12] = b"\0\0"
    _U16.pack_into(header, l3 + 10, checksum_from_sum(ones_sum(header[l3:l4])))
    header[l4 + 13] = run.flags
    tcp_length = header_len - l4 + run.size
    _U16.pack_into(header, l4 + 16, fold(_pseudo_sum(header, layers, tcp_length)))
    vnet = VNET_HDR.pack(VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, header_len, run.mss, l4, 16, 0)
    return [vnet, bytes(header), *run.payloads]


# ---------------------------------------------------------------------------------------------------
# Coalescing received UDP datagrams of one flow into a USO super-frame for the TAP (software UDP GRO):
# one write hands the local stack up to 64 datagrams, which it cuts apart again on delivery
# (VIRTIO_NET_HDR_GSO_UDP_L4, Linux 4.18+ on TAP writes), as a NIC with UDP GRO would.

UDP_RUN_MAX = 64  # datagrams per super-frame (the kernel's UDP GSO segment limit)
_IPV4_UDP_HEADER = ETH_HEADER_LEN + 20 + 8


@dataclass
class UdpRun:
    """Consecutive equal-sized datagrams of one IPv4 UDP flow waiting to be written as one super-frame."""

    key: bytes
    first: memoryview
    size: int  # payload bytes of every datagram (the last may be shorter)
    checksum: bytes  # the UDP checksum field every datagram must carry when it is partial, else b""
    payloads: list[memoryview]
    closed: bool = False  # a shorter datagram ended it


def udp_run_key(frame: memoryview) -> bytes | None:
    """The header bytes that must match for datagrams to merge, or None if this one cannot merge.

    Only an IPv4 UDP datagram without IP options, not a fragment, without Ethernet padding, with a
    payload, a correct IPv4 header checksum and a UDP checksum merges; the key masks what changes per
    datagram (total length, ID, header checksum, UDP length and checksum).
    """
    length = len(frame)
    if length <= _IPV4_UDP_HEADER or frame[14] != 0x45 or frame[23] != IPPROTO_UDP:
        return None
    if (frame[20] & 0x3F) or frame[21]:  # MF flag or fragment offset
        return None
    if ((frame[16] << 8) | frame[17]) != length - ETH_HEADER_LEN or ((frame[38] << 8) | frame[39]) != length - 34:
        return None
    if int.from_bytes(frame[14:34], "big") % 0xFFFF or not (frame[40] or frame[41]):
        return None  # IPv4 header checksum wrong (its sum must fold to 0xFFFF), or no UDP checksum to keep
    return frame[0:16].tobytes() + frame[20:24].tobytes() + frame[26:38].tobytes()


def start_udp_run(frame: memoryview, key: bytes) -> UdpRun | None:
    """A run from its first datagram, or None if its UDP checksum is neither partial nor correct."""
    udp_length = len(frame) - 34
    pseudo = ipv4_pseudo_sum(frame, ETH_HEADER_LEN, IPPROTO_UDP, udp_length)
    field = (frame[40] << 8) | frame[41]
    if field == fold(pseudo):
        checksum = frame[40:42].tobytes()  # CHECKSUM_PARTIAL: the sender's kernel left it to the NIC
    elif fold(pseudo + ones_sum(frame[34:])) == 0xFFFF:
        checksum = b""
    else:
        return None
    return UdpRun(key, frame, udp_length - 8, checksum, [frame[_IPV4_UDP_HEADER:]])


def try_extend_udp(run: UdpRun, frame: memoryview, key: bytes) -> bool:
    """Append `frame` to `run` if it is the flow's next datagram of the same size (or a shorter last one)
    and its checksum is partial like the run's or correct; False leaves both untouched."""
    if run.closed or key != run.key or len(run.payloads) >= UDP_RUN_MAX:
        return False
    size = len(frame) - _IPV4_UDP_HEADER
    if size > run.size or (size + _IPV4_UDP_HEADER - ETH_HEADER_LEN) * (len(run.payloads) + 1) > 65535:
        return False
    if size == run.size and run.checksum:
        if frame[40:42] != run.checksum:
            return False
    else:  # a full checksum (or a shorter datagram, whose partial value differs): verify it
        pseudo = ipv4_pseudo_sum(frame, ETH_HEADER_LEN, IPPROTO_UDP, size + 8)
        field = (frame[40] << 8) | frame[41]
        if field != fold(pseudo) and fold(pseudo + ones_sum(frame[34:])) != 0xFFFF:
            return False
    run.payloads.append(frame[_IPV4_UDP_HEADER:])
    run.closed = size < run.size
    return True


def udp_super_frame(run: UdpRun) -> list[bytes | memoryview]:
    """The buffers for one TAP write: virtio-net header (GSO_UDP_L4, segment size = payload size),
    the first datagram's headers with lengths and IPv4 checksum for the whole, then every payload. The
    UDP checksum is left partial: the kernel computes each datagram's own when it cuts them apart."""
    total = sum(len(payload) for payload in run.payloads)
    header = bytearray(run.first[:_IPV4_UDP_HEADER])
    _U16.pack_into(header, 16, 28 + total)
    header[24:26] = b"\0\0"
    _U16.pack_into(header, 24, checksum_from_sum(ones_sum(header[14:34])))
    _U16.pack_into(header, 38, 8 + total)
    _U16.pack_into(header, 40, fold(ipv4_pseudo_sum(header, ETH_HEADER_LEN, IPPROTO_UDP, 8 + total)))
    vnet = VNET_HDR.pack(VNET_F_NEEDS_CSUM, VNET_GSO_UDP_L4, _IPV4_UDP_HEADER, run.size, 34, 6, 0)
    return [vnet, bytes(header), *run.payloads]


def tunnel_super_frame_header(frame: memoryview | bytes | bytearray, gso_size: int, max_frame: int) -> bytes | None:
    """The virtio-net header to write a received GSO super-frame to the TAP as one, or None.

    A kernel VTEP sending over veth hands its TSO/USO skb to the peer unsegmented; a UDP socket then
    receives one VXLAN header and a super-frame whose IP length covers the whole buffer, and UDP_GRO
    reports the inner segment size. The wire frames it stands for must each fit `max_frame`, and the
    checksum must be CHECKSUM_PARTIAL as the sender's stack left it. Without a reported size, TCP is
    cut at the largest size that fits; UDP datagram boundaries cannot be guessed, so it is refused.
    """
    try:
        layers = parse_layers(frame)
    except OffloadError:
        return None
    length = l4_length(frame, layers)
    if length < 0 or layers.l4 + length != len(frame):
        return None
    header_len = layers.payload
    if gso_size <= 0:
        if layers.protocol != IPPROTO_TCP:
            return None
        gso_size = max_frame - header_len
    if gso_size <= 0 or header_len + gso_size > max_frame or len(frame) <= header_len:
        return None
    if not checksum_is_partial(frame, layers, length):
        return None
    if layers.protocol == IPPROTO_TCP:
        gso_type = VNET_GSO_TCPV6 if layers.ipv6 else VNET_GSO_TCPV4
    else:
        gso_type = VNET_GSO_UDP_L4
    return VNET_HDR.pack(VNET_F_NEEDS_CSUM, gso_type, header_len, gso_size, layers.l4,
                         l4_checksum_offset(layers.protocol), 0)


def wire_segments(frame_length: int, vnet_header: bytes) -> int:
    """How many wire frames a super-frame with this virtio-net header stands for."""
    _flags, _kind, header_len, gso_size, *_ = VNET_HDR.unpack(vnet_header)
    payload = frame_length - header_len
    return max(1, -(-payload // gso_size))



# ---------------------------------------------------------------------------------------------------
# Vectorised TCP segmentation straight into one UDP GSO buffer (numpy): no Python work per segment.


@dataclass
class GsoBuffer:
    """Wire datagrams (prefix + headers + payload) back to back, datagram i at `i * stride`.

    Every datagram is `stride` bytes long except possibly the last: exactly the layout a UDP GSO
    `sendmsg` with segment size `stride` cuts into datagrams (at most 64 per call).
    """

    data: memoryview
    count: int
    stride: int
    header_len: int  # inner Ethernet + IP + TCP header bytes per wire frame (prefix excluded)

    def group(self, first: int, count: int) -> memoryview:
        """The bytes of datagrams first..first+count-1, for one sendmsg."""
        return self.data[first * self.stride : min((first + count) * self.stride, len(self.data))]


def vectorised_segmentation_available() -> bool:
    return _numpy is not None


def gso_scratch(size: int = 1 << 18) -> ndarray | None:
    """A reusable output buffer for `segment_tcp_gso` (fresh memory would page-fault on every call)."""
    if _numpy is None:
        return None
    scratch = _numpy.empty(size, dtype=_numpy.uint8)
    scratch.fill(0)  # touch every page once
    return scratch


class _Layout:
    """Everything about a GSO buffer that depends only on its shape, kept between super-frames of the
    same shape (an iperf3-like flow sends thousands of them): numpy views into the scratch buffer and
    the per-segment parts of the checksums. Every numpy call costs about a microsecond whatever its
    size, so the per-frame work is a fixed, small number of them on two-row (TCP, IP) arrays.

    Checksums are sums modulo 0xFFFF (RFC 1071) kept in uint32. The TCP sums are "little-endian":
    numpy sums the payload as little-endian 16-bit words, which is the big-endian sum times 256
    modulo 0xFFFF (RFC 1071 section 2(B)), so every other TCP term is multiplied by 256 too and the
    result is stored through a little-endian view, which swaps it back. 2**16 and 2**32 are 1 modulo
    0xFFFF, which makes sequence offsets and IP IDs plain addends (less 1 after a wrap).
    """

    def __init__(self, np: ModuleType, out: object, count: int, mss: int, tail: int, pre: int, layers: Layers,
                 tcp_header_len: int) -> None:
        l3, l4, header_len = layers.l3, layers.l4, layers.payload
        head = pre + header_len
        stride = head + mss
        full = count - (1 if tail else 0)
        ndarray = np.ndarray
        self.count, self.full, self.tail, self.head, self.stride = count, full, tail, head, stride
        self.flags_at = pre + l4 + 13
        self.length_at = pre + (l3 + 4 if layers.ipv6 else l3 + 2)
        self.headers = ndarray(shape=(count, head), dtype=np.uint8, buffer=out, strides=(stride, 1))
        self.payloads = ndarray(shape=(full, mss), dtype=np.uint8, buffer=out, offset=head, strides=(stride, 1))
        # Every segment's payload as 16-bit words, the last one padded with zeros to a whole MSS.
        self.words = ndarray(shape=(count, mss // 2), dtype=np.uint16, buffer=out, offset=head,
                             strides=(stride, 2))

        def field(offset: int, dtype: str) -> object:
            return ndarray(shape=(count,), dtype=dtype, buffer=out, offset=pre + offset, strides=(stride,))

        self.seq = field(l4 + 4, ">u4")
        self.tcp_checksum = field(l4 + 16, "<u2")  # little-endian on purpose, see above
        self.ip_id = None if layers.ipv6 else field(l3 + 4, ">u2")
        self.ip_checksum = None if layers.ipv6 else field(l3 + 10, ">u2")
        index = np.arange(count, dtype=np.int64)
        sizes = np.full(count, mss, dtype=np.int64)
        if tail:
            sizes[-1] = tail
        offsets = index * mss
        self.offsets = offsets.astype(np.uint32)
        self.last_offset = int(offsets[-1])
        self.index16 = index.astype(np.uint16)
        self.seq_values = np.empty(count, dtype=np.uint32)
        self.id_values = np.empty(count, dtype=np.uint16)
        tcp_lengths = tcp_header_len + sizes  # the pseudo header's length, per segment
        ip_lengths = tcp_lengths if layers.ipv6 else header_len - l3 + sizes
        self.full_length, self.last_length = int(ip_lengths[0]), int(ip_lengths[-1])
        # Row 0: TCP (pseudo-header length + sequence offset, times 256); row 1: IPv4 (total length + ID
        # offset). Both are relative to the template, which carries the full segments' length.
        terms = np.zeros((2, count), dtype=np.int64)
        terms[0] = (tcp_lengths + offsets % 0xFFFF) * 256 % 0xFFFF
        terms[1] = ip_lengths + index
        self.terms = terms.astype(np.uint32)
        self.sums = np.zeros((2, count), dtype=np.uint32)
        self.tcp_sums = self.sums[0]
        self.payload_sums = np.zeros(count, dtype=np.uint32)
        self.scalars = np.zeros((2, 1), dtype=np.uint32)


_LAYOUTS: dict[tuple[int, ...], _Layout] = {}
_LAYOUT_CACHE_SIZE = 64


def segment_tcp_gso(frame: memoryview, gso_type: int, mss: int, prefix: bytes,
                    scratch: ndarray | None = None) -> GsoBuffer:
    """Cut a TCP TSO super-frame (IPv4 or IPv6) into wire frames laid out for UDP GSO.

    The same result as `segment()`, byte for byte, but every per-segment field (IP length, ID and header
    checksum, TCP sequence number, flags and checksum) is computed for all segments at once with numpy,
    and headers and payload slices are copied into one contiguous buffer: a fixed number of numpy calls
    per super-frame instead of a Python loop per segment. Raises OffloadError like `segment()`; needs
    numpy and an even `mss` (the payload sums use a 16-bit view), else the caller uses `segment()`. The
    result lives in `scratch` (from `gso_scratch`) when it is large enough: valid until the next call.
    A checksum is `0xFFFE - (v + 0xFFFE) % 0xFFFF`: the complement of the end-around-carry fold of v.
    """
    np = _numpy
    if np is None or mss & 1:
        raise OffloadError("vectorised segmentation needs numpy and an even MSS")
    kind = gso_type & ~VNET_GSO_ECN
    if mss <= 0:
        raise OffloadError("GSO size is zero")
    layers = parse_layers(frame)
    if (kind, layers.protocol) not in ((VNET_GSO_TCPV4, IPPROTO_TCP), (VNET_GSO_TCPV6, IPPROTO_TCP)) or (
        layers.ipv6 != (kind == VNET_GSO_TCPV6)
    ):
        raise OffloadError(f"GSO type {gso_type} does not match the frame's headers")
    l3, l4, header_len = layers.l3, layers.l4, layers.payload
    payload_len = len(frame) - header_len
    if payload_len <= 0:
        raise OffloadError("super-frame without payload")
    count = -(-payload_len // mss)
    tail = payload_len % mss
    pre = len(prefix)
    total_len = count * (pre + header_len) + payload_len
    padded_len = total_len + (mss - tail if tail else 0)  # the zero padding the last segment's sum reads
    if scratch is not None and len(scratch) >= padded_len:
        key = (id(scratch), count, mss, tail, pre, l3, l4, header_len)  # a layout views one scratch buffer
        layout = _LAYOUTS.get(key)
        if layout is None:
            if len(_LAYOUTS) >= _LAYOUT_CACHE_SIZE:
                _LAYOUTS.clear()
            layout = _LAYOUTS[key] = _Layout(np, scratch, count, mss, tail, pre, layers, header_len - l4)
        out = scratch
    else:  # an unusually small MSS: a one-off buffer and layout
        out = np.empty(padded_len, dtype=np.uint8)
        layout = _Layout(np, out, count, mss, tail, pre, layers, header_len - l4)
    full = layout.full
    flags0 = frame[l4 + 13]
    seq0 = _U32.unpack_from(frame, l4 + 4)[0]
    # CWR only on the first segment, FIN/PSH only on the last (what the kernel's GSO does).
    middle_flags = flags0 & ~(TCP_FIN | TCP_PSH | TCP_CWR)
    first_flags = flags0 & ~(TCP_FIN | TCP_PSH) if count > 1 else flags0
    last_flags = flags0 & ~TCP_CWR if count > 1 else flags0
    # Headers: one template (full-size length, middle flags) in every datagram, then what differs.
    template = bytearray(prefix)
    template += frame[:header_len]
    template[layout.flags_at] = middle_flags
    _U16.pack_into(template, layout.length_at, layout.full_length)
    tcp = template[pre + l4 : pre + header_len]
    headers = layout.headers
    headers[:] = np.frombuffer(template, dtype=np.uint8)
    headers[0, layout.flags_at] = first_flags
    headers[count - 1, layout.flags_at] = last_flags
    headers[count - 1, layout.length_at] = layout.last_length >> 8
    headers[count - 1, layout.length_at + 1] = layout.last_length & 0xFF
    layout.seq[:] = np.add(layout.offsets, np.uint32(seq0), out=layout.seq_values)  # type: ignore[index]
    # Payload: copied into place (the last segment's padding zeroed), then summed per segment.
    source = np.frombuffer(frame, dtype=np.uint8, offset=header_len)
    if full:
        layout.payloads[:] = source[: full * mss].reshape(full, mss)
    if tail:
        out[total_len - tail : total_len] = source[full * mss :]
        out[total_len:padded_len] = 0
    sums, scalars = layout.sums, layout.scalars
    np.add.reduce(layout.words, axis=1, dtype=np.uint32, out=layout.payload_sums)
    # TCP: the template's header sum (seq, checksum and pseudo-header length left out) and seq0.
    tcp[4:8] = b"\0\0\0\0"
    tcp[16:18] = b"\0\0"
    scalars[0, 0] = ((_pseudo_sum(frame, layers, 0) + ones_sum(tcp) + seq0) * 256 + 0xFFFE) % 0xFFFF
    if not layers.ipv6:
        ip_id0 = _U16.unpack_from(frame, l3 + 4)[0]
        layout.ip_id[:] = np.add(layout.index16, np.uint16(ip_id0), out=layout.id_values)  # type: ignore[index]
        ip_header = bytearray(frame[l3:l4])
        ip_header[2:6] = b"\0\0\0\0"
        ip_header[10:12] = b"\0\0"
        scalars[1, 0] = (ones_sum(ip_header) + ip_id0 + 0xFFFE) % 0xFFFF
    np.add(layout.terms, scalars, out=sums)
    np.add(layout.tcp_sums, layout.payload_sums, out=layout.tcp_sums)
    if flags0 != middle_flags:
        sums[0, 0] += (first_flags - middle_flags) * 256
        if count > 1:
            sums[0, count - 1] += (last_flags - middle_flags) * 256
    if seq0 + layout.last_offset > 0xFFFFFFFF:  # the sequence number wraps inside this super-frame
        sums[0, -(-(0x100000000 - seq0) // mss) :] += 0xFFFF - 256
    if not layers.ipv6 and ip_id0 + count - 1 > 0xFFFF:  # so does the IP ID
        sums[1, 0x10000 - ip_id0 :] += 0xFFFF - 1
    np.remainder(sums, 0xFFFF, out=sums)
    np.subtract(0xFFFE, sums, out=sums)
    layout.tcp_checksum[:] = sums[0]  # type: ignore[index]
    if not layers.ipv6:
        layout.ip_checksum[:] = sums[1]  # type: ignore[index]
    # `out.data` is memoryview(out); numpy's stubs give arrays the buffer protocol only from Python 3.12.
    return GsoBuffer(out.data[:total_len], count, pre + header_len + mss, header_len)
