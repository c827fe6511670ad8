"""Fuzz: thousands of random and mutated packets through pyvtep's real packet paths; nothing may crash.

The engine runs its own receive/send code (recvmmsg with UDP GRO, accept, coalescing, TAP reads,
segmentation, sendmmsg and UDP GSO) on loopback sockets; SOCK_SEQPACKET socket pairs stand in for the
TAPs (same read/write-one-frame semantics), so no root is needed. Every datagram must be accounted
for by exactly one counter.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import struct
from collections.abc import Iterator

import pytest

from vxauto.errors import VxautoError
from vxauto.vtep import coalescing, headers, packet, segmentation
from vxauto.vtep.config import config_from_text
from vxauto.vtep.datapath import Datapath
from vxauto.vtep.engine import Engine
from vxauto.vtep.kernel import SOL_UDP, UDP_SEGMENT, VNET_HDR, VNET_HDR_LEN
from vxauto.vtep.packet import vxlan_header

VNIS = (100, 200)
PEER = "127.0.0.2"  # the "remote VTEP": a plain socket that receives what pyvtep sends


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def rig() -> Iterator[tuple[Engine, dict[int, socket.socket], socket.socket]]:
    engine = None
    for _attempt in range(10):
        port, base = _free_port(), random.randint(20000, 30000)
        config = config_from_text(
            f"local_ip: 127.0.0.1\nport: {port}\nsource_ports: {base}-{base + 3}\nvnis:\n"
            f"  - {{vni: 100, flood: [{PEER}]}}\n  - {{vni: 200, flood: [{PEER}], inner_vlan: carry}}\n"
        )
        engine = Engine(config)
        try:
            engine._open_underlay()
            break
        except VxautoError:
            engine.close()
            engine = None
    assert engine is not None
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind((PEER, engine.config.port))
    peer.setblocking(False)
    taps: dict[int, socket.socket] = {}
    for vni, segment in engine.datapath.segments.items():
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        theirs.setblocking(False)
        segment.tap_fd = os.dup(ours.fileno())
        ours.close()
        taps[vni] = theirs
    try:
        yield engine, taps, peer
    finally:
        for segment in engine.datapath.segments.values():
            with contextlib.suppress(OSError):
                os.close(segment.tap_fd)
            segment.tap_fd = -1
        for sock in taps.values():
            sock.close()
        peer.close()
        engine.close()


def _tcp_frame(rng: random.Random, payload: int, partial: bool) -> bytearray:
    tcp_length = 32 + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_length, rng.getrandbits(16), 0x4000, 64, 6, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    ip = ip[:10] + struct.pack("!H", 0xFFFF - packet.fold(packet.ones_sum(ip))) + ip[12:]
    tcp = bytearray(struct.pack("!HHIIBBHHH", 1234, 80, rng.getrandbits(32), 1, 8 << 4, 0x10, 500, 0, 0)
                    + b"\x01\x01\x08\x0a" + bytes(8))
    frame = bytearray(b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip + tcp + rng.randbytes(payload))
    pseudo = packet.ipv4_pseudo_sum(frame, 14, 6, tcp_length)
    value = packet.fold(pseudo) if partial else 0xFFFF - packet.fold(pseudo + packet.ones_sum(frame[34:]))
    struct.pack_into("!H", frame, 50, value)
    return frame


def _udp_frame(rng: random.Random, payload: int, partial: bool) -> bytearray:
    udp_length = 8 + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_length, rng.getrandbits(16), 0x4000, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    ip = ip[:10] + struct.pack("!H", 0xFFFF - packet.fold(packet.ones_sum(ip))) + ip[12:]
    udp = struct.pack("!HHHH", 1234, 5201, udp_length, 0)
    frame = bytearray(b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00" + ip + udp + rng.randbytes(payload))
    pseudo = packet.ipv4_pseudo_sum(frame, 14, 17, udp_length)
    value = packet.fold(pseudo) if partial else 0xFFFF - packet.fold(pseudo + packet.ones_sum(frame[34:]))
    struct.pack_into("!H", frame, 40, value or 0xFFFF)
    return frame


def _mutate(rng: random.Random, data: bytes) -> bytes:
    raw = bytearray(data)
    choice = rng.randrange(6)
    if choice == 0 and raw:
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    elif choice == 1:
        raw = raw[: rng.randrange(len(raw) + 1)]
    elif choice == 2:
        raw += rng.randbytes(rng.randint(1, 3000))
    elif choice == 3 and len(raw) > 8:
        raw[0] = rng.choice([0x00, 0xF7, 0xFF, 0x0C])  # flags with and without I
    elif choice == 4 and len(raw) > 22:
        raw[20:22] = rng.choice([b"\x81\x00", b"\x88\xa8", b"\x86\xdd", b"\x08\x06"])
    elif len(raw) > 8:
        raw[4:7] = rng.randbytes(3)  # another VNI
    return bytes(raw)


def _underlay_corpus(rng: random.Random, count: int) -> list[bytes]:
    valid = [vxlan_header(rng.choice([*VNIS, 999])) + bytes(_tcp_frame(rng, rng.randint(0, 1400), False)),
             vxlan_header(100) + bytes(_tcp_frame(rng, 20000, True)),  # tunnel super-frame lookalike
             vxlan_header(200) + b"\xff" * 6 + b"\x02" * 6 + b"\x81\x00\x00\x05\x08\x06" + bytes(28),
             vxlan_header(100) + b"\xff" * 12 + b"\x08\x06" + bytes(28)]
    corpus = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.3:
            corpus.append(rng.randbytes(rng.randint(0, 1600)))
        elif kind < 0.5:
            corpus.append(rng.choice(valid))
        else:
            corpus.append(_mutate(rng, rng.choice(valid)))
    return corpus


def _drain(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(70000))
        except BlockingIOError:
            return out


def test_underlay_fuzz_never_crashes_and_accounts_for_every_datagram(rig: tuple) -> None:
    engine, taps, _peer = rig
    rng = random.Random(7348)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", engine.config.port)
    sent = 0
    corpus = _underlay_corpus(rng, 4000)
    for index, payload in enumerate(corpus):
        if not payload:
            continue  # a zero-length datagram is legal UDP but carries nothing to count on loopback
        client.sendto(payload, target)
        sent += 1
        if index % 50 == 49:
            # a UDP GSO burst: pyvtep's socket gets it as one GRO buffer it must split
            size = rng.randint(20, 1500)
            burst = b"".join(_mutate(rng, rng.choice(corpus[:200]) or b"x")[:size].ljust(size, b"\0")
                             for _ in range(rng.randint(2, 20)))
            client.sendmsg([burst], [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", size))], 0, target)
            sent += -(-len(burst) // size)
            engine._drain_underlay(budget=1000)
    engine._drain_underlay(budget=1000)
    client.close()
    g = engine.datapath.counters
    per_vni = sum(s.counters.rx_drop_inner_vlan + s.counters.rx_drop_oversized
                  for s in engine.datapath.segments.values())
    accounted = g.accepted + g.drop_truncated + g.drop_bad_flags + g.drop_unknown_vni + g.drop_oversized + per_vni
    assert g.rx_datagrams == sent == accounted
    assert g.drop_truncated and g.drop_bad_flags and g.drop_unknown_vni and g.accepted and g.gro_batches
    written = []
    for sock in taps.values():
        written += _drain(sock)
    assert written
    for message in written:
        flags, gso_type, *_rest = VNET_HDR.unpack_from(message)
        assert flags in (0, 1) and gso_type in (0, 1, 4, 5)  # a header the TAP driver accepts
        assert len(message) > VNET_HDR_LEN


def test_tap_fuzz_never_crashes_and_emits_only_valid_vxlan(rig: tuple) -> None:
    engine, taps, peer = rig
    rng = random.Random(4789)
    good = [bytes(_tcp_frame(rng, rng.randint(0, 1400), False)),
            b"\xff" * 6 + b"\x02\0\0\0\0\x07" + b"\x08\x06" + bytes(46),
            b"\x02\0\0\0\0\x09" + b"\x02\0\0\0\0\x07" + b"\x81\x00\x00\x05\x08\x00" + bytes(46)]
    super_frame = bytes(_tcp_frame(rng, 30000, True))
    for _round in range(3000):
        vni = rng.choice(VNIS)
        kind = rng.random()
        if kind < 0.15:  # a TSO super-frame, sometimes with a nonsense virtio-net header
            gso = rng.choice([1, 1, 4, 5, 3, 0x81])
            header = VNET_HDR.pack(1, gso, 66, rng.choice([1398, 0, 1, 9000]), 34, 16, 0)
            body = super_frame if rng.random() < 0.7 else _mutate(rng, super_frame)
        elif kind < 0.3:  # a partial checksum request, maybe pointing outside the frame
            header = VNET_HDR.pack(1, 0, 0, 0, rng.choice([34, 0, 5000]), rng.choice([16, 6, 60000]), 0)
            body = rng.choice(good)
        else:
            header = VNET_HDR.pack(0, 0, 0, 0, 0, 0, 0) if rng.random() < 0.8 else rng.randbytes(12)
            body = rng.choice(good) if rng.random() < 0.5 else _mutate(rng, rng.choice(good))
        taps[vni].send(header + body)
        engine._drain_tap(engine.datapath.segments[vni])
        for datagram in _drain(peer):
            assert datagram[0] == 0x08 and datagram[1:4] == b"\0\0\0" and datagram[7] == 0
            assert int.from_bytes(datagram[4:7], "big") in VNIS
            assert len(datagram) - 8 <= engine.datapath.max_encap_frame  # never more than the underlay takes
    totals = {name: sum(getattr(s.counters, name) for s in engine.datapath.segments.values())
              for name in ("tap_frames", "tx_packets", "tx_drop_bad_offload", "tx_drop_runt",
                           "tx_drop_inner_vlan")}
    assert totals["tx_packets"] > 1000
    assert totals["tx_drop_bad_offload"] and totals["tx_drop_runt"] and totals["tx_drop_inner_vlan"]


def test_offload_functions_raise_only_offload_error_on_garbage() -> None:
    rng = random.Random(1071)
    dp = Datapath(config_from_text("local_ip: 10.0.0.1\nvnis: [{vni: 100}]\n"))
    seeds = [bytes(_tcp_frame(rng, 3000, partial)) for partial in (False, True)]
    seeds += [bytes(_udp_frame(rng, 100, partial)) for partial in (False, True)]
    for _ in range(3000):
        data = _mutate(rng, rng.choice(seeds)) if rng.random() < 0.7 else rng.randbytes(rng.randint(0, 200))
        frame = memoryview(bytearray(data))
        with contextlib.suppress(headers.OffloadError):
            segmentation.segment(frame, rng.choice([1, 4, 5, 0x81, 7]), rng.choice([0, 1, 536, 1398]))
        with contextlib.suppress(headers.OffloadError):
            headers.complete_checksum(frame, rng.randrange(80), rng.choice([6, 16, 100]))
        headers.partial_checksum_header(frame)
        coalescing.tunnel_super_frame_header(frame, rng.choice([0, 1398]), 1464)
        with contextlib.suppress(headers.OffloadError):
            layers = headers.parse_layers(frame)
            key = coalescing.coalescable_key(frame, layers)
            coalescing.tcp_segment_ok(frame, layers)
            if key is not None:
                run = coalescing.start_run(frame, layers, key)
                coalescing.try_extend(run, frame, layers, key, 65535)
                coalescing.super_frame(run)
        udp_key = coalescing.udp_run_key(frame)
        if udp_key is not None:
            udp_run = coalescing.start_udp_run(frame, udp_key)
            if udp_run is not None:
                coalescing.try_extend_udp(udp_run, frame, udp_key)
                coalescing.udp_super_frame(udp_run)
        dp.accept(memoryview(vxlan_header(100) + data), "10.0.0.2", rng.choice([0, 1398]))
        dp.route(dp.segments[100], frame)
