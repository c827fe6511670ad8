"""Small helpers for pyvtep's lab tests and benchmark: namespaces (prefix `pv-`), veths, processes.

Everything a `Lab` creates is recorded and removed by `close()`, which the fixtures call in `finally`.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dpkt
import yaml

PREFIX = "pv-"


def have_root_and_tools(*tools: str) -> str | None:
    """The reason a lab test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if not Path("/dev/net/tun").exists():
        return "needs /dev/net/tun"
    missing = [tool for tool in ("ip", *tools) if shutil.which(tool) is None]
    return f"missing tools: {', '.join(missing)}" if missing else None


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


class Lab:
    """Namespaces, links and processes of one test; `close()` removes all of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.namespaces: list[str] = []
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.frr_nodes: list[str] = []

    # --- namespaces and links --------------------------------------------------------------------

    def netns(self, name: str) -> str:
        assert name.startswith(PREFIX), f"pyvtep tests only use namespaces named {PREFIX}*"
        if name in sh("ip", "netns", "list").stdout.split():
            sh("ip", "netns", "del", name)  # a leftover of an interrupted run of this very test
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        self.run(name, "ip", "link", "set", "lo", "up")
        return name

    def run(self, ns: str, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)

    def veth(self, ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
        sh("ip", "link", "add", name_a, "netns", ns_a, "type", "veth", "peer", "name", name_b, "netns", ns_b)
        self.run(ns_a, "ip", "link", "set", name_a, "up")
        self.run(ns_b, "ip", "link", "set", name_b, "up")

    def address(self, ns: str, device: str, cidr: str) -> None:
        self.run(ns, "ip", "addr", "add", cidr, "dev", device)

    def bridge(self, ns: str, name: str) -> None:
        self.run(ns, "ip", "link", "add", name, "type", "bridge")
        self.run(ns, "ip", "link", "set", name, "up")

    def enslave(self, ns: str, device: str, bridge: str) -> None:
        self.run(ns, "ip", "link", "set", device, "master", bridge)

    def kernel_vxlan(self, ns: str, vni: int, local: str, bridge: str | None = None, port: int = 4789,
                     mtu: int = 1450, learning: bool = False) -> str:
        name = f"vx{vni}"
        argv = ["ip", "link", "add", name, "type", "vxlan", "id", str(vni), "dstport", str(port), "local", local]
        self.run(ns, *argv, *([] if learning else ["nolearning"]))
        self.run(ns, "ip", "link", "set", name, "mtu", str(mtu))
        if bridge is not None:
            self.enslave(ns, name, bridge)
        self.run(ns, "ip", "link", "set", name, "up")
        return name

    def host(self, name: str, vtep_ns: str, bridge: str, cidr: str, link: str) -> str:
        """A host namespace with one veth (`link`-h inside, `link` in the VTEP's bridge)."""
        self.netns(name)
        self.veth(name, "eth0", vtep_ns, link)
        self.enslave(vtep_ns, link, bridge)
        self.address(name, "eth0", cidr)
        return name

    # --- processes ---------------------------------------------------------------------------

    def spawn(self, ns: str, argv: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / log_name).open("wb")
        process = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append((log_name, process))
        return process

    def pyvtep(self, ns: str, config: dict[str, Any], name: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
        """Write `config` (plus its API socket) and start `python -m vxauto.vtep run` in `ns`."""
        socket_path = self.workdir / f"{name}.sock"
        # PYVTEP_TEST_DATAPATH=packet-ring runs every lab test on the packet-ring local side (a config that
        # names its datapath keeps it).
        datapath = {"datapath": os.environ["PYVTEP_TEST_DATAPATH"]} if os.environ.get("PYVTEP_TEST_DATAPATH") else {}
        config = {"name": name, "api": {"socket": str(socket_path)}, **datapath, **config}
        config_path = self.workdir / f"{name}.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        process = self.spawn(ns, [sys.executable, "-m", "vxauto.vtep", "run", str(config_path)], f"{name}.log")
        wait_for(lambda: _api_ready(socket_path), 15, f"pyvtep {name} API",
                 lambda: process.poll() is None or _fail_log(self.workdir / f"{name}.log"))
        return process, config_path, socket_path

    def log(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 10) -> int:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    # --- FRR -----------------------------------------------------------------------------------

    def frr(self, ns: str, config: str) -> None:
        """zebra + bgpd for node `ns` with its own pathspace (see shared/lab-recipe.md)."""
        rundir = Path("/var/run/frr") / ns
        rundir.mkdir(parents=True, exist_ok=True)
        shutil.chown(rundir, "frr", "frr")
        conf = rundir / "frr.conf"  # user frr cannot traverse pytest's 0700 temporary directories
        conf.write_text(config)
        shutil.chown(conf, "frr", "frr")
        self.frr_nodes.append(ns)
        for daemon in ("zebra", "bgpd"):
            self.run(ns, f"/usr/lib/frr/{daemon}", "-d", "-N", ns, "-f", str(conf),
                     "-i", str(rundir / f"{daemon}.pid"))

    def vtysh(self, ns: str, command: str) -> str:
        return self.run(ns, "vtysh", "-N", ns, "-c", command, check=False).stdout

    def _stop_frr(self, ns: str) -> None:
        rundir = Path("/var/run/frr") / ns
        for daemon in ("bgpd", "zebra"):
            pidfile = rundir / f"{daemon}.pid"
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                pid = int(pidfile.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.05)
        shutil.rmtree(rundir, ignore_errors=True)

    # --- teardown ------------------------------------------------------------------------------

    def close(self) -> None:
        for _name, process in reversed(self.processes):
            self.stop(process, timeout=5)
        for ns in self.frr_nodes:
            self._stop_frr(ns)
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)


class Capture:
    """tcpdump on an underlay interface, started once it says it listens (its own readiness sign)."""

    def __init__(self, lab: Lab, ns: str, device: str, path: Path) -> None:
        self.path = path
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "-i", device, "-U", "-n", "-w", str(path), "udp", "port", "4789"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lab.processes.append((f"tcpdump-{device}", self.process))  # stopped by the lab even on failure
        assert self.process.stderr is not None
        fd, said = self.process.stderr.fileno(), b""
        while b"listening on" not in said:
            ready, _, _ = select.select([fd], [], [], 10)
            chunk = os.read(fd, 4096) if ready else b""
            assert chunk, f"tcpdump did not start: {said.decode(errors='replace')}"
            said += chunk

    def frames(self) -> list[bytes]:
        """Every frame written so far (-U: the file is flushed per packet)."""
        data = self.path.read_bytes()
        if len(data) < 24:
            return []
        reader = dpkt.pcap.Reader(io.BytesIO(data))
        frames = []
        try:
            for _ts, raw in reader:
                frames.append(bytes(raw))
        except dpkt.NeedData:  # the last record may be half written
            pass
        return frames


def _api_ready(socket_path: Path) -> bool:
    from vxauto.errors import VxautoError
    from vxauto.vtep.api import request

    if not socket_path.exists():
        return False
    try:
        request(socket_path, "status", timeout=1)
    except VxautoError:
        return False
    return True


def _fail_log(path: Path) -> bool:
    raise AssertionError(f"process exited early:\n{path.read_text(errors='replace')[-3000:]}")


def wait_for(condition: Callable[[], Any], timeout: float, what: str,
             alive: Callable[[], Any] | None = None, interval: float = 0.1) -> Any:
    """Poll `condition` until truthy (returned) or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def lab(workdir: Path) -> Iterator[Lab]:
    instance = Lab(workdir)
    try:
        yield instance
    finally:
        instance.close()


def ping(lab_: Lab, ns: str, target: str, count: int = 2) -> bool:
    done = lab_.run(ns, "ping", "-c", str(count), "-i", "0.2", "-W", "1", target, check=False, timeout=15)
    return done.returncode == 0


_TUNNEL_GSO_PROBE = """
import errno, sys
from vxauto.vtep import kernel
try:
    kernel.open_tunnel_tap("pvgsoprobe").close()
except OSError as exc:
    sys.exit(3 if exc.errno == errno.EINVAL else 1)
"""


def tunnel_gso_unsupported(lab_: Lab, ns: str) -> str | None:
    """Why this kernel cannot take UDP-tunnel GSO frames on a TAP (before Linux 6.17), else None."""
    done = lab_.run(ns, sys.executable, "-c", _TUNNEL_GSO_PROBE, check=False)
    if done.returncode == 3:
        return f"kernel {os.uname().release} has no UDP tunnel GSO on TAP writes (Linux 6.17+)"
    assert done.returncode == 0, done.stderr
    return None


def sums_to_ffff(data: bytes) -> bool:
    """RFC 1071: the one's complement sum over data including its checksum field is all ones."""
    padded = data + b"\0" * (len(data) & 1)
    total = sum(int.from_bytes(padded[i : i + 2], "big") for i in range(0, len(padded), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF
