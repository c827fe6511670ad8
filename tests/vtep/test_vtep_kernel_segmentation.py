"""Kernel segmentation of encapsulated TCP super-frames (tunnel.py): headers, and real wire frames.

    pv-s1 [pyvtep, TAP 192.168.43.1]  ==veth pvs1u/pvs2u==  pv-s2 [kernel vx43, 192.168.43.2]
              10.75.0.1                                              10.75.0.2

The lab test switches off tunnel segmentation and checksum offload on pyvtep's underlay veth, so the
kernel must cut every super-frame pyvtep hands it into MTU-sized VXLAN datagrams and complete all
checksums in software before the veth: the capture then holds exactly what a real NIC would send.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import dpkt
import pytest
from scapy.layers.inet import IP, TCP, UDP, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw
from vtep_lab import Lab, have_root_and_tools, ping, sums_to_ffff, tunnel_gso_unsupported, wait_for

from vxauto.vtep.api import request
from vxauto.vtep.headers import parse_layers
from vxauto.vtep.kernel import VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, VNET_GSO_UDP_TUNNEL_IPV4, VNET_TUNNEL_HDR
from vxauto.vtep.packet import vxlan_header
from vxauto.vtep.tunnel import OUTER_LEN, TunnelHeaders, gso_tap_name

VNI = 43
PYVTEP_IP, KERNEL_IP = "10.75.0.1", "10.75.0.2"
TAP_MAC = bytes.fromhex("02aabbccddee")


def _super_frame(payload: int = 20000) -> bytes:
    tcp = TCP(sport=40000, dport=5201, seq=1, flags="PA", options=[("NOP", None), ("NOP", None),
                                                                  ("Timestamp", (7, 9))])
    return bytes(Ether() / IP(src="192.168.43.1", dst="192.168.43.2") / tcp / Raw(bytes(payload)))


@pytest.mark.parametrize("udp_checksum", [True, False])
def test_tunnel_headers_make_one_valid_vxlan_packet_around_the_super_frame(udp_checksum: bool) -> None:
    frame = _super_frame()
    layers = parse_layers(frame)
    builder = TunnelHeaders(TAP_MAC, PYVTEP_IP, 4789, df=True, udp_checksum=udp_checksum)
    vnet, outer = builder.build(len(frame), layers, VNET_GSO_TCPV4, 1398, 15, KERNEL_IP, 49160, vxlan_header(VNI))
    packet = Ether(outer + frame)
    assert packet.dst == "02:aa:bb:cc:dd:ee"  # addressed to the GSO TAP: the kernel routes it as its own
    ip, udp = packet[IP], packet[UDP]
    assert (ip.src, ip.dst, ip.flags.DF, ip.ttl, ip.len) == (PYVTEP_IP, KERNEL_IP, True, 64, 20 + 16 + len(frame))
    fresh = IP(bytes(ip))
    del fresh.chksum
    assert IP(bytes(fresh)).chksum == ip.chksum, "outer IPv4 header checksum"
    assert (udp.sport, udp.dport, udp.len) == (49160, 4789, 16 + len(frame))
    assert packet[VXLAN].vni == VNI and packet[VXLAN].flags == 0x08
    assert bytes(packet[VXLAN].payload) == frame, "the inner super-frame is carried unchanged"
    flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, _, _, _, _, outer_th, inner_nh = (
        VNET_TUNNEL_HDR.unpack(vnet))
    assert gso_type == VNET_GSO_TCPV4 | VNET_GSO_UDP_TUNNEL_IPV4 and gso_size == 1398
    assert flags & VNET_F_NEEDS_CSUM and bool(flags & 0x08) == udp_checksum
    assert (outer_th, inner_nh, csum_start, csum_offset) == (34, OUTER_LEN + 14, OUTER_LEN + 34, 16)
    assert hdr_len == OUTER_LEN + layers.payload
    if udp_checksum:  # the pseudo-header sum, for GSO to complete per datagram
        pseudo = sum(int.from_bytes(b, "big") for b in (bytes(ip)[12:14], bytes(ip)[14:16], bytes(ip)[16:18],
                                                           bytes(ip)[18:20])) + 17 + udp.len
        while pseudo >> 16:
            pseudo = (pseudo & 0xFFFF) + (pseudo >> 16)
        assert udp.chksum == pseudo
    else:
        assert udp.chksum == 0
    _, outer_next = builder.build(len(frame), layers, VNET_GSO_TCPV4, 1398, 15, KERNEL_IP, 49160, vxlan_header(VNI))
    assert Ether(outer_next + frame)[IP].id == (ip.id + 15) & 0xFFFF  # one ID per segment GSO makes


def test_gso_tap_name_is_a_valid_interface_name() -> None:
    names = {gso_tap_name(f"vtep-{index}") for index in range(50)}
    assert len(names) == 50 and all(len(name) <= 15 and name.startswith("pvgso") for name in names)


def _tcp_checksum_ok(inner_ip: dpkt.ip.IP) -> bool:
    packet = bytes(inner_ip)
    header_len = (packet[0] & 0x0F) * 4
    segment = packet[header_len : inner_ip.len]
    pseudo = packet[12:20] + bytes([0, 6]) + len(segment).to_bytes(2, "big")
    return sums_to_ffff(pseudo + segment)


def _udp_checksum_ok(ip: dpkt.ip.IP) -> bool:
    datagram = bytes(ip)[20 : ip.len]
    pseudo = bytes(ip)[12:20] + bytes([0, 17]) + len(datagram).to_bytes(2, "big")
    return datagram[6:8] == b"\0\0" or sums_to_ffff(pseudo + datagram)


def _build(lab: Lab, offload_on_underlay: bool, **config: object) -> Path:
    """The two namespaces, the kernel VTEP and pyvtep; returns pyvtep's API socket."""
    reason = have_root_and_tools("iperf3", "ethtool", "nstat")
    if reason:
        pytest.skip(reason)
    lab.netns("pv-s1")
    lab.netns("pv-s2")
    unsupported = tunnel_gso_unsupported(lab, "pv-s1")
    if unsupported and config.get("kernel_segmentation", True):
        pytest.skip(unsupported)
    lab.veth("pv-s1", "pvs1u", "pv-s2", "pvs2u")
    lab.address("pv-s1", "pvs1u", f"{PYVTEP_IP}/24")
    lab.address("pv-s2", "pvs2u", f"{KERNEL_IP}/24")
    lab.kernel_vxlan("pv-s2", VNI, KERNEL_IP)
    lab.run("pv-s2", "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", f"vx{VNI}", "dst", PYVTEP_IP)
    lab.address("pv-s2", f"vx{VNI}", "192.168.43.2/24")
    if not offload_on_underlay:  # like a NIC without VXLAN TSO or checksum offload: software GSO and sums
        lab.run("pv-s1", "ethtool", "-K", "pvs1u", "tx", "off", "tx-udp_tnl-segmentation", "off",
                "tx-udp_tnl-csum-segmentation", "off")
    _process, _config, socket_path = lab.pyvtep("pv-s1", {
        "local_ip": PYVTEP_IP, **config,
        "vnis": [{"vni": VNI, "tap": "pvs43", "address": "192.168.43.1/24", "flood": [KERNEL_IP]}],
    }, "pvs")
    assert ping(lab, "pv-s1", "192.168.43.2")
    return socket_path


