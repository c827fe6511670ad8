"""RFC 7348 framing, RFC 1071 checksums, segmentation and coalescing, checked against scapy."""

from __future__ import annotations

import os
import random
import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP, Ether
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

from vxauto.vtep import coalescing, headers, packet, segmentation, vectorised_gso
from vxauto.vtep.kernel import VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP_L4, VNET_HDR
from vxauto.vtep.packet import (
    checksum_from_sum,
    flow_key,
    ipv4_pseudo_sum,
    mac_bytes,
    ones_sum,
    parse_vxlan_header,
    source_port_index,
    vxlan_header,
)


def naive_sum(data: bytes) -> int:
    padded = data + b"\0" * (len(data) & 1)
    total = sum(int.from_bytes(padded[i : i + 2], "big") for i in range(0, len(padded), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_vxlan_header_sets_only_the_i_flag_and_the_vni() -> None:
    header = vxlan_header(0xABCDEF)
    assert header == bytes([0x08, 0, 0, 0, 0xAB, 0xCD, 0xEF, 0])
    assert parse_vxlan_header(header) == (0x08, 0xABCDEF)
    assert parse_vxlan_header(header[:7]) is None
    with pytest.raises(ValueError):
        vxlan_header(1 << 24)


def test_mac_parsing() -> None:
    assert mac_bytes("02-00-5E-00-00-01") == bytes.fromhex("02005e000001")
    for bad in ("02:00:5e:00:00", "zz:00:5e:00:00:01", "0200.5e00.0001"):
        with pytest.raises(ValueError):
            mac_bytes(bad)


@pytest.mark.parametrize("length", [0, 1, 2, 3, 20, 1397, 1398, 9001])
def test_ones_sum_matches_rfc1071_reference(length: int) -> None:
    rng = random.Random(length)
    for _ in range(20):
        data = bytes(rng.getrandbits(8) for _ in range(length))
        expected = naive_sum(data)
        got = ones_sum(data)
        assert got == expected or ({got, expected} == {0, 0xFFFF} and not any(data))
        assert checksum_from_sum(got) == (~expected) & 0xFFFF or expected == 0


def test_chunk_sums_equal_per_slice_sums() -> None:
    payload = memoryview(os.urandom(20001))
    for size in (1398, 1397, 536, 7):
        sums = segmentation.chunk_sums(payload, size)
        expected = [naive_sum(bytes(payload[i : i + size])) % 0xFFFF for i in range(0, len(payload), size)]
        assert sums == expected


def _tcp_frame(payload: bytes, ipv6: bool = False, flags: str = "PA", seq: int = 1000,
               sport: int = 40000) -> memoryview:
    ip = IPv6(src="2001:db8::1", dst="2001:db8::2") if ipv6 else IP(src="10.1.2.3", dst="10.9.8.7", id=65530)
    tcp = TCP(sport=sport, dport=5201, seq=seq, flags=flags, options=[("NOP", None), ("NOP", None),
                                                                      ("Timestamp", (7, 9))])
    return memoryview(bytearray(bytes(Ether() / ip / tcp / Raw(payload))))


def _checksums_valid(wire: bytes) -> bool:
    frame = Ether(wire)
    fresh = frame.copy()
    layer4 = fresh[TCP] if TCP in fresh else fresh[UDP]
    del layer4.chksum
    if IP in fresh:
        del fresh[IP].chksum
    rebuilt = Ether(bytes(fresh))
    ok = (rebuilt[TCP].chksum == frame[TCP].chksum) if TCP in frame else rebuilt[UDP].chksum == frame[UDP].chksum
    return ok and (IP not in frame or rebuilt[IP].chksum == frame[IP].chksum)


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize(("size", "mss"), [(64000, 1398), (5000, 1397), (1, 1448), (2897, 1448)])
def test_tcp_segmentation_produces_valid_wire_frames(ipv6: bool, size: int, mss: int) -> None:
    payload = os.urandom(size)
    frame = _tcp_frame(payload, ipv6, flags="FPA", seq=0xFFFFFF00)  # sequence numbers wrap
    pieces = segmentation.segment(frame, VNET_GSO_TCPV6 if ipv6 else VNET_GSO_TCPV4, mss, prefix=b"VXLANHDR")
    assert len(pieces) == -(-size // mss)
    joined = b""
    for index, (header, chunk) in enumerate(pieces):
        assert header.startswith(b"VXLANHDR")
        wire = header[8:] + bytes(chunk)
        assert _checksums_valid(wire)
        tcp = Ether(wire)[TCP]
        assert tcp.seq == (0xFFFFFF00 + index * mss) & 0xFFFFFFFF
        last = index == len(pieces) - 1
        assert ("F" in str(tcp.flags)) == last and ("P" in str(tcp.flags)) == last
        if not ipv6:
            assert Ether(wire)[IP].id == (65530 + index) & 0xFFFF
            assert Ether(wire)[IP].len == len(wire) - 14
        joined += bytes(chunk)
    assert joined == payload


def test_udp_segmentation_is_valid_per_datagram() -> None:
    payload = os.urandom(3000)
    frame = memoryview(bytearray(bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5, dport=6)
                                       / Raw(payload))))
    pieces = segmentation.segment(frame, VNET_GSO_UDP_L4, 1000)
    assert [len(chunk) for _h, chunk in pieces] == [1000, 1000, 1000]
    for header, chunk in pieces:
        wire = header + bytes(chunk)
        assert _checksums_valid(wire)
        assert Ether(wire)[UDP].len == 1008


def test_segmentation_refuses_inconsistent_super_frames() -> None:
    frame = _tcp_frame(os.urandom(3000))
    with pytest.raises(headers.OffloadError):
        segmentation.segment(frame, VNET_GSO_TCPV6, 1000)  # says IPv6, is IPv4
    with pytest.raises(headers.OffloadError):
        segmentation.segment(frame, VNET_GSO_TCPV4, 0)
    with pytest.raises(headers.OffloadError):
        segmentation.segment(frame[:40], VNET_GSO_TCPV4, 100)


def test_coalescing_rebuilds_one_super_frame_from_contiguous_segments() -> None:
    payload = os.urandom(1398 * 4 + 100)
    frame = _tcp_frame(payload, flags="A")
    pieces = segmentation.segment(frame, VNET_GSO_TCPV4, 1398)
    wires = [memoryview(bytearray(header + bytes(chunk))) for header, chunk in pieces]
    layers = headers.parse_layers(wires[0])
    key = coalescing.coalescable_key(wires[0], layers)
    assert key is not None and coalescing.tcp_segment_ok(wires[0], layers)
    run = coalescing.start_run(wires[0], layers, key)
    for wire in wires[1:]:
        wire_layers = headers.parse_layers(wire)
        wire_key = coalescing.coalescable_key(wire, wire_layers) or b""
        assert coalescing.try_extend(run, wire, wire_layers, wire_key, 65535)
    buffers = coalescing.super_frame(run)
    flags, gso_type, header_len, gso_size, csum_start, csum_offset, _ = VNET_HDR.unpack(buffers[0])
    assert (flags, gso_type, gso_size, csum_start, csum_offset) == (VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, 1398, 34, 16)
    merged = b"".join(bytes(b) for b in buffers[1:])
    assert header_len == 66 and merged[66:] == payload
    assert Ether(merged)[IP].len == len(merged) - 14
    assert naive_sum(merged[14:34]) == 0xFFFF  # IPv4 header checksum of the merged frame
    # the TCP checksum field is the pseudo-header sum (CHECKSUM_PARTIAL), as the kernel expects
    pseudo = naive_sum(merged[26:34] + struct.pack("!HH", 6, len(merged) - 34))
    assert merged[50:52] == struct.pack("!H", pseudo)


def test_coalescing_refuses_gaps_other_flows_and_bad_checksums() -> None:
    frame = _tcp_frame(os.urandom(1398 * 3), flags="A")
    pieces = segmentation.segment(frame, VNET_GSO_TCPV4, 1398)
    wires = [memoryview(bytearray(header + bytes(chunk))) for header, chunk in pieces]
    layers = headers.parse_layers(wires[0])
    run = coalescing.start_run(wires[0], layers, coalescing.coalescable_key(wires[0], layers) or b"")
    third = headers.parse_layers(wires[2])
    assert not coalescing.try_extend(run, wires[2], third, coalescing.coalescable_key(wires[2], third) or b"", 65535)
    other = _tcp_frame(os.urandom(1398), flags="A", sport=40001)
    other_layers = headers.parse_layers(other)
    other_key = coalescing.coalescable_key(other, other_layers)
    assert other_key is not None and other_key != run.key
    corrupt = memoryview(bytearray(wires[1]))
    corrupt[-1] ^= 0xFF
    assert not coalescing.tcp_segment_ok(corrupt, headers.parse_layers(corrupt))
    syn = _tcp_frame(b"x", flags="S")
    assert coalescing.coalescable_key(syn, headers.parse_layers(syn)) is None


def _partial(frame: memoryview) -> memoryview:
    """Turn a frame's TCP checksum into what a CHECKSUM_PARTIAL skb carries (pseudo-header sum only)."""
    raw = bytearray(frame)
    tcp_length = len(raw) - 34
    struct.pack_into("!H", raw, 50, naive_sum(bytes(raw[26:34]) + struct.pack("!HH", 6, tcp_length)))
    return memoryview(raw)


def test_partial_checksums_from_a_kernel_peer_are_recognised() -> None:
    frame = _tcp_frame(os.urandom(100))
    assert headers.partial_checksum_header(frame) is None  # a complete, valid checksum stays as it is
    partial = _partial(frame)
    header = headers.partial_checksum_header(partial)
    assert header is not None
    assert VNET_HDR.unpack(header)[:1] + VNET_HDR.unpack(header)[4:6] == (VNET_F_NEEDS_CSUM, 34, 16)
    assert coalescing.tcp_segment_ok(partial, headers.parse_layers(partial))


def test_tunnel_super_frame_header() -> None:
    super_frame = _partial(_tcp_frame(os.urandom(30000)))
    header = coalescing.tunnel_super_frame_header(super_frame, 1398, 1464)
    assert header is not None
    assert VNET_HDR.unpack(header)[:4] == (VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, 66, 1398)
    assert coalescing.wire_segments(len(super_frame), header) == -(-30000 // 1398)
    assert coalescing.tunnel_super_frame_header(super_frame, 1450, 1464) is None  # segments would not fit
    assert coalescing.tunnel_super_frame_header(_tcp_frame(os.urandom(30000)), 1398, 1464) is None  # not partial
    assert coalescing.tunnel_super_frame_header(super_frame[:-1], 1398, 1464) is None  # length lies


def test_flow_hash_is_stable_per_flow_and_ignores_icmp_checksums() -> None:
    a = _tcp_frame(b"one")
    b = _tcp_frame(b"two, different payload")
    assert flow_key(a) == flow_key(b)
    assert source_port_index(a, 16) == source_port_index(b, 16)
    ping1 = bytes(Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / Raw(b"\x08\x00\x12\x34"))
    ping2 = bytes(Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / Raw(b"\x08\x00\x56\x78"))
    assert flow_key(ping1) == flow_key(ping2)
    indexes = {source_port_index(bytes(Ether() / IP(src=f"10.0.0.{i}") / TCP(sport=i)), 16) for i in range(1, 60)}
    assert len(indexes) > 4  # different flows spread over the source ports


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize(("size", "mss"), [(64000, 1398), (5000, 1396), (1, 1448), (2896, 1448), (2897, 1448),
                                           (30000, 88)])
@pytest.mark.parametrize("flags", ["FPA", "A", "CA", "CFPA"])
def test_vectorised_segmentation_equals_the_reference(ipv6: bool, size: int, mss: int, flags: str) -> None:
    """The numpy GSO buffer holds exactly the datagrams `segment()` builds, back to back, with valid
    checksums; also when a cached layout is reused by a second super-frame of the same shape."""
    pytest.importorskip("numpy")
    scratch = vectorised_gso.gso_scratch(1 << 17)
    gso_type = VNET_GSO_TCPV6 if ipv6 else VNET_GSO_TCPV4
    for seq in (0xFFFFFF00, 12345):  # the second round reuses the layout and must not keep old bytes
        frame = _tcp_frame(os.urandom(size), ipv6, flags=flags, seq=seq)
        pieces = segmentation.segment(frame, gso_type, mss, prefix=b"VXLANHDR")
        gso = vectorised_gso.segment_tcp_gso(frame, gso_type, mss, b"VXLANHDR", scratch)
        assert gso.count == len(pieces) and gso.stride == len(pieces[0][0]) + mss
        assert bytes(gso.data) == b"".join(header + bytes(chunk) for header, chunk in pieces)
        for index in range(gso.count):
            datagram = bytes(gso.group(index, 1))
            assert datagram.startswith(b"VXLANHDR") and _checksums_valid(datagram[8:])


def test_vectorised_segmentation_refuses_what_segment_refuses() -> None:
    pytest.importorskip("numpy")
    frame = _tcp_frame(os.urandom(3000))
    for gso_type, mss, cut in ((VNET_GSO_TCPV6, 1000, None), (VNET_GSO_TCPV4, 0, None),
                               (VNET_GSO_TCPV4, 100, 40), (VNET_GSO_UDP_L4, 1000, None), (VNET_GSO_TCPV4, 999, None)):
        with pytest.raises(headers.OffloadError):
            vectorised_gso.segment_tcp_gso(frame if cut is None else frame[:cut], gso_type, mss, b"VXLANHDR")


@pytest.mark.parametrize("partial", [False, True])
def test_udp_runs_merge_into_a_uso_frame_that_cuts_back_into_the_same_datagrams(partial: bool) -> None:
    """Software UDP GRO: equal datagrams of one flow (and a shorter last one) become one USO write whose
    virtio-net header makes the kernel cut exactly the original datagrams again (checked with `segment()`,
    which cuts as the kernel does); a corrupted checksum, another flow or a full run is not merged."""
    def datagram(payload: bytes, ident: int) -> memoryview:
        frame = bytearray(bytes(Ether() / IP(src="10.1.2.3", dst="10.9.8.7", id=ident, flags="DF")
                                / UDP(sport=4000, dport=5000) / Raw(payload)))
        if partial:  # as a kernel VTEP over veth leaves it: the pseudo-header sum only
            pseudo = ipv4_pseudo_sum(frame, 14, 17, len(frame) - 34)
            struct.pack_into("!H", frame, 40, packet.fold(pseudo))
        return memoryview(frame)

    payloads = [os.urandom(100) for _ in range(9)] + [os.urandom(37)]
    frames = [datagram(payload, 100 + index) for index, payload in enumerate(payloads)]
    key = coalescing.udp_run_key(frames[0])
    assert key is not None
    run = coalescing.start_udp_run(frames[0], key)
    assert run is not None
    assert all(coalescing.try_extend_udp(run, frame, coalescing.udp_run_key(frame) or b"") for frame in frames[1:])
    assert not coalescing.try_extend_udp(run, frames[1], key), "a shorter datagram closed the run"
    buffers = coalescing.udp_super_frame(run)
    flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, _ = VNET_HDR.unpack(buffers[0])
    assert (flags, gso_type, hdr_len, gso_size, csum_start, csum_offset) == (
        VNET_F_NEEDS_CSUM, VNET_GSO_UDP_L4, 42, 100, 34, 6)
    merged = memoryview(b"".join(bytes(buffer) for buffer in buffers[1:]))
    pieces = segmentation.segment(merged, gso_type, gso_size)
    assert [bytes(chunk) for _header, chunk in pieces] == payloads
    for header, chunk in pieces:
        rebuilt = Ether(header + bytes(chunk))
        fresh = rebuilt.copy()
        del fresh[UDP].chksum
        del fresh[IP].chksum
        fresh = Ether(bytes(fresh))
        assert (rebuilt[UDP].chksum, rebuilt[IP].chksum) == (fresh[UDP].chksum, fresh[IP].chksum)
        assert rebuilt[UDP].sport == 4000 and rebuilt[IP].dst == "10.9.8.7"

    other_flow = bytearray(frames[1])
    other_flow[37] ^= 1  # another source port
    corrupted = bytearray(frames[1])
    corrupted[50] ^= 0xFF  # payload changed under its checksum (a partial one is not verified: it must match)
    fresh_run = coalescing.start_udp_run(frames[0], key)
    assert fresh_run is not None
    assert coalescing.udp_run_key(memoryview(other_flow)) != key
    if not partial:
        assert not coalescing.try_extend_udp(fresh_run, memoryview(corrupted), key)
    assert coalescing.udp_run_key(memoryview(bytearray(frames[0])[:-1])) is None  # lengths no longer agree
