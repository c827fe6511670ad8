"""The packet-ring datapath's vectorised encapsulation, on a hand-built ring block and real loopback sockets.

A block of equal IPv4/UDP frames with partial checksums (as the local stack leaves them for the "device")
must leave as VXLAN datagrams whose inner checksums are complete; everything else (ARP, a frame of
another length, a super-frame) is handed back for the per-frame path, which owns ARP/ND suppression.
"""

from __future__ import annotations

import socket
import struct

import pytest
from vtep_lab import sums_to_ffff

from vxauto.vtep.config import config_from_text
from vxauto.vtep.datapath import Datapath
from vxauto.vtep.fdb import Kind
from vxauto.vtep.packet_ring import (
    BLOCK_SIZE,
    TP_STATUS_USER,
    TP_STATUS_VLAN_VALID,
    VNET_FLAGS_BEFORE,
    Frames,
    PacketRing,
)

np = pytest.importorskip("numpy")
from vxauto.vtep.block_encap import BlockEncapsulator  # noqa: E402  (needs numpy)

LOCAL_MAC, REMOTE_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
STRIDE = 256  # distance between frames in the fake block


def _sum(data: bytes) -> int:
    padded = data + b"\0" * (len(data) & 1)
    total = sum(int.from_bytes(padded[i : i + 2], "big") for i in range(0, len(padded), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def udp_frame(payload: bytes, source_port: int = 5001) -> bytes:
    """Ethernet/IPv4/UDP with the UDP checksum field holding the pseudo-header sum (CHECKSUM_PARTIAL)."""
    src, dst = bytes([192, 168, 9, 1]), bytes([192, 168, 9, 2])
    udp_length = 8 + len(payload)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_length, 1, 0x4000, 64, 17, 0, src, dst))
    ip[10:12] = (0xFFFF - _sum(bytes(ip))).to_bytes(2, "big")
    pseudo = _sum(src + dst + bytes([0, 17]) + udp_length.to_bytes(2, "big"))
    udp = struct.pack("!HHHH", source_port, 9, udp_length, pseudo) + payload
    return REMOTE_MAC + LOCAL_MAC + b"\x08\x00" + bytes(ip) + udp


def vnet(partial: bool, gso_type: int = 0) -> bytes:
    """The 10-byte virtio-net header the kernel puts before each frame in the ring."""
    return struct.pack("<BBHHHH", 1 if partial else 0, gso_type, 0, 0, 34 if partial else 0, 6 if partial else 0)


@pytest.fixture
def underlay() -> tuple[socket.socket, socket.socket]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.2", 0))
    receiver.settimeout(2)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    yield sender, receiver
    sender.close()
    receiver.close()


