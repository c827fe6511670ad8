"""The `packet-ring` local side: a veth pair and an AF_PACKET socket with a TPACKET_V3 receive ring.

Instead of a TAP (one `read()` per frame, since a TAP offers no batch read) pyvtep creates a veth pair:
the visible end carries the VNI's interface name (MTU, bridge, address as for a TAP), the hidden end
(`pr<hash>`) is pyvtep's. An AF_PACKET socket on the hidden end has a TPACKET_V3 ring: the kernel copies
every frame the visible end sends into memory shared with pyvtep, block after block, and pyvtep takes a
whole block (up to thousands of frames) per wake-up without a system call per frame. The per-frame
descriptors of a block are read with numpy where the frames are evenly spaced (equal lengths), so a block
of small frames is parsed, checksummed and encapsulated in a fixed number of vectorised steps.

With `PACKET_VNET_HDR_SZ` (12, as on the TAPs) the ring carries a virtio-net header before each frame
(TCP super-frames of up to 64 KiB arrive whole, with their GSO type and size, and partial checksums as
csum_start/offset), and frames written to the socket take the same header: the engine's TAP write code
works unchanged on this socket. `PACKET_IGNORE_OUTGOING` keeps our own writes out of the ring.

Layouts (linux/if_packet.h): struct tpacket_block_desc (version, offset_to_priv, then tpacket_hdr_v1:
block_status, num_pkts, offset_to_first_pkt, blk_len, seq_num, two timestamps) and struct tpacket3_hdr
(tp_next_offset, tp_sec, tp_nsec, tp_snaplen, tp_len, tp_status, tp_mac, tp_net, hv1, padding).
"""

from __future__ import annotations

import contextlib
import mmap
import socket
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from vxauto.vtep.headers import optional_numpy as np
from vxauto.vtep.links import LinkError

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_VERSION = 10
PACKET_QDISC_BYPASS = 20
PACKET_IGNORE_OUTGOING = 23
PACKET_VNET_HDR_SZ = 24  # Linux 6.2+: a virtio-net header of this size before each frame
TPACKET_V3 = 2
ETH_P_ALL = 0x0003
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
VNET_LEN = 12
# The kernel writes the 10-byte struct virtio_net_hdr right before the frame (the 2 bytes num_buffers of
# the 12 reserved come first), so the flags byte sits 10 bytes before the Ethernet header.
VNET_FLAGS_BEFORE = 10

HIDDEN_MTU = 65535  # ETH_MAX_MTU, a veth's max_mtu
BLOCK_SIZE = 1 << 18  # 256 KiB: room for three 64 KiB super-frames, or about 1,500 small frames
BLOCK_COUNT = 32
BLOCK_TIMEOUT_MS = 1  # a partly filled block is handed over after this long (the latency bound)

_REQ3 = struct.Struct("=7I")  # tpacket_req3
_BLOCK = struct.Struct("=III")  # block_status, num_pkts, offset_to_first_pkt (at offset 8)
# tp_next_offset, tp_snaplen, tp_len, tp_status, tp_mac, hv1.tp_vlan_tci, hv1.tp_vlan_tpid
_PACKET = struct.Struct("=I8xIIIH6xIH")
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
ETH_P_8021Q = 0x8100
_BLOCK_STATUS = 8


def hidden_name(visible: str) -> str:
    """The name of the veth end pyvtep reads (15 characters at most), derived from the visible one."""
    return f"pr{zlib.crc32(visible.encode()) & 0xFFFFFFFF:08x}"


def ring_available() -> str | None:
    """None if this Python and kernel can run the packet-ring datapath, else why not."""
    if np is None:
        return "numpy is not installed"
    if not hasattr(socket, "AF_PACKET"):
        return "no AF_PACKET sockets on this platform"
    return None


@dataclass(slots=True)
class Frames:
    """The frames of one block: where each Ethernet frame starts in the ring, its captured and real length,
    and the 802.1Q tag the kernel took off (index -> 4 bytes: TPID, TCI) of the frames that had one."""

    starts: list[int]
    lengths: list[int]
    wire_lengths: list[int]
    vlans: dict[int, bytes] = field(default_factory=dict)