def _iperf(lab: Lab, seconds: int) -> int:
    """Bytes iperf3 moved from pv-s1 to pv-s2 over VNI 43."""
    server = subprocess.Popen(["ip", "netns", "exec", "pv-s2", "iperf3", "-s", "-1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        done = lab.run("pv-s1", "iperf3", "-c", "192.168.43.2", "-t", str(seconds), "-J", timeout=30)
    finally:
        server.wait(timeout=10)
    return int(json.loads(done.stdout)["end"]["sum_received"]["bytes"])


@pytest.mark.lab
def test_kernel_cuts_super_frames_into_valid_wire_frames(vtep_lab: Lab, tmp_path: Path) -> None:
    lab = vtep_lab
    socket_path = _build(lab, offload_on_underlay=False)
    pcap = tmp_path / "wire.pcap"
    tcpdump = subprocess.Popen(["ip", "netns", "exec", "pv-s1", "tcpdump", "-i", "pvs1u", "-U", "-c", "3000", "-w",
                                str(pcap), "udp", "port", "4789", "and", "src", "host", PYVTEP_IP],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(pcap.exists, 5, "tcpdump to start")
        assert _iperf(lab, 1) > 1_000_000
    finally:
        tcpdump.terminate()
        tcpdump.wait(timeout=5)
    counters = request(socket_path, "counters")
    assert counters["global"]["kernel_segmented"] > 0 and counters["global"]["internal_errors"] == 0
    assert counters["vnis"][str(VNI)]["tx_drop_send_error"] == 0
    assert gso_tap_name("pvs") in lab.run("pv-s1", "ip", "-br", "link").stdout
    errors = lab.run("pv-s2", "nstat", "-az", "TcpInCsumErrors", "UdpInCsumErrors", "IpInHdrErrors").stdout
    assert all(line.split()[1] == "0" for line in errors.splitlines() if line and not line.startswith("#")), errors

    data_segments = 0
    for _ts, raw in dpkt.pcap.Reader(io.BytesIO(pcap.read_bytes())):
        assert len(raw) <= 1514, "a wire frame, never a super-frame"
        ip = dpkt.ethernet.Ethernet(raw).data
        assert sums_to_ffff(bytes(ip)[:20]) and ip.df and ip.len == len(ip)
        udp = ip.data
        assert udp.dport == 4789 and 49152 <= udp.sport <= 49167 and _udp_checksum_ok(ip)
        header = bytes(udp.data[:8])
        assert header == bytes([0x08, 0, 0, 0]) + VNI.to_bytes(3, "big") + b"\0"
        inner_ip = dpkt.ethernet.Ethernet(bytes(udp.data[8:])).data
        if not isinstance(inner_ip, dpkt.ip.IP):
            continue  # the TAP's own IPv6 neighbour discovery, ARP
        assert sums_to_ffff(bytes(inner_ip)[:20]), "inner IPv4 header checksum"
        if isinstance(inner_ip.data, dpkt.tcp.TCP):
            assert _tcp_checksum_ok(inner_ip), "inner TCP checksum"
            if len(inner_ip.data.data) > 1000:
                assert len(inner_ip.data.data) <= 1450 - 52  # cut at the MSS of the 1450-byte TAP MTU
                data_segments += 1
    assert data_segments > 500


@pytest.mark.lab
def test_falls_back_to_python_segmentation_when_the_kernel_stops_forwarding(vtep_lab: Lab) -> None:
    lab = vtep_lab
    socket_path = _build(lab, offload_on_underlay=True, mac_aging=2)  # health checked every 0.2 s
    assert _iperf(lab, 1) > 1_000_000
    assert request(socket_path, "status")["kernel_segmentation"] == gso_tap_name("pvs")
    before = request(socket_path, "counters")["global"]
    assert before["kernel_segmented"] > 0
    lab.run("pv-s1", "sh", "-c", f"echo 0 > /proc/sys/net/ipv4/conf/{gso_tap_name('pvs')}/forwarding")
    assert _iperf(lab, 2) > 1_000_000  # TCP recovers once pyvtep cuts super-frames itself again
    after = request(socket_path, "counters")["global"]
    assert request(socket_path, "status")["kernel_segmentation"] is None
    assert after["super_frames_tx"] - after["kernel_segmented"] > before["super_frames_tx"] - before["kernel_segmented"]
    assert after["internal_errors"] == 0
    assert "were not forwarded" in lab.log("pvs.log")


_UDP_SENDER = """
import socket, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for burst in range(60):
    for index in range(burst * 50, burst * 50 + 50):
        sock.sendto(index.to_bytes(4, "big") * 25, (sys.argv[1], 7001))
    time.sleep(0.002)
"""
_UDP_RECEIVER = """
import json, socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
sock.bind((sys.argv[1], 7001))
sock.settimeout(2.0)
print("ready", flush=True)
seen, bad = set(), 0
try:
    while len(seen) < 3000:
        data = sock.recv(2048)
        index = int.from_bytes(data[:4], "big")
        bad += data != index.to_bytes(4, "big") * 25
        seen.add(index)
except TimeoutError:
    pass
print(json.dumps({"received": len(seen), "bad": bad}), flush=True)
"""


def _udp_burst(lab: Lab, sender_ns: str, receiver_ns: str, receiver_ip: str) -> dict[str, int]:
    """3,000 datagrams of 100 bytes in bursts of 50; what the receiver got, each checked byte for byte."""
    receiver = subprocess.Popen(["ip", "netns", "exec", receiver_ns, sys.executable, "-c", _UDP_RECEIVER, receiver_ip],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        lab.run(sender_ns, sys.executable, "-c", _UDP_SENDER, receiver_ip, timeout=30)
        result: dict[str, int] = json.loads(receiver.communicate(timeout=30)[0])
    finally:
        if receiver.poll() is None:
            receiver.kill()
    return result


@pytest.mark.lab
def test_small_datagram_bursts_keep_their_boundaries_both_ways(vtep_lab: Lab) -> None:
    """Runs of small datagrams leave pyvtep as one UDP GSO send and arrive at its TAP as one USO write
    (software UDP GRO); either way every datagram must come out whole, alone and unchanged."""
    lab = vtep_lab
    socket_path = _build(lab, offload_on_underlay=True, kernel_segmentation=False)  # small frames only
    before = request(socket_path, "counters")["global"]
    assert _udp_burst(lab, "pv-s1", "pv-s2", "192.168.43.2") == {"received": 3000, "bad": 0}
    assert _udp_burst(lab, "pv-s2", "pv-s1", "192.168.43.1") == {"received": 3000, "bad": 0}
    after = request(socket_path, "counters")["global"]
    assert after["gso_runs_tx"] > before["gso_runs_tx"], "pyvtep -> kernel: runs sent with UDP GSO"
    assert after["super_frames_rx"] > before["super_frames_rx"], "kernel -> pyvtep: runs merged for the TAP"
    assert after["internal_errors"] == 0
