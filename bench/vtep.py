#!/usr/bin/env python3
"""Benchmark pyvtep against Linux kernel VXLAN: iperf3 TCP throughput and 64-byte UDP packet rate.

Both paths share the same two namespaces and the same veth underlay, in the same run:

    pv-ba                                                    pv-bb
      vx100 (kernel)  192.168.100.1   ==VNI 100, port 8472==>   vx100 (kernel) 192.168.100.2
      pvb101 (pyvtep) 192.168.101.1   ==VNI 101, port 4789==>   vx101 (kernel) 192.168.101.2
      pvb102 (pyvtep, packet ring) .102.1  ==VNI 102, 4789==>   vx102 (kernel) 192.168.102.2
      pvba 10.79.0.1, .3 -------------- veth ------------------ pvbb 10.79.0.2

The second pyvtep (`ring_*` keys) runs `datapath: packet-ring` from 10.79.0.3: its local side is a veth
read through an AF_PACKET TPACKET_V3 ring instead of a TAP (`pyvtep_*` keys).

"tx" = iperf3 client in pv-ba (pyvtep encapsulates; the TAP hands it TSO super-frames, which pyvtep
wraps whole and lets the kernel cut through its GSO TAP, or cuts itself with --python-segmentation),
"rx" = iperf3 -R (pyvtep decapsulates). The headline pyvtep figures are the lower of the two
directions. Needs root, iperf3 and /dev/net/tun; removes everything it creates, also on failure.

Over the veth the kernel path never cuts a TCP super-frame at all (VXLAN GSO passes the veth whole),
and pyvtep's kernel segmentation gets the same treatment; on a real NIC both are cut by the NIC or by
software GSO. The 64-byte figures are bounded by iperf3 itself: one write() per datagram.

    sudo python bench/vtep.py [--seconds 5] [--json] [--python-segmentation] [--no-load]

After the iperf3 runs a sendmmsg load generator (64 datagrams of 64 bytes per system call) offers each
path more than it can forward; `*_load_pps` is what arrived, `*_load_pps_per_core` each VTEP's ceiling.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

NS_A, NS_B, NS_FLOOR = "pv-ba", "pv-bb", "pv-bf"
UNDERLAY_A, UNDERLAY_B, UNDERLAY_RING = "10.79.0.1", "10.79.0.2", "10.79.0.3"
KERNEL_VNI, PYVTEP_VNI, RING_VNI = 100, 101, 102
# Each path under test: name in the JSON keys, VNI (and so the 192.168.<vni>.0/24 subnet).
PATHS = (("kernel", KERNEL_VNI), ("pyvtep", PYVTEP_VNI), ("ring", RING_VNI))


def sh(*argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done


def nsx(ns: str, *argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)


def teardown() -> None:
    for ns in (NS_A, NS_B, NS_FLOOR):
        if ns in sh("ip", "netns", "list").stdout.split():
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGTERM)
            time.sleep(0.3)
            sh("ip", "netns", "del", ns, check=False)


def build(workdir: Path, kernel_segmentation: bool = True) -> dict[str, subprocess.Popen[bytes]]:
    teardown()  # only ever our own pv-b* namespaces, left over from an interrupted run
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "add", ns)
        nsx(ns, "ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "pvba", "netns", NS_A, "type", "veth", "peer", "name", "pvbb", "netns", NS_B)
    for ns, dev, ip in ((NS_A, "pvba", UNDERLAY_A), (NS_B, "pvbb", UNDERLAY_B), (NS_A, "pvba", UNDERLAY_RING)):
        nsx(ns, "ip", "addr", "add", f"{ip}/24", "dev", dev)
        nsx(ns, "ip", "link", "set", dev, "up")
    for ns, local, last in ((NS_A, UNDERLAY_A, 1), (NS_B, UNDERLAY_B, 2)):
        vnis = [KERNEL_VNI] if ns == NS_A else [KERNEL_VNI, PYVTEP_VNI, RING_VNI]
        for vni in vnis:
            remote = UNDERLAY_RING if vni == RING_VNI else UNDERLAY_B if ns == NS_A else UNDERLAY_A
            dev = f"vx{vni}"
            # A kernel VXLAN device holds its UDP port on every address of the namespace, so the kernel
            # reference path uses 8472 and leaves 4789 to pyvtep; the port number costs nothing either way.
            port = "8472" if vni == KERNEL_VNI else "4789"
            nsx(ns, "ip", "link", "add", dev, "type", "vxlan", "id", str(vni), "dstport", port, "local", local,
                "nolearning")
            nsx(ns, "ip", "link", "set", dev, "mtu", "1450")
            nsx(ns, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", dev, "dst", remote)
            nsx(ns, "ip", "addr", "add", f"192.168.{vni}.{last}/24", "dev", dev)
            nsx(ns, "ip", "link", "set", dev, "up")
    processes = {name: start_pyvtep(workdir, name, local, vni, datapath, kernel_segmentation)
                 for name, local, vni, datapath in (("pyvtep", UNDERLAY_A, PYVTEP_VNI, "tap"),
                                                    ("ring", UNDERLAY_RING, RING_VNI, "packet-ring"))}
    for _, vni in PATHS:
        target = f"192.168.{vni}.2"
        for _ in range(30):
            if nsx(NS_A, "ping", "-c", "1", "-W", "1", target, check=False).returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"no connectivity to {target}")
    return processes


def start_pyvtep(workdir: Path, name: str, local: str, vni: int, datapath: str,
                 kernel_segmentation: bool) -> subprocess.Popen[bytes]:
    config, sock = workdir / f"{name}.yaml", workdir / f"{name}.sock"
    config.write_text(
        f"name: bench-{name}\nlocal_ip: {local}\napi: {{socket: {sock}}}\ndatapath: {datapath}\n"
        f"kernel_segmentation: {'true' if kernel_segmentation else 'false'}\nvnis:\n"
        f"  - {{vni: {vni}, tap: pvb{vni}, address: 192.168.{vni}.1/24, flood: [{UNDERLAY_B}]}}\n"
    )
    log = (workdir / f"{name}.log").open("wb")
    process = subprocess.Popen(["ip", "netns", "exec", NS_A, sys.executable, "-m", "vxauto.vtep", "run", str(config)],
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while not sock.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"pyvtep ({datapath}) did not start:\n{(workdir / f'{name}.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return process


@contextlib.contextmanager
def iperf_server(ns: str) -> Iterator[None]:
    server = subprocess.Popen(["ip", "netns", "exec", ns, "iperf3", "-s"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        yield
    finally:
        server.terminate()
        server.wait()


def iperf(target: str, seconds: float, reverse: bool, udp: bool) -> dict[str, float]:
    argv = ["iperf3", "-c", target, "-t", str(seconds), "-J"]
    if reverse:
        argv.append("-R")
    if udp:
        argv += ["-u", "-l", "64", "-b", "0"]
    done = nsx(NS_A, *argv, check=False, timeout=seconds + 30)
    try:
        report = json.loads(done.stdout)
        end = report["end"]
    except (ValueError, KeyError) as exc:
        raise RuntimeError(f"iperf3 {' '.join(argv)} gave no result: {done.stdout[-500:]}{done.stderr}") from exc
    if udp:
        total = end["sum"]
        received = total["packets"] - total["lost_packets"]
        return {"pps": received / total["seconds"], "lost_percent": total["lost_percent"]}
    received_sum, cpu = end["sum_received"], end["cpu_utilization_percent"]
    # Both iperf3 processes' CPU (percent of one CPU over the run): over a veth the kernel VTEPs do their
    # work inside them (sends and softirqs in their system calls), so this is the kernel path's cost.
    return {"gbps": received_sum["bits_per_second"] / 1e9, "gigabytes": received_sum["bytes"] / 1e9,
            "iperf_cpu_seconds": (cpu["host_total"] + cpu["remote_total"]) / 100 * received_sum["seconds"]}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (from /proc), to express pyvtep's cost per packet."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(seconds: float, pids: dict[str, int]) -> dict[str, object]:
    """Every figure for every path; each pyvtep's CPU use is recorded too, because on a shared machine the
    throughput follows whatever CPU share pyvtep got, while its CPU cost per packet does not."""
    results: dict[str, object] = {}
    with iperf_server(NS_B):
        for name, vni in PATHS:
            target = f"192.168.{vni}.2"
            for key, reverse, udp in (("tcp_tx", False, False), ("tcp_rx", True, False), ("pps_tx", False, True),
                                      ("pps_rx", True, True)):
                pid = pids.get(name)
                before = time.monotonic(), cpu_seconds(pid) if pid else 0.0, os.getloadavg()[0]
                figure = iperf(target, seconds, reverse, udp)
                wall = time.monotonic() - before[0]
                if udp:
                    results[f"{name}_{key}"] = round(figure["pps"])
                    results[f"{name}_{key}_lost_percent"] = round(figure["lost_percent"], 1)
                else:
                    results[f"{name}_{key}_gbps"] = round(figure["gbps"], 3)
                results[f"{name}_{key}_load"] = round((before[2] + os.getloadavg()[0]) / 2, 2)
                if pid:
                    results[f"{name}_{key}_cpu_share"] = round((cpu_seconds(pid) - before[1]) / wall, 2)
                if not udp and figure["gigabytes"]:
                    # What moving 1 GB cost the whole path (both iperf3 and, for pyvtep, pyvtep): unlike the
                    # rates, this does not follow the CPU share other jobs leave on a shared machine.
                    spent = figure["iperf_cpu_seconds"] + (cpu_seconds(pid) - before[1] if pid else 0.0)
                    results[f"{name}_{key}_cpu_s_per_gb"] = round(spent / figure["gigabytes"], 3)
    for name, _ in PATHS:
        results[f"{name}_tcp_gbps"] = min(results[f"{name}_tcp_tx_gbps"], results[f"{name}_tcp_rx_gbps"])  # type: ignore[type-var]
        results[f"{name}_pps"] = min(results[f"{name}_pps_tx"], results[f"{name}_pps_rx"])  # type: ignore[type-var]
    kernel_tcp, kernel_pps = float(results["kernel_tcp_gbps"]), float(results["kernel_pps"])  # type: ignore[arg-type]
    for name, prefix in (("pyvtep", ""), ("ring", "ring_")):
        tcp, pps = float(results[f"{name}_tcp_gbps"]), float(results[f"{name}_pps"])  # type: ignore[arg-type]
        results[f"{prefix}tcp_ratio"] = round(tcp / kernel_tcp, 3) if kernel_tcp else None
        results[f"{prefix}pps_ratio"] = round(pps / kernel_pps, 3) if kernel_pps else None
        # What pyvtep would do with one whole CPU: the rate divided by the CPU share it actually had.
        for key in ("tcp_tx", "tcp_rx"):
            share = float(results[f"{name}_{key}_cpu_share"])  # type: ignore[arg-type]
            rate = float(results[f"{name}_{key}_gbps"])  # type: ignore[arg-type]
            results[f"{name}_{key}_gbps_per_cpu"] = round(rate / share, 3) if share else None
        for key in ("pps_tx", "pps_rx"):
            share = float(results[f"{name}_{key}_cpu_share"])  # type: ignore[arg-type]
            results[f"{name}_{key}_per_cpu"] = round(float(results[f"{name}_{key}"]) / share) if share else None  # type: ignore[arg-type]
    return results


# --- the load generator ----------------------------------------------------------------------------
# iperf3 writes one datagram per system call and tops out near the kernel VTEP's own rate here. This
# generator hands the kernel 64 datagrams of 64 bytes per sendmmsg (no GSO: every datagram travels alone,
# as iperf3's do), so it offers more than either VTEP can forward and each one's ceiling shows.

LOAD_BATCH = 64


def load_generator(target: str, seconds: float) -> int:
    from vxauto.vtep import kernel

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    kernel._set_buffers(sock, 8 << 20)
    payload = ctypes.create_string_buffer(b"\0" * 64, 64)
    batch, address = kernel.SendBatch(LOAD_BATCH), kernel.buffer_address(payload)
    sockaddr = kernel.sockaddr_in(target, 9)
    for i in range(LOAD_BATCH):
        kernel.IOVEC.pack_into(batch.iovecs, i * kernel.IOVEC.size, address, 64)
        batch.name_view[i * 16 : i * 16 + 16] = sockaddr
    fd, sent, refused = sock.fileno(), 0, 0
    start = time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        for _ in range(16):
            refused += len(batch.send_range(fd, 0, LOAD_BATCH))
            sent += LOAD_BATCH
    wall = time.monotonic() - start
    share = round(time.process_time() / wall, 2)
    print(json.dumps({"offered_pps": round((sent - refused) / wall), "cpu_share": share}), flush=True)
    return 0


def busy_cpu_seconds() -> float:
    """CPU time all CPUs spent busy (user, nice, system, irq, softirq) from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / os.sysconf("SC_CLK_TCK")


