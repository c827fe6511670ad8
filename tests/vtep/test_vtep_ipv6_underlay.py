"""IPv6 underlay: pyvtep <-> Linux kernel VXLAN, VXLAN over UDP/IPv6 (RFC 7348 section 5 allows it).

    pv-6h1 (.83.1, fd00:83::1) --br3300-- pv-61 [pyvtep fd00:77::1] ==veth== pv-62 [kernel vx3300 fd00:77::2]
                                                                                   --br3300-- pv-6h2 (.83.2, fd00:83::2)

The underlay link has IPv6 addresses only, so every tunnelled frame must travel over IPv6: the capture
on the underlay counts VXLAN datagrams over IPv6 (the positive control) and over IPv4 (must be none).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dpkt
import pytest
from vtep_lab import Capture, Lab, have_root_and_tools, sums_to_ffff, wait_for

from vxauto.vtep.api import request

pytestmark = pytest.mark.lab

VNI = 3300
PYVTEP_IP, KERNEL_IP = "fd00:77::1", "fd00:77::2"
HOST_1, HOST_2 = ("192.168.83.1", "fd00:83::1"), ("192.168.83.2", "fd00:83::2")
TAP_MTU = 1500 - 70  # IPv6 underlay: outer IPv6 40 + UDP 8 + VXLAN 8 + inner Ethernet 14


def _build(lab: Lab) -> Path:
    lab.netns("pv-61")
    lab.netns("pv-62")
    lab.veth("pv-61", "pv61u", "pv-62", "pv62u")
    # Checksums computed before the capture point (not left to "offload"), so the capture can check them.
    lab.run("pv-61", "ethtool", "-K", "pv61u", "tx", "off")
    lab.run("pv-61", "ip", "-6", "addr", "add", f"{PYVTEP_IP}/64", "dev", "pv61u", "nodad")
    lab.run("pv-62", "ip", "-6", "addr", "add", f"{KERNEL_IP}/64", "dev", "pv62u", "nodad")
    for ns in ("pv-61", "pv-62"):
        lab.bridge(ns, f"br{VNI}")
    lab.kernel_vxlan("pv-62", VNI, KERNEL_IP, bridge=f"br{VNI}", mtu=TAP_MTU)
    lab.run("pv-62", "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", f"vx{VNI}", "dst", PYVTEP_IP)
    for index, (name, vtep, (v4, v6)) in enumerate((("pv-6h1", "pv-61", HOST_1), ("pv-6h2", "pv-62", HOST_2)), 1):
        lab.host(name, vtep, f"br{VNI}", f"{v4}/24", f"pv6h{index}")
        lab.run(name, "ip", "-6", "addr", "add", f"{v6}/64", "dev", "eth0", "nodad")
        lab.run(name, "ip", "link", "set", "eth0", "mtu", str(TAP_MTU))
    _process, _config, socket_path = lab.pyvtep("pv-61", {
        "local_ip": PYVTEP_IP,
        "vnis": [{"vni": VNI, "tap": f"pvt{VNI}", "bridge": f"br{VNI}", "flood": [KERNEL_IP]}],
    }, "pv6")
    return socket_path


def _ping(lab: Lab, ns: str, target: str, size: int) -> bool:
    """One echo of `size` payload bytes, never fragmented (-M do): the frame must fit the TAP MTU."""
    family = "-6" if ":" in target else "-4"
    done = lab.run(ns, "ping", family, "-c", "1", "-W", "2", "-M", "do", "-s", str(size), target, check=False)
    return done.returncode == 0


def _udp6_checksum_ok(ip6: dpkt.ip6.IP6) -> bool:
    udp = bytes(ip6.data)
    pseudo = ip6.src + ip6.dst + len(udp).to_bytes(4, "big") + bytes(3) + b"\x11"
    return sums_to_ffff(pseudo + udp) and udp[6:8] != b"\0\0"


@pytest.fixture
def ipv6_lab(vtep_lab: Lab) -> Iterator[Lab]:
    reason = have_root_and_tools("ping", "tcpdump", "bridge", "ethtool")
    if reason:
        pytest.skip(reason)
    yield vtep_lab


def test_pyvtep_and_kernel_vxlan_over_an_ipv6_underlay(ipv6_lab: Lab, tmp_path: Path) -> None:
    lab = ipv6_lab
    socket_path = _build(lab)
    capture = Capture(lab, "pv-61", "pv61u", tmp_path / "underlay.pcap")
    # Both directions, each side speaking first once, frames from minimal to the full TAP MTU.
    sizes_v4 = (56, 1000, TAP_MTU - 28)  # ICMP payload; + 8 ICMP + 20 IPv4 = the inner IP packet
    sizes_v6 = (56, TAP_MTU - 48)  # + 8 ICMPv6 + 40 IPv6
    for size in sizes_v4:
        assert _ping(lab, "pv-6h1", HOST_2[0], size), (size, lab.log("pv6.log"))
        assert _ping(lab, "pv-6h2", HOST_1[0], size), size
    for size in sizes_v6:
        assert _ping(lab, "pv-6h2", HOST_1[1], size), size
        assert _ping(lab, "pv-6h1", HOST_2[1], size), size
    # A frame one byte over the TAP MTU cannot be sent (the host refuses it locally), so nothing was cut.
    assert not _ping(lab, "pv-6h1", HOST_2[0], TAP_MTU - 27)
    echoes = 2 * 2 * (len(sizes_v4) + len(sizes_v6))  # request + reply, both directions

    def vxlan_over(frames: list[bytes]) -> tuple[list[dpkt.ip6.IP6], int]:
        over_v6, over_v4 = [], 0
        for raw in frames:
            outer = dpkt.ethernet.Ethernet(raw)
            if isinstance(outer.data, dpkt.ip.IP):
                over_v4 += 1
            elif isinstance(outer.data, dpkt.ip6.IP6) and isinstance(outer.data.data, dpkt.udp.UDP):
                over_v6.append(outer.data)
        return over_v6, over_v4

    def echoes_seen() -> bool:
        over_v6, _ = vxlan_over(capture.frames())
        icmp = 0
        for ip6 in over_v6:
            inner = dpkt.ethernet.Ethernet(bytes(ip6.data.data)[8:])
            icmp += isinstance(inner.data, dpkt.ip.IP) and isinstance(inner.data.data, dpkt.icmp.ICMP)
            icmp += isinstance(inner.data, dpkt.ip6.IP6) and isinstance(inner.data.data, dpkt.icmp6.ICMP6) and \
                inner.data.data.type in (128, 129)
        return icmp >= echoes

    wait_for(echoes_seen, 10, f"{echoes} echo frames in the underlay capture")
    over_v6, over_v4 = vxlan_over(capture.frames())
    assert over_v4 == 0  # nothing tunnelled over IPv4 ...
    from_pyvtep = [ip6 for ip6 in over_v6 if ip6.src == ipaddress.ip_address(PYVTEP_IP).packed]
    assert from_pyvtep and len(from_pyvtep) < len(over_v6)  # ... while both sides sent over IPv6
    for ip6 in from_pyvtep:
        udp = ip6.data
        assert udp.dport == 4789 and 49152 <= udp.sport <= 49167
        assert bytes(udp.data[:8]) == bytes([0x08, 0, 0, 0]) + VNI.to_bytes(3, "big") + b"\0"
        assert _udp6_checksum_ok(ip6), "outer UDP checksum over IPv6 must be present and correct"
    sizes = {len(ip6.data.data) - 8 for ip6 in from_pyvtep}
    assert max(sizes) == TAP_MTU + 14  # a full-MTU inner frame went through whole

    counters = request(socket_path, "counters")["vnis"][str(VNI)]
    assert counters["rx_packets"] >= echoes // 2 and counters["tx_packets"] >= echoes // 2
    assert counters["tx_drop_send_error"] == counters["tx_drop_oversized"] == 0
    kernel_host_mac = lab.run("pv-6h2", "cat", "/sys/class/net/eth0/address").stdout.strip()
    learned = {row["mac"]: row for row in request(socket_path, "macs", vni=VNI)}
    assert learned[kernel_host_mac]["remote"] == KERNEL_IP  # learned from the IPv6 source address
    status = request(socket_path, "status")
    assert status["local_ip"] == PYVTEP_IP and status["kernel_segmentation"] is None


_SINK = """
import hashlib, socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
server = socket.create_server((sys.argv[1], 5301), family=family)
print("ready", flush=True)
connection, _ = server.accept()
digest, count = hashlib.sha256(), 0
while data := connection.recv(1 << 16):
    digest.update(data)
    count += len(data)
