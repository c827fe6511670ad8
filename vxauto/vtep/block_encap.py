"""Encapsulate a block of frames from the packet ring with numpy: no Python work per frame.

The frames of one ring block that are plain IPv4 wire frames of equal length (the case that counts for
packet rates: a stream of small datagrams) are gathered into one array, row per frame. In a fixed number
of vectorised steps their partial checksums are completed (the local stack leaves TCP/UDP checksums to
the "device", here us), the VXLAN header is put in front of each row, and the rows of each flow leave as
one UDP GSO `sendmsg` per 64 frames and remote VTEP: the kernel cuts the buffer into equal datagrams.

The forwarding decision is `Datapath.route` on the flow's first frame, as in the TAP path's per-drain
flow cache: within one block the MAC table cannot change (learning from the underlay and EVPN run in
other handlers) and the clock does not move. Every other frame (ARP, IPv6, super-frames, frames with IP
options, odd lengths in a block) is returned to the caller for the per-frame path, where ARP/ND
suppression, segmentation and all the checks live.
"""

from __future__ import annotations

import socket
import zlib
from typing import TYPE_CHECKING

from vxauto.vtep import kernel
from vxauto.vtep.datapath import Datapath, Segment
from vxauto.vtep.headers import optional_numpy as np
from vxauto.vtep.packet import VXLAN_HEADER_LEN, flow_key
from vxauto.vtep.packet_ring import VNET_FLAGS_BEFORE, Frames

if TYPE_CHECKING:
    from numpy import ndarray

GSO_MAX_SEGMENTS = 64
UDP_MAX_PAYLOAD = 65507
_MIN_GROUP = 4  # fewer equal frames go the per-frame way: not worth the fixed numpy cost
_IPV4_L4 = 34  # Ethernet + IPv4 without options: where TCP/UDP start (csum_start)
_KEY_COLUMNS = (*range(0, 14), *range(26, 38))  # MACs and EtherType, IP addresses, ports: one flow
_H = VNET_FLAGS_BEFORE  # row layout: [10-byte virtio-net header][frame]


