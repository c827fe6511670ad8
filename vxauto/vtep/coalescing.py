"""Software GRO: merge received segments of one flow into a super-frame for one TAP write.

Coalescing does for a received batch what a NIC with GRO does: the local stack gets one write instead
of forty. TCP segments merge by the kernel's GRO rules (`TcpRun`), equal-sized UDP datagrams into a
USO super-frame (`UdpRun`); a super-frame a kernel VTEP handed over whole is passed on as one
(`tunnel_super_frame_header`).
"""

from __future__ import annotations

from dataclasses import dataclass

from vxauto.vtep.headers import (
    TCP_ACK,
    TCP_PSH,
    U16,
    U32,
    Layers,
    OffloadError,
    checksum_is_partial,
    l4_checksum_offset,
    l4_length,
    parse_layers,
    pseudo_sum,
)
from vxauto.vtep.kernel import (
    VNET_F_NEEDS_CSUM,
    VNET_GSO_TCPV4,
    VNET_GSO_TCPV6,
    VNET_GSO_UDP_L4,
    VNET_HDR,
)
from vxauto.vtep.packet import (
    ETH_HEADER_LEN,
    IPPROTO_TCP,
    IPPROTO_UDP,
    checksum_from_sum,
    fold,
    ipv4_pseudo_sum,
    ones_sum,
)


def tcp_segment_ok(frame: memoryview | bytes | bytearray, layers: Layers) -> bool:
    """IPv4 header checksum correct, and the TCP checksum correct or CHECKSUM_PARTIAL (see above)."""
    length = l4_length(frame, layers)
    if length < 0:
        return False
    if not layers.ipv6 and fold(ones_sum(frame[layers.l3 : layers.l4])) != 0xFFFF:
        return False
    if checksum_is_partial(frame, layers, length):
        return True
    pseudo = pseudo_sum(frame, layers, length)
    return fold(pseudo + ones_sum(frame[layers.l4 : layers.l4 + length])) == 0xFFFF


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
    seq = U32.unpack_from(frame, layers.l4 + 4)[0]
    flags = frame[layers.l4 + 13]
    return TcpRun(key, frame, layers, len(payload), (seq + len(payload)) & 0xFFFFFFFF, [payload],
                  len(payload), flags, closed=bool(flags & TCP_PSH))


def try_extend(run: TcpRun, frame: memoryview, layers: Layers, key: bytes, limit: int) -> bool:
    """Append `frame` to `run` if it continues the same flow (GRO rules); False leaves both untouched."""
    if run.closed or key != run.key or layers.payload != run.layers.payload:
        return False
    if U32.unpack_from(frame, layers.l4 + 4)[0] != run.next_seq:
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
    U16.pack_into(header, l3 + 2, total)
    header[l3 + 10 : l3 + 12] = b"\0\0"
    U16.pack_into(header, l3 + 10, checksum_from_sum(ones_sum(header[l3:l4])))
    header[l4 + 13] = run.flags
    tcp_length = header_len - l4 + run.size
    U16.pack_into(header, l4 + 16, fold(pseudo_sum(header, layers, tcp_length)))
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
    U16.pack_into(header, 16, 28 + total)
    header[24:26] = b"\0\0"
    U16.pack_into(header, 24, checksum_from_sum(ones_sum(header[14:34])))
    U16.pack_into(header, 38, 8 + total)
    U16.pack_into(header, 40, fold(ipv4_pseudo_sum(header, ETH_HEADER_LEN, IPPROTO_UDP, 8 + total)))
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
