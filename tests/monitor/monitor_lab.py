"""A two-VTEP kernel VXLAN lab for the monitor tests: namespaces mon-a and mon-b (prefix `mon-` only).

mon-a (leaf-a, VTEP 10.99.0.1) and mon-b (leaf-b, VTEP 10.99.0.2) share one veth `und` (the underlay).
Each VNI is a kernel VXLAN device `vx<vni>` enslaved to a bridge `br<vni>` that holds an address, with a
static flood entry to the other VTEP, as tests/fixtures/intents/monitor-lab describes. `close()` kills
every process and deletes the namespaces; fixtures call it in `finally`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from vxauto.monitor.live import wait_for_sign

PREFIX = "mon-"
VTEPS = {"mon-a": "10.99.0.1", "mon-b": "10.99.0.2"}
HOST_INDEX = {"mon-a": 1, "mon-b": 2}
INTENT = Path(__file__).resolve().parents[1] / "fixtures" / "intents" / "monitor-lab"


def missing_requirements(*tools: str) -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    missing = [tool for tool in ("ip", "bridge", *tools) if shutil.which(tool) is None]
    return f"missing tools: {', '.join(missing)}" if missing else None


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@dataclass(frozen=True)
class Segment:
    vni: int
    subnet: str  # first three octets, hosts are .1 (mon-a) and .2 (mon-b)
    dstport: int | None = 4789  # None: leave the kernel default (8472)


class MonitorLab:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def run(self, namespace: str, *argv: str, check: bool = True, timeout: float = 30) -> str:
        return sh("ip", "netns", "exec", namespace, *argv, check=check, timeout=timeout).stdout

    def build(self, segments: tuple[Segment, ...], underlay_mtu: int = 1550) -> None:
        for name in VTEPS:
            assert name.startswith(PREFIX)
            if name in sh("ip", "netns", "list").stdout.split():
                sh("ip", "netns", "del", name)  # leftover of an interrupted run of these tests
            sh("ip", "netns", "add", name)
            self.namespaces.append(name)
            self.run(name, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "und", "netns", "mon-a", "type", "veth", "peer", "name", "und", "netns", "mon-b")
        for name, vtep in VTEPS.items():
            peer = next(v for n, v in VTEPS.items() if n != name)
            self.run(name, "ip", "link", "set", "und", "mtu", str(underlay_mtu), "up")
            self._wire_sized_capture(name, "und")
            self.run(name, "ip", "addr", "add", f"{vtep}/24", "dev", "und")
            for segment in segments:
                self._segment(name, vtep, peer, segment)

    def _wire_sized_capture(self, name: str, interface: str) -> None:
        """Turn off segmentation/receive offloads so tcpdump sees packets as the wire would carry them."""
        if shutil.which("ethtool") is None:
            return
        for feature in ("tso", "gso", "gro", "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation"):
            self.run(name, "ethtool", "-K", interface, feature, "off", check=False)

    def _segment(self, name: str, vtep: str, peer: str, segment: Segment) -> None:
        device, bridge = f"vx{segment.vni}", f"br{segment.vni}"
        port = ["dstport", str(segment.dstport)] if segment.dstport is not None else []
        self.run(name, "ip", "link", "add", device, "type", "vxlan", "id", str(segment.vni), *port, "local", vtep)
        self.run(name, "ip", "link", "add", bridge, "type", "bridge")
        self.run(name, "ip", "link", "set", device, "master", bridge, "mtu", "1500")
        self.run(name, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", device, "dst", peer)
        self.run(name, "ip", "addr", "add", f"{segment.subnet}.{HOST_INDEX[name]}/24", "dev", bridge)
        self.run(name, "ip", "link", "set", device, "up")
        self.run(name, "ip", "link", "set", bridge, "up")

    def start_capture(self, namespace: str, interface: str, path: Path) -> subprocess.Popen[bytes]:
        """tcpdump writing a pcap; returns once it is listening."""
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                "tcpdump",
                "-i",
                interface,
                "-w",
                str(path),
                "-U",
                "-n",
                "--immediate-mode",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes.append(process)
        assert process.stderr is not None
        said = wait_for_sign(process.stderr.fileno(), b"listening on", 10)
        if not said.found:
            raise RuntimeError(f"tcpdump in {namespace} did not start: {said.text}")
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def ping(self, namespace: str, address: str, count: int = 4, size: int | None = None) -> None:
        extra = ["-s", str(size), "-M", "dont"] if size else []
        self.run(namespace, "ping", "-c", str(count), "-i", "0.2", "-W", "2", *extra, address, check=False, timeout=30)

    def send_frames(self, namespace: str, interface: str, frame: bytes, count: int = 1) -> None:
        """Transmit raw Ethernet frames on an interface (on a bridge: the bridge forwards them into the tunnel)."""
        code = (
            "import socket,sys;s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);s.bind((sys.argv[1],0));"
            "[s.send(bytes.fromhex(sys.argv[2])) for _ in range(int(sys.argv[3]))]"
        )
        self.run(namespace, sys.executable, "-c", code, interface, frame.hex(), str(count))

    def tcp_transfer(self, server_ns: str, server_ip: str, client_ns: str, amount: str = "300K") -> None:
        """An iperf3 TCP transfer (one-off server), if iperf3 is installed."""
        if shutil.which("iperf3") is None:
            return
        server = subprocess.Popen(
            ["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", server_ip, "--forceflush"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(server)
        assert server.stdout is not None
        said = wait_for_sign(server.stdout.fileno(), b"Server listening", 10)  # --forceflush: unbuffered
        if not said.found:
            raise RuntimeError(f"iperf3 server in {server_ns} did not start: {said.text}")
        self.run(client_ns, "iperf3", "-c", server_ip, "-n", amount, check=False, timeout=30)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=5)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
        for name in reversed(self.namespaces):
            sh("ip", "netns", "del", name, check=False)
        self.namespaces.clear()
