"""Vectorised TCP segmentation (numpy) straight into one UDP GSO buffer: no Python work per segment.

The engine's fastest software path for TCP super-frames when the kernel cannot cut them (`tunnel`):
all segments' headers and checksums are computed at once and laid out back to back, exactly as one
UDP GSO `sendmsg` cuts them into datagrams.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from vxauto.vtep.headers import (
    TCP_CWR,
    TCP_FIN,
    TCP_PSH,
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
)
from vxauto.vtep.packet import (
    IPPROTO_TCP,
    ones_sum,
)

if TYPE_CHECKING:  # numpy stays optional at run time; annotations only name its array type
    from numpy import ndarray



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
    return optional_numpy is not None


def gso_scratch(size: int = 1 << 18) -> ndarray | None:
    """A reusable output buffer for `segment_tcp_gso` (fresh memory would page-fault on every call)."""
    if optional_numpy is None:
        return None
    scratch = optional_numpy.empty(size, dtype=optional_numpy.uint8)
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
    np = optional_numpy
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
    seq0 = U32.unpack_from(frame, l4 + 4)[0]
    # CWR only on the first segment, FIN/PSH only on the last (what the kernel's GSO does).
    middle_flags = flags0 & ~(TCP_FIN | TCP_PSH | TCP_CWR)
    first_flags = flags0 & ~(TCP_FIN | TCP_PSH) if count > 1 else flags0
    last_flags = flags0 & ~TCP_CWR if count > 1 else flags0
    # Headers: one template (full-size length, middle flags) in every datagram, then what differs.
    template = bytearray(prefix)
    template += frame[:header_len]
    template[layout.flags_at] = middle_flags
    U16.pack_into(template, layout.length_at, layout.full_length)
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
    scalars[0, 0] = ((pseudo_sum(frame, layers, 0) + ones_sum(tcp) + seq0) * 256 + 0xFFFE) % 0xFFFF
    if not layers.ipv6:
        ip_id0 = U16.unpack_from(frame, l3 + 4)[0]
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
