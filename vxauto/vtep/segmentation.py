"""Software TSO/USO: cut a super-frame read from a TAP into wire frames, in Python.

With `TUNSETOFFLOAD` the kernel hands the TAP reader TCP (and UDP) super-frames of up to 64 KiB behind a
virtio-net header. `segment` cuts one into MSS-sized frames with their own, correct IP and L4 headers
and checksums: they cross the underlay as ordinary VXLAN packets a kernel VTEP must accept. The numpy
variant that writes straight into a UDP GSO buffer is `vectorised_gso`; the kernel itself can do it
too (`tunnel`).
"""

from __future__ import annotations

import struct

from vxauto.vtep.headers import (
    TCP_CWR,
    TCP_FIN,
    TCP_PSH,
    TWO_U16,
    U16,
    U32,
    Layers,
    OffloadError,
    optional_numpy,
    parse_layers,
    pseudo_sum,
)
from vxauto.vtep.kernel import (
    VNET_GSO_ECN,
    VNET_GSO_TCPV4,
    VNET_GSO_TCPV6,
    VNET_GSO_UDP_L4,
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
    np = optional_numpy
    if np is not None and not size & 1 and full >= 4:
        words = np.frombuffer(payload, dtype=np.uint16, count=full * size // 2).reshape(full, size // 2)
        sums = [((v & 0xFF) << 8) | (v >> 8) for v in (words.sum(axis=1, dtype=np.uint64) % 0xFFFF).tolist()]
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
    seq0 = U32.unpack_from(frame, l4 + 4)[0]
    flags0 = frame[l4 + 13]
    ip_id0 = U16.unpack_from(frame, l3 + 4)[0]
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
    seq0 = U32.unpack_from(template, l4 + 4)[0]
    flags0 = template[l4 + 13]
    ip_id0 = U16.unpack_from(template, l3 + 4)[0]
    # Constant parts of the TCP sum: pseudo header without length, TCP header without seq/flags/checksum.
    tcp = bytearray(template[l4:header_len])
    tcp[4:8] = b"\0\0\0\0"
    tcp[13] = 0
    tcp[16:18] = b"\0\0"
    constant = pseudo_sum(template, layers, 0) + ones_sum(tcp)
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
            U16.pack_into(header, l3 + 4, tcp_header_len + size)
        else:
            total, ip_id = header_len - l3 + size, (ip_id0 + index) & 0xFFFF
            TWO_U16.pack_into(header, l3 + 2, total, ip_id)
            U16.pack_into(header, l3 + 10, checksum_from_sum(ip_constant + total + ip_id))
        U32.pack_into(header, l4 + 4, seq)
        header[l4 + 13] = flags
        total_sum = constant + tcp_header_len + size + (seq >> 16) + (seq & 0xFFFF) + flags + ones_sum(chunk)
        U16.pack_into(header, l4 + 16, checksum_from_sum(total_sum))
        out.append((bytes(header), chunk))
    return out


def _segment_udp(
    frame: memoryview, layers: Layers, payload: memoryview, size: int
) -> list[tuple[bytes, memoryview]]:
    l3, l4, header_len = layers.l3, layers.l4, layers.payload
    template = bytearray(frame[:header_len])
    ip_id0 = 0 if layers.ipv6 else U16.unpack_from(template, l3 + 4)[0]
    udp = bytearray(template[l4:header_len])
    udp[4:8] = b"\0\0\0\0"
    constant = pseudo_sum(template, layers, 0) + ones_sum(udp)
    ip_constant = 0 if layers.ipv6 else _ip_sum_without_variable_fields(template, layers)
    out: list[tuple[bytes, memoryview]] = []
    for index, chunk in enumerate(_chunks(payload, size)):
        udp_len = 8 + len(chunk)
        header = bytearray(template)
        if layers.ipv6:
            U16.pack_into(header, l3 + 4, udp_len)
        else:
            total, ip_id = header_len - l3 + len(chunk), (ip_id0 + index) & 0xFFFF
            TWO_U16.pack_into(header, l3 + 2, total, ip_id)
            U16.pack_into(header, l3 + 10, checksum_from_sum(ip_constant + total + ip_id))
        # UDP length appears twice in the sum: in the pseudo header and in the UDP header itself.
        value = checksum_from_sum(constant + 2 * udp_len + ones_sum(chunk)) or 0xFFFF
        TWO_U16.pack_into(header, l4 + 4, udp_len, value)
        out.append((bytes(header), chunk))
    return out