class PacketRing:
    """The veth pair and the socket with its mapped ring; `blocks()` yields ready blocks' frames."""

    def __init__(self, visible: str) -> None:
        reason = ring_available()
        if reason is not None:
            raise LinkError(f"packet-ring datapath for {visible!r}: {reason}")
        assert np is not None
        self.visible, self.hidden = visible, hidden_name(visible)
        self.created = _create_veth(visible, self.hidden)
        try:
            self.sock = _open_socket(self.hidden)
        except OSError as exc:
            self.delete()
            raise LinkError(f"packet socket on {self.hidden!r}: {exc}") from None
        self.fd = self.sock.fileno()
        self.ring = mmap.mmap(self.fd, BLOCK_SIZE * BLOCK_COUNT, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.view = memoryview(self.ring)
        self.array = np.frombuffer(self.ring, dtype=np.uint8)
        self.next_block = 0

    def close(self) -> None:
        if self.fd < 0:
            return
        del self.array  # numpy's view of the ring must go before the mapping can close
        self.view.release()
        self.ring.close()
        self.sock.close()
        self.fd = -1
        self.delete()

    def delete(self) -> None:
        """Remove the veth pair (both ends go together)."""
        with IPRoute() as ipr, contextlib.suppress(NetlinkError):
            found = ipr.link_lookup(ifname=self.hidden)
            if found:
                ipr.link("del", index=found[0])

    def ready(self) -> int | None:
        """The offset of the next block the kernel handed over, or None."""
        offset = self.next_block * BLOCK_SIZE
        if not self.view[offset + _BLOCK_STATUS] & TP_STATUS_USER:
            return None
        return offset

    def frames(self, offset: int) -> Frames:
        """The frames of the block at `offset`: evenly spaced ones (equal lengths) read by numpy, others walked."""
        assert np is not None
        _status, count, first = _BLOCK.unpack_from(self.view, offset + _BLOCK_STATUS)
        start = offset + first
        next_offset, snaplen = _PACKET.unpack_from(self.view, start)[:2]
        if count > 8 and next_offset:
            # Equal frames sit next_offset apart: check every descriptor at once, fall back when any differs
            # or carries a VLAN tag the kernel took off (the walk below puts it back).
            positions = start + next_offset * np.arange(count)
            if positions[-1] + 32 <= offset + BLOCK_SIZE:
                words = self.array[(positions[:, None] + np.arange(28)).ravel()].view("<u4").reshape(count, 7)
                if ((words[:-1, 0] == next_offset).all() and (words[:, 3] == snaplen).all()
                        and not (words[:, 5] & TP_STATUS_VLAN_VALID).any()):
                    macs = words[:, 6] & 0xFFFF
                    return Frames((positions + macs).tolist(), [snaplen] * count, words[:, 4].tolist())
        starts, lengths, wire = [], [], []
        vlans: dict[int, bytes] = {}
        for index in range(count):
            next_offset, snaplen, length, status, mac, tci, tpid = _PACKET.unpack_from(self.view, start)
            starts.append(start + mac)
            lengths.append(snaplen)
            wire.append(length)
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else ETH_P_8021Q
                vlans[index] = struct.pack("!HH", tpid, tci & 0xFFFF)
            start += next_offset
        return Frames(starts, lengths, wire, vlans)

    def release(self, offset: int) -> None:
        """Hand the block back to the kernel and move on to the next one."""
        struct.pack_into("=I", self.view, offset + _BLOCK_STATUS, TP_STATUS_KERNEL)
        self.next_block = (self.next_block + 1) % BLOCK_COUNT


def _create_veth(visible: str, hidden: str) -> bool:
    """Create the veth pair (or keep one left by an earlier run of the same name); True if created.

    The hidden end gets the largest MTU a veth takes: like a TAP's reader, pyvtep sees whatever the visible
    end sends (its own MTU rules there) and judges sizes itself (`tx_drop_oversized`).
    """
    with IPRoute() as ipr:
        if ipr.link_lookup(ifname=visible):
            if not ipr.link_lookup(ifname=hidden):
                raise LinkError(f"interface {visible!r} exists and is not a packet-ring veth of pyvtep")
            created = False
        else:
            try:
                ipr.link("add", ifname=visible, kind="veth", peer={"ifname": hidden})
            except NetlinkError as exc:
                raise LinkError(f"creating veth {visible!r}/{hidden!r}: {exc}") from None
            created = True
        with contextlib.suppress(FileNotFoundError, OSError):
            Path("/proc/sys/net/ipv6/conf", hidden, "disable_ipv6").write_text("1")  # no chatter of its own
        try:
            index = ipr.link_lookup(ifname=hidden)[0]
            ipr.link("set", index=index, mtu=HIDDEN_MTU)
            ipr.link("set", index=index, state="up")
        except NetlinkError as exc:
            raise LinkError(f"configuring {hidden!r}: {exc}") from None
    return created


def _open_socket(interface: str) -> socket.socket:
    # Protocol 0 receives nothing until bind(), so no other interface's frames reach the ring meanwhile.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR_SZ, VNET_LEN)
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING,
                        _REQ3.pack(BLOCK_SIZE, BLOCK_COUNT, 2048, BLOCK_SIZE * BLOCK_COUNT // 2048,
                                   BLOCK_TIMEOUT_MS, 0, 0))
        sock.bind((interface, ETH_P_ALL))  # Python's bind takes host order
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
