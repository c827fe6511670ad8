"""Every anomaly class on crafted traffic (scapy), and none on clean crafted fabric traffic.

The intent is tests/fixtures/intents/monitor-three: leaf-a/b/c = 10.99.0.1/2/3, static flooding, UDP 4789,
overlay MTU 1500, underlay MTU 1550; red-web 10010 on all, red-db 10020 on leaf-a, blue-web 10030 on a and b,
tenant blue's L3 VNI 50001 on a and b.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.all import ARP, IP, TCP, UDP, Dot1Q, Ether, IPOption_NOP, Raw, fragment, wrpcap
from scapy.layers.vxlan import VXLAN

from tests.monitor.packets import write_pcap
from vxauto.monitor.analysis import Analyzer, Report, Thresholds
from vxauto.monitor.decode import decode_capture
from vxauto.monitor.intent import IntentView

INTENT = Path(__file__).resolve().parents[1] / "fixtures" / "intents" / "monitor-three"
A, B, C, STRANGER = "10.99.0.1", "10.99.0.2", "10.99.0.3", "10.99.0.9"
MAC = {"a": "02:00:00:00:0a:01", "b": "02:00:00:00:0b:01", "c": "02:00:00:00:0c:01"}
T0 = 1_700_000_000.0


def underlay(src: str, dst: str, **ip: object) -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst, **ip)


def inner_tcp(src: str, dst: str, sport: int, dport: int = 443, size: int = 100, tags: int = 0) -> Ether:
    frame = Ether(src=MAC["a"], dst=MAC["b"])
    for vlan in range(tags):
        frame = frame / Dot1Q(vlan=100 + vlan)
    return frame / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport) / Raw(b"t" * size)


def arp_request(sender: str, target: str) -> Ether:
    return Ether(src=MAC["a"], dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=MAC["a"], psrc=sender, pdst=target)


def vxlan(src: str, dst: str, vni: int, inner: Ether, at: float, port: int = 4789, sport: int | None = None,
          flags: int = 0x08, **header: object) -> Ether:
    """An outer packet whose UDP source port is a hash of the inner frame, as RFC 7348 asks."""
    sport = sport if sport is not None else 49152 + zlib.crc32(bytes(inner)[:64]) % 16384
    packet = underlay(src, dst) / UDP(sport=sport, dport=port) / VXLAN(flags=flags, vni=vni, **header) / inner
    packet.time = at
    return packet


def clean_traffic() -> list[Ether]:
    """What a healthy fabric sends: flooded ARP to every flood peer, then unicast flows in both directions."""
    packets = []
    for step, (vni, sender, peers) in enumerate(((10010, A, (B, C)), (10030, B, (A,)), (10010, C, (A, B)))):
        for peer in peers:
            packets.append(vxlan(sender, peer, vni, arp_request(f"10.10.{vni % 100}.{step + 1}", "10.10.0.99"),
                                 T0 + step * 0.01))
    for flow in range(12):
        there = inner_tcp("10.10.10.1", "10.10.10.2", 40000 + flow)
        back = inner_tcp("10.10.10.2", "10.10.10.1", 443, 40000 + flow)
        packets += [vxlan(A, B, 10010, there, T0 + 1 + flow * 0.01), vxlan(B, A, 10010, back, T0 + 1.005 + flow * 0.01)]
    packets.append(vxlan(A, B, 50001, Ether(src=MAC["a"], dst=MAC["b"]) / IP(src="10.30.0.1", dst="10.31.0.1")
                         / TCP(sport=5000, dport=80), T0 + 2))
    packets.append(vxlan(A, B, 10010, inner_tcp("10.10.10.1", "10.10.10.2", 1234, size=1460), T0 + 2.1))  # MTU-sized
    return packets


def analyse(packets: list, tmp_path: Path, bum_pps: float = 1000.0, extra: bytes = b"") -> Report:
    """Write scapy packets (or ready (time, bytes) pairs) to a pcap and analyse it against the intent."""
    path = tmp_path / "crafted.pcap"
    write_pcap(path, [p if isinstance(p, tuple) else (float(p.time), bytes(p)) for p in packets])
    if extra:
        path.write_bytes(path.read_bytes() + extra)
    table, stats = decode_capture(path, (4789, 8472))
    analyzer = Analyzer(IntentView.load(INTENT), Thresholds(bum_pps=bum_pps))
    analyzer.add(table)
    return analyzer.report(stats, str(path))


def test_clean_fabric_traffic_has_no_anomalies(tmp_path: Path) -> None:
    report = analyse(clean_traffic(), tmp_path)
    assert report.anomalies == [], [a.message for a in report.anomalies]
    assert report.vnis[10010].broadcast == 4 and report.vnis[10030].broadcast == 1
    assert report.tenants["red"]["vnis"] == [10010] and report.tenants["blue"]["vnis"] == [10030, 50001]
    assert report.vnis[10010].max_inner_len == 1460 + 40 + 14


def flood_to_one_peer() -> list[Ether]:
    """leaf-b floods on 10010 but replicates only to leaf-a, never to leaf-c."""
    return [vxlan(B, A, 10010, arp_request("10.10.10.2", "10.10.10.7"), T0 + i) for i in range(3)]


def entropy_collapse() -> list[Ether]:
    return [vxlan(A, B, 10010, inner_tcp("10.10.10.1", "10.10.10.2", 30000 + flow), T0 + flow * 0.01, sport=4789)
            for flow in range(60)]


def bum_storm() -> list[tuple[float, bytes]]:
    """1200 ARP requests flooded to both peers within 0.8 s (built once, written with their own times)."""
    copies = [bytes(vxlan(A, peer, 10010, arp_request("10.10.10.1", "10.10.10.200"), T0)) for peer in (B, C)]
    return [(T0 + 3 + index / 1500, copy) for index in range(1200) for copy in copies]


def fragmented() -> list[Ether]:
    big = vxlan(A, B, 10010, inner_tcp("10.10.10.1", "10.10.10.2", 5555, size=1200), T0)
    return [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / piece for piece in fragment(big[IP], 800)]


SCENARIOS: dict[str, tuple[Callable[[], list], set[str]]] = {
    "unknown VTEP": (lambda: [vxlan(STRANGER, A, 10010, inner_tcp("10.10.10.5", "10.10.10.1", 1), T0)],
                     {"unknown-vtep"}),
    "unknown VNI": (lambda: [vxlan(A, B, 99999, inner_tcp("10.10.10.1", "10.10.10.2", 1), T0)], {"unknown-vni"}),
    "VNI on a VTEP that does not carry it": (
        lambda: [vxlan(B, A, 10020, inner_tcp("10.10.20.2", "10.10.20.1", 1), T0)], {"unexpected-vni"}),
    "wrong UDP port": (lambda: [vxlan(A, B, 10010, inner_tcp("10.10.10.1", "10.10.10.2", 1), T0, port=8472)],
                       {"unexpected-udp-port"}),
    "flood peer never reached": (flood_to_one_peer, {"missing-flood-peer"}),
    "inner VLAN tag": (lambda: [vxlan(A, B, 10010, inner_tcp("10.10.10.1", "10.10.10.2", 1, tags=1), T0)],
                       {"inner-vlan-tag"}),
    "outer fragments": (fragmented, {"outer-fragmented"}),
    "inner frame over the overlay MTU": (
        lambda: [vxlan(A, B, 10010, inner_tcp("10.10.10.1", "10.10.10.2", 1, size=1461), T0)],
        {"inner-mtu-exceeded", "outer-mtu-exceeded"}),
    "outer packet over the underlay MTU": (
        lambda: [underlay(A, B, options=[IPOption_NOP()] * 8) / UDP(sport=50000, dport=4789)
                 / VXLAN(flags=0x08, vni=10010) / inner_tcp("10.10.10.1", "10.10.10.2", 1, size=1460)],
        {"outer-mtu-exceeded"}),
    "I flag missing": (lambda: [vxlan(A, B, 10010, inner_tcp("10.10.10.1", "10.10.10.2", 1), T0, flags=0x00)],
                       {"bad-vxlan-flags"}),
    "reserved bits": (lambda: [vxlan(A, B, 10010, inner_tcp("10.10.10.1", "10.10.10.2", 1), T0, reserved1=1)],
                      {"reserved-bits-set"}),
    "constant UDP source port": (entropy_collapse, {"low-source-port-entropy"}),
    "BUM storm": (bum_storm, {"bum-rate"}),
    "truncated frames": (
        lambda: [Ether(bytes(vxlan(A, B, 10010, inner_tcp("10.10.10.1", "10.10.10.2", 1), T0))[:46])],
        {"malformed-packets"}),
    "cut inner frame": (
        lambda: [underlay(A, B) / UDP(sport=50000, dport=4789) / VXLAN(flags=0x08, vni=10010)
                 / Raw(bytes(inner_tcp("10.10.10.1", "10.10.10.2", 1))[:30])], {"malformed-inner"}),
    "offloaded super-packet": (
        lambda: [vxlan(A, B, 10010, inner_tcp("10.10.10.1", "10.10.10.2", 1, size=20000), T0)],
        {"capture-offload"}),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_anomaly_class_is_found(name: str, tmp_path: Path) -> None:
    build, expected = SCENARIOS[name]
    report = analyse(clean_traffic() + build(), tmp_path)
    assert {a.kind for a in report.anomalies} == expected, [a.message for a in report.anomalies]


def test_anomaly_details(tmp_path: Path) -> None:
    report = analyse(clean_traffic() + flood_to_one_peer() + entropy_collapse() + bum_storm(), tmp_path)
    by_kind = {a.kind: a for a in report.anomalies}
    assert by_kind["missing-flood-peer"].details["missing"] == [C] and by_kind["missing-flood-peer"].src == B
    assert "leaf-c (10.99.0.3)" in by_kind["missing-flood-peer"].message
    entropy = by_kind["low-source-port-entropy"].details
    assert entropy["flows"] >= 60 and entropy["source_ports"] < entropy["flows"] / 3 and entropy["ratio"] < 0.5
    assert by_kind["bum-rate"].vni == 10010 and by_kind["bum-rate"].details["peak_pps"] > 1000


def test_capture_file_problem_is_reported(tmp_path: Path) -> None:
    report = analyse(clean_traffic(), tmp_path, extra=b"\x01\x02\x03")
    assert [a.kind for a in report.anomalies] == ["capture-file"]


def test_checks_without_intent_skip_intent_checks(tmp_path: Path) -> None:
    path = tmp_path / "no-intent.pcap"
    wrpcap(str(path), [*clean_traffic(), vxlan(STRANGER, A, 77, inner_tcp("1.1.1.1", "2.2.2.2", 1, tags=1), T0)])
    table, stats = decode_capture(path)
    analyzer = Analyzer()
    analyzer.add(table)
    report = analyzer.report(stats)
    assert {a.kind for a in report.anomalies} == {"inner-vlan-tag"}
    assert report.tenants == {} and report.vnis[77].tenant is None