def test_a_block_of_equal_frames_leaves_checksummed_and_the_rest_goes_per_frame(
        underlay: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = underlay
    port = receiver.getsockname()[1]
    datapath = Datapath(config_from_text(f"local_ip: 127.0.0.1\nport: {port}\nvnis:\n"
                                         "  - {vni: 4242, flood: [127.0.0.2]}\n"))
    segment = datapath.segments[4242]
    frames = [(vnet(True), udp_frame(bytes([i]) * 64)) for i in range(10)]
    arp = (vnet(False), b"\xff" * 6 + LOCAL_MAC + b"\x08\x06" + bytes(46))
    other_length = (vnet(True), udp_frame(bytes(80)))
    super_frame = (vnet(False, gso_type=1), udp_frame(bytes([7]) * 64))  # a GSO type: never vectorised
    block = [*frames[:4], arp, *frames[4:], other_length, super_frame]
    ring = np.zeros(STRIDE * (len(block) + 1), dtype=np.uint8)
    starts = []
    for index, (header, frame) in enumerate(block):
        start = (index + 1) * STRIDE
        ring[start - VNET_FLAGS_BEFORE : start] = np.frombuffer(header, dtype=np.uint8)
        ring[start : start + len(frame)] = np.frombuffer(frame, dtype=np.uint8)
        starts.append(start)
    lengths = [len(frame) for _, frame in block]
    slow = BlockEncapsulator(datapath, [sender], port, gso=True).block(segment, ring, Frames(starts, lengths, lengths))
    assert sorted(slow) == [4, 11, 12]  # ARP, the odd length, the super-frame
    received = [receiver.recv(2048) for _ in range(10)]
    assert all(datagram[:8] == segment.header for datagram in received)
    inner = [datagram[8:] for datagram in received]
    assert {frame[42:] for frame in inner} == {bytes([i]) * 64 for i in range(10)}  # order kept per flow too
    assert [frame[42] for frame in inner] == list(range(10))
    for frame in inner:
        assert sums_to_ffff(frame[14:34]), "IPv4 header checksum"
        pseudo = frame[26:34] + bytes([0, 17]) + frame[38:40]
        assert sums_to_ffff(pseudo + frame[34:]), "UDP checksum completed"
    counters = segment.counters
    assert counters.tap_frames == counters.tx_packets == counters.tx_flood_packets == 10
    assert segment.table.entries[LOCAL_MAC].kind == Kind.LOCAL  # learned from the flow's first frame


def test_a_flow_to_a_local_mac_is_dropped_frame_by_frame(underlay: tuple[socket.socket, socket.socket]) -> None:
    """Positive control for the counting above: a drop verdict counts every frame of the flow."""
    sender, receiver = underlay
    port = receiver.getsockname()[1]
    datapath = Datapath(config_from_text(f"local_ip: 127.0.0.1\nport: {port}\nvnis:\n"
                                         "  - {vni: 4242, flood: [127.0.0.2]}\n"))
    segment = datapath.segments[4242]
    segment.table.learn_local(REMOTE_MAC, datapath.now)  # the destination lives on the local side
    frame = udp_frame(bytes(64))
    ring = np.zeros(STRIDE * 9, dtype=np.uint8)
    starts = []
    for index in range(8):
        start = (index + 1) * STRIDE
        ring[start - VNET_FLAGS_BEFORE : start] = np.frombuffer(vnet(True), dtype=np.uint8)
        ring[start : start + len(frame)] = np.frombuffer(frame, dtype=np.uint8)
        starts.append(start)
    lengths = [len(frame)] * 8
    assert BlockEncapsulator(datapath, [sender], port, gso=True).block(segment, ring,
                                                                      Frames(starts, lengths, lengths)) == []
    assert segment.counters.tx_drop_local_destination == segment.counters.tap_frames == 8
    assert segment.counters.tx_packets == 0


def _ring_with_block(frames: list[bytes], vlan_index: int | None = None) -> PacketRing:
    """A PacketRing over plain memory holding one ready block laid out as the kernel lays out TPACKET_V3."""
    memory = bytearray(BLOCK_SIZE)
    first, stride, mac = 48, 256, 80  # descriptors 256 bytes apart; the frame 80 bytes into each
    struct.pack_into("=III", memory, 8, TP_STATUS_USER, len(frames), first)
    for index, frame in enumerate(frames):
        at = first + index * stride
        status = TP_STATUS_VLAN_VALID if index == vlan_index else 0
        next_offset = stride if index < len(frames) - 1 else 0
        struct.pack_into("=IIIIIIHHII", memory, at, next_offset, 0, 0, len(frame), len(frame), status, mac, mac + 14,
                         0, 0x2007 if index == vlan_index else 0)
        memory[at + mac : at + mac + len(frame)] = frame
    ring = object.__new__(PacketRing)
    ring.view, ring.array, ring.next_block = memoryview(memory), np.frombuffer(memory, dtype=np.uint8), 0
    return ring


@pytest.mark.parametrize("vlan_index", [None, 3])
def test_block_descriptors_are_read_vectorised_or_walked_alike(vlan_index: int | None) -> None:
    """Equal frames are read by numpy; a tag the kernel took off sends the block the walking way, which keeps
    the tag (TPID 0x8100, TCI 0x2007) for the per-frame path to put back."""
    frames = [udp_frame(bytes([i]) * 64) for i in range(12)]
    ring = _ring_with_block(frames, vlan_index)
    offset = ring.ready()
    assert offset == 0
    parsed = ring.frames(offset)
    assert [bytes(ring.view[start : start + length]) for start, length in zip(parsed.starts, parsed.lengths,
                                                                               strict=True)] == frames
    assert parsed.wire_lengths == [len(frame) for frame in frames]
    assert parsed.vlans == ({} if vlan_index is None else {3: bytes.fromhex("81002007")})