class BlockEncapsulator:
    """Per-engine state for the vectorised path: the send sockets, the column indices, GSO controls."""

    def __init__(self, datapath: Datapath, tx_socks: list[socket.socket], port: int, gso: bool) -> None:
        assert np is not None
        self.datapath, self.tx_socks, self.port, self.gso = datapath, tx_socks, port, gso
        self.key_columns = np.array(_KEY_COLUMNS) + _H
        self.controls: dict[int, list[tuple[int, int, bytes]]] = {}
        self.sockaddrs: dict[str, tuple[str, int]] = {}

    def block(self, seg: Segment, ring: ndarray, frames: Frames) -> list[int]:
        """Send what can go vectorised; return the indices (in `frames`) left to the per-frame path."""
        assert np is not None
        lengths, vlans = frames.lengths, frames.vlans
        max_frame = self.datapath.max_encap_frame
        first = lengths[0] if lengths else 0
        slow: list[int] = list(vlans)  # tagged: the tag goes back on in the per-frame path
        if len(lengths) >= _MIN_GROUP and not vlans and all(length == first for length in lengths):
            groups = {first: list(range(len(lengths)))}
        else:
            groups = {}
            for index, length in enumerate(lengths):
                if index not in vlans:
                    groups.setdefault(length, []).append(index)
        for length, indices in groups.items():
            if len(indices) < _MIN_GROUP or not 42 <= length <= max_frame:
                slow += indices
                continue
            slow += self._group(seg, ring, frames, indices, length)
        return slow

    def _group(self, seg: Segment, ring: ndarray, frames: Frames, indices: list[int], length: int) -> list[int]:
        """Frames of one length: check, checksum, group by flow, send. Returns the ones it did not take."""
        assert np is not None
        starts = np.array([frames.starts[i] for i in indices]) if len(indices) != len(frames.starts) \
            else np.array(frames.starts)
        rows = ring[starts[:, None] + np.arange(-_H, length)]
        wire = np.array([frames.wire_lengths[i] for i in indices])
        flags, csum_start = rows[:, 0], rows[:, 6].astype(np.uint16) | (rows[:, 7].astype(np.uint16) << 8)
        csum_offset = rows[:, 8].astype(np.uint16) | (rows[:, 9].astype(np.uint16) << 8)
        ip_length = (rows[:, _H + 16].astype(np.int64) << 8) | rows[:, _H + 17]
        partial = (flags & 1).astype(bool)
        # Plain IPv4 without options filling the frame exactly, not a super-frame; a partial checksum only
        # where TCP or UDP keep it (so the vectorised completion below stays inside the row).
        ok = ((rows[:, 1] == 0) & (wire == length) & (rows[:, _H + 12] == 8) & (rows[:, _H + 13] == 0)
              & (rows[:, _H + 14] == 0x45) & (ip_length == length - 14)
              & (~partial | ((csum_start == _IPV4_L4) & (((csum_offset == 6) & (length >= _IPV4_L4 + 8))
                                                         | ((csum_offset == 16) & (length >= _IPV4_L4 + 20))))))
        slow = [indices[i] for i in np.flatnonzero(~ok).tolist()]
        if not ok.all():
            keep = np.flatnonzero(ok)
            rows, partial = rows[keep], partial[keep]
            indices = [indices[i] for i in keep.tolist()]
        if len(indices) == 0:
            return slow
        if partial.any():
            _complete_checksums(rows, partial, length)
        keys = np.ascontiguousarray(rows[:, self.key_columns])
        if (keys == keys[0]).all():
            flows = {b"": np.arange(len(indices))}
        else:
            grouped: dict[bytes, list[int]] = {}
            for i, key in enumerate(keys):
                grouped.setdefault(key.tobytes(), []).append(i)
            flows = {key: np.array(members) for key, members in grouped.items()}
        for members in flows.values():
            self._flow(seg, rows[members] if len(members) != len(rows) else rows, length)
        return slow

    def _flow(self, seg: Segment, rows: ndarray, length: int) -> None:
        """One flow's frames (rows): one forwarding decision, then UDP GSO sends per remote VTEP."""
        assert np is not None
        count = len(rows)
        counters = seg.counters
        frame = memoryview(rows[0, _H:].tobytes())
        floods = counters.tx_flood_packets
        targets = self.datapath.route(seg, frame)  # counts, learns, drops (and counts) this one frame
        if not targets:
            for row in rows[1:]:  # the same verdict for the others, each counted as route counts it
                self.datapath.route(seg, memoryview(row[_H:].tobytes()))
            return
        counters.tap_frames += count - 1
        counters.tx_flood_packets += (counters.tx_flood_packets - floods) * (count - 1)
        out = np.empty((count, VXLAN_HEADER_LEN + length), dtype=np.uint8)
        out[:, :VXLAN_HEADER_LEN] = np.frombuffer(seg.header, dtype=np.uint8)
        out[:, VXLAN_HEADER_LEN:] = rows[:, _H:]
        sock = self.tx_socks[zlib.crc32(flow_key(frame)) % len(self.tx_socks)]
        stride = VXLAN_HEADER_LEN + length
        per_call = max(1, min(GSO_MAX_SEGMENTS, UDP_MAX_PAYLOAD // stride)) if self.gso else 1
        control = self.controls.get(stride)
        if control is None:
            control = self.controls[stride] = kernel.gso_control(stride)
        for remote in targets:
            destination = self.sockaddrs.get(remote) or self.sockaddrs.setdefault(remote, (remote, self.port))
            sent = 0
            for first in range(0, count, per_call):
                group = min(per_call, count - first)
                try:
                    sock.sendmsg((out[first : first + group],), control if group > 1 else (), 0, destination)
                    sent += group
                except OSError:
                    pass
            counters.tx_packets += sent
            counters.tx_bytes += sent * length
            counters.tx_drop_send_error += count - sent


def _complete_checksums(rows: ndarray, partial: ndarray, length: int) -> None:
    """Finish the TCP/UDP checksums of the rows marked partial, in place (IPv4 without options).

    The checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL), so the one's complement sum of
    the whole L4 segment, complemented, is the checksum; a UDP zero is sent as all ones.
    """
    assert np is not None
    which = np.flatnonzero(partial)
    body = rows[which, _H + _IPV4_L4 : _H + length]
    if body.shape[1] & 1:
        body = np.concatenate((body, np.zeros((len(which), 1), dtype=np.uint8)), axis=1)
    total = np.ascontiguousarray(body).view(">u2").sum(axis=1, dtype=np.uint64)
    for _ in range(3):
        total = (total & 0xFFFF) + (total >> 16)
    checksum = (~total) & 0xFFFF
    offsets = rows[which, 8].astype(np.int64) | (rows[which, 9].astype(np.int64) << 8)
    checksum[(checksum == 0) & (offsets == 6)] = 0xFFFF
    where = _H + _IPV4_L4 + offsets
    rows[which, where] = (checksum >> 8).astype(np.uint8)
    rows[which, where + 1] = (checksum & 0xFF).astype(np.uint8)