def rx_packets(ns: str, device: str) -> int:
    return int(nsx(ns, "cat", f"/sys/class/net/{device}/statistics/rx_packets").stdout)


def load(seconds: float, pids: dict[str, int]) -> dict[str, object]:
    """Each path under the generator: packets delivered at the far end per second, the generator's offer,
    and each VTEP's ceiling per core: a pyvtep's rate over its own CPU share (which includes the peer's
    receive path: over a veth it runs inside pyvtep's send calls); the kernel's over the generator's CPU share,
    inside whose send calls the kernel VTEP does all its work."""
    results: dict[str, object] = {}
    here = str(Path(__file__).resolve())
    for name, vni in PATHS:
        pid = pids.get(name)
        before = (time.monotonic(), rx_packets(NS_B, f"vx{vni}"), busy_cpu_seconds(), cpu_seconds(pid) if pid else 0.0,
                  os.getloadavg()[0])
        done = nsx(NS_A, sys.executable, here, "--load-generator", f"192.168.{vni}.2", str(seconds),
                   timeout=seconds + 60)
        wall = time.monotonic() - before[0]
        delivered = (rx_packets(NS_B, f"vx{vni}") - before[1]) / wall
        generator = json.loads(done.stdout)
        busy_share = (busy_cpu_seconds() - before[2]) / wall
        results[f"{name}_load_pps"] = round(delivered)
        results[f"{name}_load_offered_pps"] = generator["offered_pps"]
        # The kernel VTEP's transmit work (and, over the veth, the peer's receive) runs inside the generator's
        # sendmmsg calls: its CPU share is the other basis for the kernel's ceiling.
        results[f"{name}_load_generator_cpu_share"] = generator["cpu_share"]
        results[f"{name}_load_loadavg"] = round((before[4] + os.getloadavg()[0]) / 2, 2)
        if pid:
            share = (cpu_seconds(pid) - before[3]) / wall
            results[f"{name}_load_cpu_share"] = round(share, 2)
            results[f"{name}_load_pps_per_core"] = round(delivered / share) if share else None
        else:
            # Over a veth the kernel VTEP's whole path (encapsulation, the veth, the peer's decapsulation) runs
            # inside the generator's sendmmsg calls, so the generator's CPU is the kernel's: the ceiling per core
            # is delivered over that (a lower bound: the generator's own loop is in it too). The CPU the rest of
            # the machine was busy is recorded beside it (other jobs' share on a shared machine).
            share = generator["cpu_share"]
            results[f"{name}_load_cpu_share"] = round(share, 2)
            results[f"{name}_load_other_cpu_share"] = round(busy_share - share, 2)
            results[f"{name}_load_pps_per_core"] = round(delivered / share) if share > 0 else None
    kernel_pps = float(results["kernel_load_pps"])  # type: ignore[arg-type]
    for name, prefix in (("pyvtep", ""), ("ring", "ring_")):
        pps = float(results[f"{name}_load_pps"])  # type: ignore[arg-type]
        results[f"{prefix}load_pps_ratio"] = round(pps / kernel_pps, 3) if kernel_pps else None
    return results


