"""pyvtep <-> Linux kernel VXLAN with static flood lists, in real network namespaces.

    pv-kh1 (.50.11) --br1001--+                                 +--br1001-- pv-kh3 (.50.21)
                              pv-k1 [pyvtep] ==veth== pv-k2 [kernel vx1001/vx1002]
    pv-kh2 (.50.12) --br1002--+   10.77.0.1      10.77.0.2      +--br1002-- pv-kh4 (.50.22)

Both VNIs use the same IP subnet, so a leak between them would show as a successful ping.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest
import yaml
from vtep_lab import Lab, have_root_and_tools, ping, sums_to_ffff, tunnel_gso_unsupported, wait_for

from vxauto.vtep.api import request

pytestmark = pytest.mark.lab

VNI_A, VNI_B = 1001, 1002
PYVTEP_IP, KERNEL_IP = "10.77.0.1", "10.77.0.2"
HOSTS = {  # name: (VTEP namespace, VNI, address)
    "pv-kh1": ("pv-k1", VNI_A, "192.168.50.11"),
    "pv-kh2": ("pv-k1", VNI_B, "192.168.50.12"),
    "pv-kh3": ("pv-k2", VNI_A, "192.168.50.21"),
    "pv-kh4": ("pv-k2", VNI_B, "192.168.50.22"),
}
SOURCE_PORTS = (49152, 49167)


class Topology:
    def __init__(self, lab: Lab, process: subprocess.Popen[bytes], config_path: Path, socket_path: Path,
                 config: dict[str, Any]) -> None:
        self.lab, self.process, self.config_path, self.socket = lab, process, config_path, socket_path
        self.config = config

    def api(self, op: str, **arguments: Any) -> Any:
        return request(self.socket, op, **arguments)


def _build(lab: Lab, datapath: str) -> Topology:
    lab.netns("pv-k1")
    lab.netns("pv-k2")
    lab.veth("pv-k1", "pvk1u", "pv-k2", "pvk2u")
    lab.address("pv-k1", "pvk1u", f"{PYVTEP_IP}/24")
    lab.address("pv-k2", "pvk2u", f"{KERNEL_IP}/24")
    for ns in ("pv-k1", "pv-k2"):
        for vni in (VNI_A, VNI_B):
            lab.bridge(ns, f"br{vni}")
    for vni in (VNI_A, VNI_B):
        lab.kernel_vxlan("pv-k2", vni, KERNEL_IP, bridge=f"br{vni}")
        lab.run("pv-k2", "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", f"vx{vni}", "dst", PYVTEP_IP)
    for index, (name, (vtep, vni, address)) in enumerate(HOSTS.items(), start=1):
        lab.host(name, vtep, f"br{vni}", f"{address}/24", f"pvkh{index}")
    config = {
        "local_ip": PYVTEP_IP,
        "source_ports": f"{SOURCE_PORTS[0]}-{SOURCE_PORTS[1]}",
        "mac_aging": 300,
        "datapath": datapath,
        "vnis": [
            {"vni": VNI_A, "tap": f"pvt{VNI_A}", "bridge": f"br{VNI_A}", "flood": [KERNEL_IP]},
            {"vni": VNI_B, "tap": f"pvt{VNI_B}", "bridge": f"br{VNI_B}", "flood": [KERNEL_IP]},
        ],
    }
    process, config_path, socket_path = lab.pyvtep("pv-k1", config, "pvk")
    return Topology(lab, process, config_path, socket_path, config)


@pytest.fixture(scope="module", params=["tap", "packet-ring"])
def topo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """The whole module runs on both local sides: a TAP per VNI, and the veth + TPACKET_V3 ring."""
    reason = have_root_and_tools("tcpdump", "bridge", "ping")
    if reason:
        pytest.skip(reason)
    lab = Lab(tmp_path_factory.mktemp("pvk"))
    try:
        topology = _build(lab, request.param)
        assert topology.api("status")["datapath"] == request.param
        yield topology
    finally:
        lab.close()


def test_ping_both_ways_on_two_vnis(topo: Topology) -> None:
    lab = topo.lab
    assert ping(lab, "pv-kh1", "192.168.50.21"), lab.log("pvk.log")  # VNI A, pyvtep side first
    assert ping(lab, "pv-kh3", "192.168.50.11")  # VNI A, kernel side first
    assert ping(lab, "pv-kh4", "192.168.50.12")  # VNI B, kernel side first
    assert ping(lab, "pv-kh2", "192.168.50.22")  # VNI B, pyvtep side first
    counters = topo.api("counters")["vnis"]
    for vni in (VNI_A, VNI_B):
        assert counters[str(vni)]["rx_packets"] >= 4
        assert counters[str(vni)]["tx_packets"] >= 4
    macs = topo.api("macs", vni=VNI_A)
    remote_macs = [row for row in macs if row["remote"] == KERNEL_IP and row["type"] == "learned"]
    local_macs = [row for row in macs if row["local"]]
    assert remote_macs and local_macs  # the kernel-side host was learned, the pyvtep-side host too
    vteps = topo.api("vteps")
    assert {(row["vni"], row["remote"]) for row in vteps} >= {(VNI_A, KERNEL_IP), (VNI_B, KERNEL_IP)}


def test_no_leak_between_vnis(topo: Topology) -> None:
    lab = topo.lab
    assert ping(lab, "pv-kh1", "192.168.50.21")  # the path itself works
    lab.run("pv-kh1", "ip", "neigh", "flush", "all")
    lab.run("pv-kh2", "ip", "neigh", "flush", "all")
    assert not ping(lab, "pv-kh1", "192.168.50.22", count=2)  # VNI A host -> VNI B address
    assert not ping(lab, "pv-kh2", "192.168.50.21", count=2)  # VNI B host -> VNI A address
    assert not ping(lab, "pv-kh3", "192.168.50.12", count=2)  # kernel side, VNI A -> VNI B host
    # The ARP requests did cross the tunnel, but each inside its own VNI only:
    table_a = {row["mac"] for row in topo.api("macs", vni=VNI_A)}
    table_b = {row["mac"] for row in topo.api("macs", vni=VNI_B)}
    mac_kh4 = lab.run("pv-kh4", "cat", "/sys/class/net/eth0/address").stdout.strip()
    mac_kh3 = lab.run("pv-kh3", "cat", "/sys/class/net/eth0/address").stdout.strip()
    assert mac_kh4 not in table_a
    assert mac_kh3 not in table_b


def _capture(topo: Topology, seconds_of_traffic: list[tuple[str, str]], path: Path) -> bytes:
    lab = topo.lab
    tcpdump = subprocess.Popen(
        ["ip", "netns", "exec", "pv-k1", "tcpdump", "-i", "pvk1u", "-U", "-w", str(path), "udp", "port", "4789"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        assert tcpdump.stderr is not None
        wait_for(lambda: path.exists() and path.stat().st_size > 0, 5, "tcpdump to start")
        time.sleep(0.2)
        for ns, target in seconds_of_traffic:
            assert ping(lab, ns, target, count=3)
        time.sleep(0.3)
    finally:
        tcpdump.send_signal(signal.SIGINT)
        tcpdump.wait(timeout=5)
    return path.read_bytes()


def test_capture_decodes_as_rfc7348(topo: Topology, tmp_path: Path) -> None:
    pcap = _capture(topo, [("pv-kh1", "192.168.50.21"), ("pv-kh2", "192.168.50.22")], tmp_path / "vx.pcap")
    subnet_vni = {"192.168.50.11": VNI_A, "192.168.50.21": VNI_A, "192.168.50.12": VNI_B,
                  "192.168.50.22": VNI_B}
    seen_vnis: set[int] = set()
    from_pyvtep = 0
    ports_by_flow: dict[tuple[int, bytes, bytes], set[int]] = {}
    for _ts, raw in dpkt.pcap.Reader(io.BytesIO(pcap)):
        eth = dpkt.ethernet.Ethernet(raw)
        ip = eth.data
        assert isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.udp.UDP)
        udp = ip.data
        assert udp.dport == 4789
        header = bytes(udp.data[:8])
        assert header[0] & 0x08, "I flag must be set"
        vni = int.from_bytes(header[4:7], "big")
        inner = dpkt.ethernet.Ethernet(bytes(udp.data[8:]))
        assert inner.type != 0x8100, "no inner 802.1Q tag may be carried by default"
        seen_vnis.add(vni)
        if isinstance(inner.data, dpkt.ip.IP) and isinstance(inner.data.data, dpkt.icmp.ICMP):
            inner_ip = inner.data
            source = ".".join(str(b) for b in inner_ip.src)
            assert subnet_vni[source] == vni, f"{source} seen in VNI {vni}"
        if ip.src == bytes([10, 77, 0, 1]):  # sent by pyvtep: the strict sender rules apply
            from_pyvtep += 1
            assert header == bytes([0x08, 0, 0, 0]) + header[4:7] + b"\x00", "reserved bits must be zero"
            assert ip.df, "outer DF must be set"
            assert SOURCE_PORTS[0] <= udp.sport <= SOURCE_PORTS[1]
            assert ip.len == len(ip)  # never fragmented
            if isinstance(inner.data, dpkt.ip.IP):
                inner_ip = inner.data
                packet = bytes(inner_ip)
                header_len = (packet[0] & 0x0F) * 4
                assert sums_to_ffff(packet[:header_len]), "inner IPv4 header checksum"
                if isinstance(inner_ip.data, dpkt.icmp.ICMP):
                    assert sums_to_ffff(packet[header_len:]), "inner ICMP checksum"
                ports_by_flow.setdefault((vni, inner_ip.src, inner_ip.dst), set()).add(udp.sport)
    assert from_pyvtep >= 6
    assert seen_vnis == {VNI_A, VNI_B}
    # one inner flow keeps one outer source port (ECMP must not reorder it)
    assert all(len(ports) == 1 for ports in ports_by_flow.values()), ports_by_flow


def test_inner_vlan_and_oversized_frames_are_dropped_and_counted(topo: Topology) -> None:
    lab = topo.lab
    before = topo.api("counters")["vnis"][str(VNI_A)]
    # Hosts on both sides send 802.1Q-tagged broadcasts (raw sockets: this kernel has no 8021q module).
    # pyvtep must neither tunnel them (encap side) nor deliver them (decap side; the kernel VTEP carries them).
    tagged = bytes.fromhex("ffffffffffff" "020000000007" "8100" "0007" "0806") + bytes(46)
    for ns in ("pv-kh1", "pv-kh3"):
        send_raw(lab, ns, "eth0", tagged, count=3)
    def vlan_drops() -> bool:
        now = topo.api("counters")["vnis"][str(VNI_A)]
        return (now["tx_drop_inner_vlan"] >= before["tx_drop_inner_vlan"] + 3
                and now["rx_drop_inner_vlan"] >= before["rx_drop_inner_vlan"] + 3)

    wait_for(vlan_drops, 5, "inner VLAN drops in both directions")
    # A frame bigger than the underlay can carry (TAP MTU raised behind pyvtep's back): dropped, not fragmented.
    for ns, device in (("pv-k1", "pvt1001"), ("pv-k1", "br1001"), ("pv-k1", "pvkh1"), ("pv-kh1", "eth0")):
        lab.run(ns, "ip", "link", "set", device, "mtu", "1500")
    assert ping(lab, "pv-kh1", "192.168.50.21", count=1)  # ARP resolved before the big frames
    big = lab.run("pv-kh1", "ping", "-c", "2", "-M", "do", "-s", "1472", "-W", "1", "192.168.50.21", check=False)
    assert big.returncode != 0
    assert ping(lab, "pv-kh1", "192.168.50.21")  # small frames still pass
    after = topo.api("counters")["vnis"][str(VNI_A)]
    assert after["tx_drop_oversized"] >= before["tx_drop_oversized"] + 2
    for ns, device in (("pv-kh1", "eth0"), ("pv-k1", "pvkh1"), ("pv-k1", "pvt1001"), ("pv-k1", "br1001")):
        lab.run(ns, "ip", "link", "set", device, "mtu", "1450")


def send_raw(lab: Lab, ns: str, device: str, frame: bytes, count: int) -> None:
    script = (
        "import socket,sys; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0));"
        "[s.send(bytes.fromhex(sys.argv[2])) for _ in range(int(sys.argv[3]))]"
    )
    lab.run(ns, sys.executable, "-c", script, device, frame.hex(), str(count))


def test_reload_keeps_learned_state(topo: Topology) -> None:
    lab = topo.lab
    assert ping(lab, "pv-kh1", "192.168.50.21")
    learned_before = {(r["mac"], r["remote"]) for r in topo.api("macs", vni=VNI_A) if r["type"] == "learned"}
    assert learned_before
    config = dict(topo.config)
    config["vnis"] = [dict(v) for v in config["vnis"]]
    config["vnis"][0]["macs"] = [{"mac": "02:00:00:aa:bb:cc", "remote": "10.77.0.99"}]
    config["vnis"][1]["flood"] = [KERNEL_IP, "10.77.0.98"]
    config["vnis"].append({"vni": 1003, "tap": "pvt1003", "flood": [KERNEL_IP]})
    full = {"name": "pvk", "api": {"socket": str(topo.socket)}, **config}
    topo.config_path.write_text(yaml.safe_dump(full, sort_keys=False))
    os.kill(topo.process.pid, signal.SIGHUP)  # `ip netns exec` execs, so this is pyvtep itself
    wait_for(lambda: 1003 in topo.api("status")["vnis"], 5, "reload via SIGHUP")
    table = topo.api("macs", vni=VNI_A)
    assert learned_before <= {(r["mac"], r["remote"]) for r in table if r["type"] == "learned"}
    assert {"mac": "02:00:00:aa:bb:cc", "remote": "10.77.0.99", "type": "static"}.items() <= next(
        r for r in table if r["mac"] == "02:00:00:aa:bb:cc").items()
    vnis = {row["vni"]: row for row in topo.api("vnis")}
    assert vnis[VNI_B]["flood"] == sorted([KERNEL_IP, "10.77.0.98"])
    assert lab.run("pv-k1", "ip", "link", "show", "pvt1003", check=False).returncode == 0
    # the API reload path: back to the original config, VNI 1003 and its TAP go away
    topo.config_path.write_text(yaml.safe_dump({"name": "pvk", "api": {"socket": str(topo.socket)},
                                                **topo.config}, sort_keys=False))
    result = topo.api("reload")
    assert "removed VNI 1003" in result["applied"]
    assert lab.run("pv-k1", "ip", "link", "show", "pvt1003", check=False).returncode != 0
    assert ping(lab, "pv-kh1", "192.168.50.21")


def test_sigterm_removes_taps_and_socket(vtep_lab: Lab) -> None:
    vtep_lab.netns("pv-ks")
    vtep_lab.address("pv-ks", "lo", "10.77.9.1/32")
    process, _config, socket_path = vtep_lab.pyvtep(
        "pv-ks", {"local_ip": "10.77.9.1", "vnis": [{"vni": 7, "tap": "pvts7", "address": "192.168.7.1/24"},
                                                   {"vni": 8, "tap": "pvts8"}]}, "pvks")
    assert vtep_lab.run("pv-ks", "ip", "link", "show", "pvts7").returncode == 0
    assert vtep_lab.stop(process) == 0
    assert vtep_lab.run("pv-ks", "ip", "link", "show", "pvts7", check=False).returncode != 0
    assert vtep_lab.run("pv-ks", "ip", "link", "show", "pvts8", check=False).returncode != 0
    assert not socket_path.exists()
    assert "stopped" in vtep_lab.log("pvks.log")


@pytest.mark.parametrize("kernel_segmentation", [False, True])
def test_pyvtep_to_pyvtep_tcp_uses_gso_and_software_gro(vtep_lab: Lab, kernel_segmentation: bool) -> None:
    """Two pyvteps. Cut by pyvtep: TSO super-frames leave with UDP GSO, arrive as UDP GRO batches and are
    merged back into super-frames for the TAP. Cut by the kernel: over a veth the encapsulated
    super-frame reaches the peer whole and goes to its TAP as one write."""
    if have_root_and_tools("iperf3"):
        pytest.skip("needs iperf3")
    lab = vtep_lab
    lab.netns("pv-p1")
    lab.netns("pv-p2")
    unsupported = tunnel_gso_unsupported(lab, "pv-p1")
    if unsupported and kernel_segmentation:
        pytest.skip(unsupported)
    lab.veth("pv-p1", "pvp1u", "pv-p2", "pvp2u")
    lab.address("pv-p1", "pvp1u", "10.76.0.1/24")
    lab.address("pv-p2", "pvp2u", "10.76.0.2/24")
    sockets = []
    for index, (ns, peer) in enumerate((("pv-p1", "10.76.0.2"), ("pv-p2", "10.76.0.1")), start=1):
        _process, _config, socket_path = lab.pyvtep(ns, {
            "local_ip": f"10.76.0.{index}",
            "kernel_segmentation": kernel_segmentation,
            "vnis": [{"vni": 42, "tap": "pvt42", "address": f"192.168.42.{index}/24", "flood": [peer]}],
        }, f"pvp{index}")
        sockets.append(socket_path)
    assert ping(lab, "pv-p1", "192.168.42.2")
    server = subprocess.Popen(["ip", "netns", "exec", "pv-p2", "iperf3", "-s", "-1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        done = lab.run("pv-p1", "iperf3", "-c", "192.168.42.2", "-t", "1", "-J", timeout=30)
    finally:
        server.wait(timeout=10)
    received = json.loads(done.stdout)["end"]["sum_received"]["bytes"]
    assert received > 1_000_000
    sender, receiver = (request(path, "counters")["global"] for path in sockets)
    if kernel_segmentation:
        assert sender["kernel_segmented"] > 0 and receiver["super_frames_in"] > 0
    else:
        assert sender["kernel_segmented"] == 0
        assert sender["super_frames_tx"] > 0 and receiver["gro_batches"] > 0 and receiver["super_frames_rx"] > 0
    assert sender["internal_errors"] == receiver["internal_errors"] == 0
