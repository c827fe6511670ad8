"""Real traffic: kernel VTEPs in namespaces, captured with tcpdump, decoded and checked against the intent."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.monitor.monitor_lab import INTENT, MonitorLab, Segment
from tests.monitor.packets import ethernet, ipv4_header, udp
from vxauto.monitor.analysis import Analyzer, Report
from vxauto.monitor.decode import decode_capture
from vxauto.monitor.intent import IntentView

pytestmark = pytest.mark.lab

CLEAN = (Segment(10010, "10.10.10"), Segment(10030, "10.20.30"))


def analyse(path: Path) -> Report:
    intent = IntentView.load(INTENT)
    table, stats = decode_capture(path, (4789, 8472))
    analyzer = Analyzer(intent)
    analyzer.add(table)
    return analyzer.report(stats, str(path))


def tshark_vnis(path: Path, *decode_as: str) -> Counter[int]:
    extra = [arg for port in decode_as for arg in ("-d", f"udp.port=={port},vxlan")]
    out = subprocess.run(["tshark", "-n", "-r", str(path), *extra, "-T", "fields", "-e", "vxlan.vni"],
                         capture_output=True, text=True, check=True).stdout
    return Counter(int(line) for line in out.split() if line)


def test_clean_lab_traffic_has_no_anomalies(monitor_lab: MonitorLab, tmp_path: Path) -> None:
    monitor_lab.build(CLEAN)
    capture = tmp_path / "clean.pcap"
    tcpdump = monitor_lab.start_capture("mon-a", "und", capture)
    monitor_lab.ping("mon-a", "10.10.10.2")
    monitor_lab.ping("mon-b", "10.20.30.1")
    monitor_lab.tcp_transfer("mon-b", "10.20.30.2", "mon-a")
    monitor_lab.stop(tcpdump)

    report = analyse(capture)

    assert report.anomalies == [], [a.message for a in report.anomalies]
    assert set(report.vnis) == {10010, 10030}
    red, blue = report.vnis[10010], report.vnis[10030]
    assert red.tenant == "red" and blue.tenant == "blue"
    assert red.broadcast >= 1 and blue.broadcast >= 1  # the ARP requests before the first echo
    assert red.unicast >= 8 and blue.unicast >= 8  # echo requests and replies
    assert set(report.vteps) == {"10.99.0.1", "10.99.0.2"}
    assert report.vteps["10.99.0.1"]["name"] == "leaf-a"
    icmp = {(f.vni, f.src, f.dst) for f in report.flows if f.proto == "icmp"}
    assert {(10010, "10.10.10.1", "10.10.10.2"), (10010, "10.10.10.2", "10.10.10.1"),
            (10030, "10.20.30.2", "10.20.30.1")} <= icmp
    if shutil.which("iperf3"):
        assert any(f.proto == "tcp" and f.dport == 5201 and f.vni == 10030 for f in report.flows)
    if shutil.which("tshark"):
        assert tshark_vnis(capture) == Counter({vni: s.packets for vni, s in report.vnis.items()})


def test_misconfigured_lab_traffic_shows_each_fault(monitor_lab: MonitorLab, tmp_path: Path) -> None:
    """Underlay MTU 1500 (intent: 1550), VNI 10030 on the kernel's default port 8472, VNI 10020 on leaf-b
    (the intent attaches it to leaf-a only), and 802.1Q-tagged frames bridged into VNI 10010."""
    monitor_lab.build(
        (Segment(10010, "10.10.10"), Segment(10020, "10.10.20"), Segment(10030, "10.20.30", dstport=None)),
        underlay_mtu=1500,
    )
    capture = tmp_path / "faults.pcap"
    tcpdump = monitor_lab.start_capture("mon-a", "und", capture)
    monitor_lab.ping("mon-a", "10.10.10.2", count=3, size=1460)  # outer packet 1538 bytes > underlay MTU 1500
    monitor_lab.ping("mon-a", "10.10.20.2", count=2)
    monitor_lab.ping("mon-a", "10.20.30.2", count=2)
    # A host behind leaf-a sending tagged frames: the kernel bridge floods them into the tunnel as they are.
    tagged = ethernet(0xFFFFFFFFFFFF, 0x02AA00000001, 0x0800,
                      ipv4_header(bytes([10, 10, 10, 9]), bytes([10, 10, 10, 255]), 17, 8) + udp(9, 9, b""),
                      tags=((0x8100, 5),))
    monitor_lab.send_frames("mon-a", "br10010", tagged, count=2)
    monitor_lab.stop(tcpdump)

    report = analyse(capture)
    kinds = Counter(a.kind for a in report.anomalies)

    assert kinds["outer-fragmented"] >= 1
    assert any(a.kind == "unexpected-udp-port" and a.details["port"] == 8472 for a in report.anomalies)
    unexpected = [a for a in report.anomalies if a.kind == "unexpected-vni"]
    assert {(a.src, a.vni) for a in unexpected} == {("10.99.0.2", 10020)}
    tagged = [a for a in report.anomalies if a.kind == "inner-vlan-tag"]
    assert tagged and all(a.vni == 10010 and a.details["vlans"] == [5] for a in tagged)
    # The first big echo is fragmented outside (later ones inside, once the kernel learnt the path MTU).
    assert report.decode.reassembled["vxlan"] >= 1
    assert report.vnis[10010].max_inner_len >= 1460 + 28 + 14
    assert not {"unknown-vtep", "unknown-vni", "bad-vxlan-flags", "malformed-packets"} & set(kinds)
    if shutil.which("tshark"):
        # tshark counts the reassembled datagrams, not the fragments: the same packets per VNI as vxauto.
        assert tshark_vnis(capture, "8472") == Counter({vni: s.packets for vni, s in report.vnis.items()})


def test_capture_during_an_action(monitor_lab: MonitorLab) -> None:
    """The hook for `vxauto validate --traffic`: capture while the data-plane checks run."""
    from vxauto.monitor.live import capture_during

    monitor_lab.build(CLEAN)
    report = capture_during(lambda: monitor_lab.ping("mon-b", "10.10.10.1", count=3), "und", "mon-a",
                            IntentView.load(INTENT))
    assert report.vnis[10010].packets >= 6 and report.anomalies == []
    assert report.source == "live netns mon-a und"