# --- the TAP read() floor --------------------------------------------------------------------------
# One process reads frames from a TAP and does nothing else; another offers 64-byte UDP datagrams to
# an address behind that TAP far faster than it can read (UDP GSO, cut by the kernel before the TAP,
# whose USO offload is off). The reader's frames per CPU-second is what a userspace VTEP pays for its
# reads alone, before any work on the frames.

FLOOR_TAP, FLOOR_LOCAL, FLOOR_REMOTE = "pvbf0", "192.168.79.1", "192.168.79.2"


def floor_reader(seconds: float) -> int:
    from ipaddress import ip_interface

    from vxauto.vtep import kernel
    from vxauto.vtep.links import configure_tap

    tap = kernel.open_tap(FLOOR_TAP, kernel.tap_offload_flags(tso=True, uso=False))
    configure_tap(FLOOR_TAP, 1500, None, ip_interface(f"{FLOOR_LOCAL}/24"))
    sh("ip", "neigh", "replace", FLOOR_REMOTE, "lladdr", "02:00:00:00:00:02", "dev", FLOOR_TAP)
    os.set_blocking(tap.fd, True)
    print("ready", flush=True)
    sys.stdin.readline()  # the generator runs
    slot = [memoryview(bytearray(65600))]
    readv, fd, frames = os.readv, tap.fd, 0
    start, cpu = time.monotonic(), time.process_time()
    deadline = start + seconds
    while True:
        readv(fd, slot)
        frames += 1
        if not frames & 4095 and time.monotonic() > deadline:
            break
    wall, cpu = time.monotonic() - start, time.process_time() - cpu
    print(json.dumps({"frames_per_second": round(frames / wall), "cpu_share": round(cpu / wall, 2),
                      "frames_per_cpu_second": round(frames / cpu)}), flush=True)
    return 0


