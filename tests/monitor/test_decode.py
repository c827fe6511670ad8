"""The decoder on crafted packets (scapy builds them, independently of vxauto) and on random input."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from scapy.all import ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, IPv6ExtHdrFragment, Raw, fragment, wrpcap
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6ExtHdrHopByHop
from scapy.layers.vxlan import VXLAN

from tests.monitor.packets import mutate, random_frame
from vxauto.monitor.capture import Frames
from vxauto.monitor.decode import Decoder, decode_capture
from vxauto.monitor.table import (
    FLAG_NO_I,
    FLAG_RESERVED,
    INNER_NOT_ETHERNET,
    INNER_TRUNCATED,
    VARIANT_GBP,
    VARIANT_GPE,
    VARIANT_VXLAN,
    PacketTable,
    address_text,
    mac_text,
)

OUTER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.99.0.1", dst="10.99.0.2")
OUTER6 = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src="fd00::1", dst="fd00::2")
# Every address is explicit: scapy would otherwise look up routes or even ARP for a destination MAC.
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
INNER = Ether(src="02:00:00:00:00:b1", dst="02:00:00:00:00:b2")


def decode_packets(packets: list, tmp_path: Path, ports: tuple[int, ...] = (4789, 8472, 4790)) -> tuple:
    path = tmp_path / "crafted.pcap"
    wrpcap(str(path), packets)
    return decode_capture(path, ports)


def rows(table: PacketTable) -> list[dict]:
    return [dict(zip(table.columns, table.row(i), strict=True)) for i in range(len(table))]


def test_plain_vxlan_over_ipv4_with_inner_tcp(tmp_path: Path) -> None:
    packet = (
        OUTER
        / UDP(sport=51000, dport=4789)
        / VXLAN(flags=0x08, vni=10010)
        / INNER
        / IP(src="10.10.10.1", dst="10.10.10.2")
        / TCP(sport=40000, dport=443)
        / Raw(b"x" * 100)
    )
    table, stats = decode_packets([packet], tmp_path)
    (row,) = rows(table)
    assert stats.vxlan_packets == 1 and stats.frames == 1
    assert row["vni"] == 10010 and row["variant"] == VARIANT_VXLAN and row["flag_problems"] == 0
    assert address_text(row["outer_src_hi"], row["outer_src_lo"]) == "10.99.0.1"
    assert address_text(row["outer_dst_hi"], row["outer_dst_lo"]) == "10.99.0.2"
    assert (row["udp_sport"], row["udp_dport"]) == (51000, 4789)
    assert (
        mac_text(row["inner_src_mac"]) == "02:00:00:00:00:b1" and mac_text(row["inner_dst_mac"]) == "02:00:00:00:00:b2"
    )
    assert address_text(row["inner_src_hi"], row["inner_src_lo"]) == "10.10.10.1"
    assert (row["inner_proto"], row["inner_sport"], row["inner_dport"]) == (6, 40000, 443)
    assert row["inner_len"] == len(INNER / IP(src="1.0.0.1", dst="1.0.0.2") / TCP() / Raw(b"x" * 100))
    assert row["wire_len"] == len(packet)


def test_ipv6_underlay_and_inner_variants(tmp_path: Path) -> None:
    packets = [
        OUTER6
        / UDP(dport=4789)
        / VXLAN(flags=0x08, vni=20)
        / INNER
        / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / UDP(sport=5353, dport=53),
        OUTER
        / UDP(dport=8472)
        / VXLAN(flags=0x08, vni=30)
        / Ether(dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.9"),
        OUTER
        / UDP(dport=4789)
        / VXLAN(flags=0x08, vni=40)
        / INNER
        / Dot1Q(vlan=77)
        / IP(src="1.1.1.1", dst="2.2.2.2")
        / ICMP(type=8, code=0),
        OUTER
        / UDP(dport=4789)
        / VXLAN(flags=0x08, vni=50)
        / INNER
        / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / ICMPv6EchoRequest(),
        OUTER
        / UDP(dport=4789)
        / VXLAN(flags=0x08, vni=60)
        / INNER
        / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrHopByHop()
        / TCP(sport=1, dport=2),
    ]
    table, _ = decode_packets(packets, tmp_path)
    by_vni = {r["vni"]: r for r in rows(table)}
    assert address_text(by_vni[20]["outer_src_hi"], by_vni[20]["outer_src_lo"]) == "fd00::1"
    assert address_text(by_vni[20]["inner_dst_hi"], by_vni[20]["inner_dst_lo"]) == "2001:db8::2"
    assert (by_vni[20]["inner_proto"], by_vni[20]["inner_dport"]) == (17, 53)
    assert by_vni[30]["udp_dport"] == 8472 and by_vni[30]["inner_ethertype"] == 0x0806
    assert address_text(by_vni[30]["inner_dst_hi"], by_vni[30]["inner_dst_lo"]) == "10.0.0.9"
    assert by_vni[30]["inner_sport"] == 1  # ARP opcode
    assert (by_vni[40]["inner_tags"], by_vni[40]["inner_vlan"], by_vni[40]["inner_proto"]) == (1, 77, 1)
    assert (by_vni[40]["inner_sport"], by_vni[40]["inner_dport"]) == (8, 0)  # ICMP type, code
    assert (by_vni[50]["inner_proto"], by_vni[50]["inner_sport"]) == (58, 128)
    assert (by_vni[60]["inner_proto"], by_vni[60]["inner_sport"], by_vni[60]["inner_dport"]) == (6, 1, 2)


def test_flags_and_variants(tmp_path: Path) -> None:
    packets = [
        OUTER
        / UDP(dport=4789)
        / VXLAN(flags=0x88, gpflags=0x40, gpid=300, vni=1)
        / INNER
        / IP(src="1.0.0.1", dst="1.0.0.2"),  # GBP
        OUTER / UDP(dport=4790) / VXLAN(flags=0x0C, NextProtocol=1, vni=2) / IP(src="9.9.9.9") / UDP(dport=7),  # GPE
        OUTER / UDP(dport=4790) / VXLAN(flags=0x0C, NextProtocol=4, vni=3) / Raw(b"\x00" * 8),  # GPE + NSH
        OUTER / UDP(dport=4789) / VXLAN(flags=0x00, vni=4) / INNER / IP(src="1.0.0.1", dst="1.0.0.2"),  # no I flag
        OUTER
        / UDP(dport=4789)
        / VXLAN(flags=0x08, reserved1=5, vni=5)
        / INNER
        / IP(src="1.0.0.1", dst="1.0.0.2"),  # reserved bits
        OUTER
        / UDP(dport=4789)
        / VXLAN(flags=0x08, vni=6, reserved2=1)
        / INNER
        / IP(src="1.0.0.1", dst="1.0.0.2"),  # reserved last byte
    ]
    table, _ = decode_packets(packets, tmp_path)
    by_vni = {r["vni"]: r for r in rows(table)}
    assert by_vni[1]["variant"] == VARIANT_GBP and by_vni[1]["flag_problems"] == 0
    assert by_vni[2]["variant"] == VARIANT_GPE and by_vni[2]["inner_ethertype"] == 0x0800
    assert address_text(by_vni[2]["inner_src_hi"], by_vni[2]["inner_src_lo"]) == "9.9.9.9"
    assert by_vni[3]["inner_status"] == INNER_NOT_ETHERNET
    assert by_vni[4]["flag_problems"] == FLAG_NO_I
    assert by_vni[5]["flag_problems"] == FLAG_RESERVED and by_vni[6]["flag_problems"] == FLAG_RESERVED


def test_outer_fragments_are_reassembled_ipv4_and_ipv6(tmp_path: Path) -> None:
    big = (
        OUTER
        / UDP(sport=1, dport=4789)
        / VXLAN(flags=0x08, vni=7)
        / INNER
        / IP(src="1.0.0.1", dst="1.0.0.2")
        / UDP()
        / Raw(b"y" * 3000)
    )
    v6 = (
        ETH
        / IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrFragment()
        / UDP(sport=2, dport=4789)
        / VXLAN(flags=0x08, vni=8)
        / INNER
        / IP(src="1.0.0.1", dst="1.0.0.2")
        / UDP()
        / Raw(b"z" * 2500)
    )
    from scapy.layers.inet6 import fragment6

    pieces = [ETH / f for f in fragment(big[IP], 1000)] + [ETH / f for f in fragment6(v6[IPv6], 1280)]
    pieces.append(ETH / IP(src="10.99.0.1", dst="10.99.0.2", id=999, flags="MF", proto=17) / Raw(b"q" * 64))
    table, stats = decode_packets(pieces, tmp_path)
    by_vni = {r["vni"]: r for r in rows(table)}
    assert set(by_vni) == {7, 8} and by_vni[7]["fragmented"] and by_vni[8]["fragmented"]
    assert by_vni[7]["inner_len"] == len(INNER / IP(src="1.0.0.1", dst="1.0.0.2") / UDP() / Raw(b"y" * 3000))
    assert stats.reassembled["vxlan"] == 2
    assert stats.fragments_left == 1  # the lone first fragment never completed
    assert stats.statuses["fragment"] == len(pieces)


def test_truncated_and_non_vxlan_frames_are_counted() -> None:
    good = OUTER / UDP(dport=4789) / VXLAN(flags=0x08, vni=9) / INNER / IP(src="1.0.0.1", dst="1.0.0.2") / TCP()
    raw = bytes(good)
    packets = [
        raw[:40],  # cut inside UDP
        raw[:48],  # cut inside the VXLAN header
        raw[:60],  # VXLAN header complete, inner Ethernet cut
        bytes(OUTER / UDP(dport=53) / Raw(b"dns")),  # other UDP
        bytes(OUTER / TCP()),  # other protocol
        bytes(ETH / ARP(psrc="10.0.0.1", pdst="10.0.0.2", hwsrc="02:00:00:00:00:01")),  # not IP
        raw[:12],  # runt
    ]
    decoder = Decoder()
    table = decoder.decode(Frames.from_packets([(p, 0) for p in packets]))
    stats = decoder.finish()
    assert stats.statuses == {"truncated": 2, "vxlan": 1, "other": 3, "malformed-l2": 1}
    assert table.inner_status.tolist() == [INNER_TRUNCATED] and table.vni.tolist() == [9]
    assert stats.inner["truncated"] == 1


def test_configured_ports_decide_what_is_vxlan(tmp_path: Path) -> None:
    packets = [
        OUTER / UDP(dport=port) / VXLAN(flags=0x08, vni=port) / INNER / IP(src="1.0.0.1", dst="1.0.0.2")
        for port in (4789, 8472, 9999)
    ]
    table, stats = decode_packets(packets, tmp_path, ports=(9999,))
    assert table.vni.tolist() == [9999] and stats.statuses["other"] == 2


def test_fast_and_scalar_decoders_agree_on_random_and_damaged_frames() -> None:
    """Fuzz: thousands of structurally random frames, half of them damaged; same rows, same counts."""
    rng = random.Random(7348)
    frames = []
    for index in range(6000):
        frame = random_frame(rng)
        frames.append((mutate(rng, frame) if rng.random() < 0.5 else frame, index * 1000))
    packets = Frames.from_packets(frames)
    fast, slow = Decoder(), Decoder(vectorised=False)
    fast_table, slow_table = fast.decode(packets), slow.decode(packets)
    fast_rows = sorted(fast_table.row(i) for i in range(len(fast_table)))
    slow_rows = sorted(slow_table.row(i) for i in range(len(slow_table)))
    assert fast_rows == slow_rows
    assert fast.finish().as_dict() == slow.finish().as_dict()
    assert len(fast_rows) > 1000 and fast.stats.statuses["other"] > 500  # the fuzz reached both paths


def test_frames_near_the_end_of_a_memory_mapped_file(tmp_path: Path) -> None:
    """A mapped file has no padding: frames ending near it take the scalar path and decode the same."""
    rng = random.Random(1)
    packets = [Ether(random_frame(rng)) for _ in range(300)]
    path = tmp_path / "mapped.pcap"
    wrpcap(str(path), packets)
    table, stats = decode_capture(path)
    reference = Decoder(vectorised=False)
    expected = reference.decode(Frames.from_packets([(bytes(p), 0) for p in packets]))
    assert sorted(table.vni.tolist()) == sorted(expected.vni.tolist())
    assert stats.statuses == reference.stats.statuses


@pytest.mark.parametrize("linktype", [113, 276, 101])
def test_other_link_types(linktype: int) -> None:
    inner = bytes(OUTER[IP] / UDP(dport=4789) / VXLAN(flags=0x08, vni=42) / INNER / IP(src="1.0.0.1", dst="1.0.0.2"))
    if linktype == 113:
        frame = b"\x00\x00\x00\x01\x00\x06" + bytes(8) + b"\x08\x00" + inner
    elif linktype == 276:
        frame = b"\x08\x00\x00\x00" + bytes(16) + inner
    else:
        frame = inner
    for vectorised in (True, False):
        decoder = Decoder(vectorised=vectorised)
        assert decoder.decode(Frames.from_packets([(frame, 0)], linktype)).vni.tolist() == [42]


def test_null_loopback_and_unknown_link_types() -> None:
    inner = bytes(OUTER[IP] / UDP(dport=4789) / VXLAN(flags=0x08, vni=5) / INNER / IP(src="1.0.0.1", dst="1.0.0.2"))
    decoder = Decoder()
    assert decoder.decode(Frames.from_packets([((2).to_bytes(4, "little") + inner, 0)], 0)).vni.tolist() == [5]
    assert decoder.decode(Frames.from_packets([(inner, 0)], 147)).vni.tolist() == []
    assert decoder.stats.statuses["unsupported-linktype"] == 1


def test_inner_and_outer_counts_match_numpy_reference(tmp_path: Path) -> None:
    """Byte accounting: inner_len is the UDP payload minus the VXLAN header, wire_len the frame length."""
    rng = random.Random(3)
    packets = [
        OUTER
        / UDP(dport=4789)
        / VXLAN(flags=0x08, vni=rng.randrange(1, 5))
        / INNER
        / IP(src="1.0.0.1", dst="1.0.0.2")
        / UDP()
        / Raw(b"p" * rng.randrange(0, 1400))
        for _ in range(200)
    ]
    table, _ = decode_packets(packets, tmp_path)
    assert int(table.wire_len.sum()) == sum(len(p) for p in packets)
    assert int(table.inner_len.sum()) == sum(len(p[VXLAN].payload) for p in packets)
    expected = np.bincount([p[VXLAN].vni for p in packets])
    assert np.array_equal(np.bincount(table.vni), expected)