print(count, digest.hexdigest(), flush=True)
"""
_SOURCE = """
import hashlib, random, socket, sys
data = random.Random(7).randbytes(int(sys.argv[2]))
with socket.create_connection((sys.argv[1], 5301)) as connection:
    connection.sendall(data)
print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"""


def _tcp_transfer(lab: Lab, source: str, sink: str, sink_ip: str, size: int) -> tuple[str, str]:
    """Send `size` bytes over one TCP connection; (what the source sent, what the sink got): count + SHA-256."""
    sink_process = subprocess.Popen(["ip", "netns", "exec", sink, sys.executable, "-c", _SINK, sink_ip],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lab.processes.append(("tcp-sink", sink_process))
    assert sink_process.stdout is not None
    said = b""
    while b"ready\n" not in said:  # the sink's own sign that it listens
        chunk = os.read(sink_process.stdout.fileno(), 4096)
        assert chunk, sink_process.stderr.read() if sink_process.stderr else "sink exited"
        said += chunk
    sent = lab.run(source, sys.executable, "-c", _SOURCE, sink_ip, str(size), timeout=60).stdout.strip()
    rest, _ = sink_process.communicate(timeout=30)
    return sent, (said + rest).decode().split("ready\n", 1)[1].strip()


def test_tcp_both_ways_over_the_ipv6_underlay(ipv6_lab: Lab) -> None:
    """A TCP stream each way: TSO super-frames from the host are cut by pyvtep (no kernel segmentation over
    IPv6) and leave as UDP GSO to an IPv6 destination; the kernel's stream comes back the other way."""
    lab = ipv6_lab
    socket_path = _build(lab)
    size = 8 * 1024 * 1024
    sent, got = _tcp_transfer(lab, "pv-6h1", "pv-6h2", HOST_2[0], size)
    assert got == sent and sent.startswith(f"{size} ")
    counters = request(socket_path, "counters")
    assert counters["global"]["super_frames_tx"] > 0 and counters["global"]["kernel_segmented"] == 0
    sent, got = _tcp_transfer(lab, "pv-6h2", "pv-6h1", HOST_1[1], size)
    assert got == sent
    after = request(socket_path, "counters")
    assert after["vnis"][str(VNI)]["rx_bytes"] > counters["vnis"][str(VNI)]["rx_bytes"] + size
    assert after["vnis"][str(VNI)]["tx_drop_send_error"] == 0 and after["global"]["internal_errors"] == 0