def floor_generator(seconds: float) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    control = [(socket.IPPROTO_UDP, 103, struct.pack("=H", 64))]  # UDP_SEGMENT: 64 datagrams of 64 bytes
    buffer, sent = bytes(64 * 64), 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for _ in range(64):
            with contextlib.suppress(OSError):  # ENOBUFS when the TAP queue is full
                sock.sendmsg([buffer], control, 0, (FLOOR_REMOTE, 9))
                sent += 64
    print(json.dumps({"offered_per_second": round(sent / (time.monotonic() - start))}), flush=True)
    return 0


def read_floor(seconds: float) -> dict[str, object]:
    teardown()
    sh("ip", "netns", "add", NS_FLOOR)
    try:
        here = str(Path(__file__).resolve())
        reader = subprocess.Popen(["ip", "netns", "exec", NS_FLOOR, sys.executable, here, "--floor-reader",
                                   str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert reader.stdin is not None and reader.stdout is not None
        if reader.stdout.readline().strip() != "ready":
            raise RuntimeError("the TAP reader did not start")
        generator = subprocess.Popen(["ip", "netns", "exec", NS_FLOOR, sys.executable, here, "--floor-generator",
                                      str(seconds + 1)], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        reader.stdin.write("go\n")
        reader.stdin.flush()
        read = json.loads(reader.communicate(timeout=seconds + 30)[0])
        offered = json.loads(generator.communicate(timeout=seconds + 30)[0])
        return {"tap_read_floor": {**read, **offered}}
    finally:
        teardown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each iperf3 run")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--python-segmentation", action="store_true",
                        help="let pyvtep cut TCP super-frames itself (numpy) instead of the kernel's tunnel GSO")
    parser.add_argument("--read-floor", action="store_true",
                        help="only measure how many frames a bare Python read() loop takes from a TAP")
    parser.add_argument("--floor-reader", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--floor-generator", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--load-generator", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--no-load", action="store_true", help="skip the sendmmsg load generator runs")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/vtep.py needs root (network namespaces, TAP devices)", file=sys.stderr)
        return 2
    if args.floor_reader is not None:
        return floor_reader(args.floor_reader)
    if args.floor_generator is not None:
        return floor_generator(args.floor_generator)
    if args.load_generator is not None:
        return load_generator(args.load_generator[0], float(args.load_generator[1]))
    if args.read_floor:
        floor = read_floor(args.seconds)
        print(json.dumps(floor) if args.json else
              "TAP read() floor: {frames_per_second} frames/s at CPU share {cpu_share} = {frames_per_cpu_second} "
              "frames per CPU-second (offered {offered_per_second}/s)".format(**floor["tap_read_floor"]))  # type: ignore[arg-type]
        return 0
    results: dict[str, object] = {"cpus": os.cpu_count(), "load_before": round(os.getloadavg()[0], 2),
                                  "seconds": args.seconds, "host": socket.gethostname(), "kernel": os.uname().release,
                                  "segmentation": "python" if args.python_segmentation else "kernel"}
    with tempfile.TemporaryDirectory(prefix="pyvtep-bench-") as tmp:
        workdir = Path(tmp)
        try:
            processes = build(workdir, kernel_segmentation=not args.python_segmentation)
            pids = {name: process.pid for name, process in processes.items()}
            results.update(measure(args.seconds, pids))
            if not args.no_load:
                results.update(load(args.seconds, pids))
            from vxauto.vtep.api import request

            for name, process in processes.items():
                status = request(workdir / f"{name}.sock", "status")
                global_counters = request(workdir / f"{name}.sock", "counters")["global"]
                results[f"{name}_datapath"] = status["datapath"]
                results[f"{name}_internal_errors"] = global_counters["internal_errors"]
                results[f"{name}_super_frames"] = {k: global_counters[k] for k in
                                                   ("super_frames_tx", "kernel_segmented", "super_frames_rx",
                                                    "super_frames_in")}
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=10)
        finally:
            teardown()
    results["load_after"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{'':24}{'kernel':>12}{'pyvtep tap':>12}{'ratio':>8}{'pyvtep ring':>12}{'ratio':>8}{'load':>7}")
    rows = (("TCP tx Gbit/s", "tcp_tx_gbps"), ("TCP rx Gbit/s", "tcp_rx_gbps"), ("64B UDP tx pps", "pps_tx"),
            ("64B UDP rx pps", "pps_rx"))
    for label, key in rows:
        kernel, pyvtep, ring = results[f"kernel_{key}"], results[f"pyvtep_{key}"], results[f"ring_{key}"]
        ratio = float(pyvtep) / float(kernel) if float(kernel) else float("nan")  # type: ignore[arg-type]
        ring_ratio = float(ring) / float(kernel) if float(kernel) else float("nan")  # type: ignore[arg-type]
        loadavg = results[f"ring_{key.removesuffix('_gbps')}_load"]
        print(f"{label:24}{kernel:>12}{pyvtep:>12}{ratio:>8.2f}{ring:>12}{ring_ratio:>8.2f}{loadavg:>7}")
    print("TCP CPU-seconds per GB (both iperf3 + pyvtep), tx/rx: " + ", ".join(
        f"{name} {results[f'{name}_tcp_tx_cpu_s_per_gb']}/{results[f'{name}_tcp_rx_cpu_s_per_gb']}"
        for name, _ in PATHS))
    print(f"pyvtep CPU share during tx/rx TCP: {results['pyvtep_tcp_tx_cpu_share']}/"
          f"{results['pyvtep_tcp_rx_cpu_share']}, 64B tx/rx: {results['pyvtep_pps_tx_cpu_share']}/"
          f"{results['pyvtep_pps_rx_cpu_share']}; per full CPU: TCP tx {results['pyvtep_tcp_tx_gbps_per_cpu']} "
          f"rx {results['pyvtep_tcp_rx_gbps_per_cpu']} Gbit/s, 64B tx {results['pyvtep_pps_tx_per_cpu']} "
          f"rx {results['pyvtep_pps_rx_per_cpu']} pps")
    if "load_pps_ratio" in results:
        print(f"sendmmsg load generator (64B): kernel {results['kernel_load_pps']} pps (offered "
              f"{results['kernel_load_offered_pps']}, {results['kernel_load_pps_per_core']} per core), pyvtep "
              f"{results['pyvtep_load_pps']} pps (offered {results['pyvtep_load_offered_pps']}, "
              f"{results['pyvtep_load_pps_per_core']} per core), ratio {results['load_pps_ratio']}; ring "
              f"{results['ring_load_pps']} pps (offered {results['ring_load_offered_pps']}, "
              f"{results['ring_load_pps_per_core']} per core), ratio {results['ring_load_pps_ratio']}")
    print(f"headline (lower direction): TCP {results['pyvtep_tcp_gbps']} vs {results['kernel_tcp_gbps']} Gbit/s "
          f"(ratio {results['tcp_ratio']}), {results['pyvtep_pps']} vs {results['kernel_pps']} pps "
          f"(ratio {results['pps_ratio']}); ring: TCP {results['ring_tcp_gbps']} Gbit/s (ratio "
          f"{results['ring_tcp_ratio']}), {results['ring_pps']} pps (ratio {results['ring_pps_ratio']}); "
          f"{results['cpus']} CPUs, load {results['load_before']} -> {results['load_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
