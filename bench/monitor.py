"""Benchmark: vxauto's monitor against tshark on generated captures, both pinned to the same CPU.

    .venv/bin/python bench/monitor.py [--packets 1000000] [--unique-packets 500000] [--runs 3]
                                      [--captures few-flows,every-packet-a-flow] [--keep DIR] [--no-tshark]

Captures (CAPTURES, generated into a temporary directory): VTEP pairs x VNIs, IPv4 and some IPv6 underlay,
some packets on UDP 8472 (the Linux default port), inner TCP/UDP/ICMP/ARP/IPv6, some inner 802.1Q tags,
inner frame sizes in an IMIX-like mix (64/576/1500 bytes, 7:4:1).

- few-flows: 1 million frames from 4096 packet templates over 16 VNIs (few inner flows);
- every-packet-a-flow: 500,000 frames, 7 VNIs, 5 % plain (not VXLAN) frames, and the packet number
  written into every inner source address, so every packet is its own inner flow (a scan).

Per capture it times: the decoder alone (read, decode, count per VNI; best/median of --runs); the whole
process as a user runs it (`python -m vxauto.cli.monitor pcap FILE --json`: interpreter start, imports,
read, decode, flows, pairs, checks, JSON; its peak RSS; and once, on a capture of no packets, what
start-up alone costs); and tshark
(`tshark -n -r FILE -d udp.port==8472,vxlan -T fields -e vxlan.vni`, counted per VNI) in the same run.
It prints packets/s (frames per second of wall time) of each and the ratios, and checks that vxauto,
tshark and the generator count the same packets per VNI (exit 1 if not). `--memory 1,4,16` generates
captures of those sizes (GB) one after the other, block by block, and prints the whole process's peak
RSS on each (`--captures ""` skips the timing part). Targets from issue 17: whole
process >= 1 Mpps and >= 30x tshark on every-packet-a-flow, >= 2 Mpps on few-flows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vxauto.monitor.capture import read_capture
from vxauto.monitor.decode import Decoder

VNIS = [10_000 + 10 * i for i in range(16)]
VTEPS_V4 = [f"10.0.0.{i}" for i in range(11, 19)]
VTEPS_V6 = [f"fd00::{i}" for i in range(11, 19)]
SIZES, SIZE_WEIGHTS = (64, 576, 1500), (7, 4, 1)
#: The benchmark captures (generate()'s options): few long flows, and a scan where every packet is its own
#: inner flow (7 VNIs, 5 % of frames not VXLAN), as in issue 17. The tests generate the same, smaller.
BLOCK = 1 << 20  # packets generated and written at a time
CAPTURES: dict[str, dict[str, object]] = {
    "few-flows": {},
    "every-packet-a-flow": {"vnis": VNIS[:7], "unique_flows": True, "plain": 0.05},
}


def _v4(text: str) -> bytes:
    return bytes(int(p) for p in text.split("."))


def _v6(text: str) -> bytes:
    import ipaddress

    return ipaddress.IPv6Address(text).packed


def _inner(rng: np.random.Generator, size: int) -> tuple[bytes, int]:
    """An inner Ethernet frame of about `size` bytes, and where in it the source address ends.

    The generator writes a packet number into the last three bytes of that address to make every packet
    its own inner flow.
    """
    kind = rng.choice(["tcp", "udp", "icmp", "arp", "v6", "tagged"], p=[0.62, 0.2, 0.05, 0.03, 0.05, 0.05])
    src_mac, dst_mac = b"\x02" + rng.bytes(5), (b"\xff" * 6 if kind == "arp" else b"\x02" + rng.bytes(5))
    if kind == "arp":
        arp = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src_mac, rng.bytes(4), bytes(6), rng.bytes(4))
        return dst_mac + src_mac + b"\x08\x06" + arp + bytes(18), 14 + 18
    if kind == "v6":
        body = struct.pack(">HHHH", int(rng.integers(1024, 65535)), 443, 8, 0) + bytes(max(0, size - 62))
        header = struct.pack(">IHBB16s16s", 0x60000000, len(body), 17, 64, rng.bytes(16), rng.bytes(16))
        return dst_mac + src_mac + b"\x86\xdd" + header + body, 14 + 24
    proto = {"tcp": 6, "tagged": 6, "udp": 17, "icmp": 1}[kind]
    if proto == 6:
        l4 = struct.pack(">HHIIBBHHH", int(rng.integers(1024, 65535)), int(rng.choice([80, 443, 8080, 5201])), 1, 1,
                         0x50, 0x18, 512, 0, 0)
    elif proto == 17:
        l4 = struct.pack(">HHHH", int(rng.integers(1024, 65535)), int(rng.choice([53, 123, 4500])), 8, 0)
    else:
        l4 = struct.pack(">BBHI", 8, 0, 0, 1)
    payload = bytes(max(0, size - 14 - 20 - len(l4) - (4 if kind == "tagged" else 0)))
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) + len(payload), 1, 0x4000, 64, proto, 0,
                     b"\x0a" + rng.bytes(3), b"\x0a" + rng.bytes(3))
    tag = b"\x81\x00" + struct.pack(">H", int(rng.integers(1, 4094))) if kind == "tagged" else b""
    return dst_mac + src_mac + tag + b"\x08\x00" + ip + l4 + payload, 14 + len(tag) + 16


def _outer(rng: np.random.Generator, vni: int, inner: bytes) -> bytes:
    v6 = rng.random() < 0.1
    port = 8472 if rng.random() < 0.05 else 4789
    pair = rng.choice(len(VTEPS_V4), 2, replace=False)
    vxlan = struct.pack(">BBHI", 0x08, 0, 0, vni << 8)
    udp = struct.pack(">HHHH", int(rng.integers(49152, 65535)), port, 16 + len(inner), 0) + vxlan + inner
    macs = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
    if v6:
        src, dst = (_v6(VTEPS_V6[i]) for i in pair)
        return macs + b"\x86\xdd" + struct.pack(">IHBB16s16s", 0x60000000, len(udp), 17, 64, src, dst) + udp
    src, dst = (_v4(VTEPS_V4[i]) for i in pair)
    return macs + b"\x08\x00" + struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst) + udp


def _plain(rng: np.random.Generator, size: int) -> bytes:
    """A frame that is not VXLAN (TCP over IPv4 between hosts of the underlay)."""
    l4 = struct.pack(">HHIIBBHHH", int(rng.integers(1024, 65535)), 22, 1, 1, 0x50, 0x18, 512, 0, 0)
    payload = bytes(max(0, size - 14 - 20 - len(l4)))
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) + len(payload), 1, 0x4000, 64, 6, 0,
                     b"\xc0\xa8" + rng.bytes(2), b"\xc0\xa8" + rng.bytes(2))
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + l4 + payload


def generate(path: Path, packets: int, seed: int = 7348, templates: int = 4096, vnis: list[int] | None = None,
             unique_flows: bool = False, plain: float = 0.0) -> Counter[int]:
    """Write a benchmark capture (pcapng when `path` ends in .pcapng, else pcap); returns the VXLAN packets
    per VNI it contains.

    `unique_flows` writes the packet number into the inner source address of every packet, so every
    packet is its own inner flow (a scan or a flood of short connections); `plain` is the share of
    frames that are not VXLAN.
    """
    pcapng = path.suffix == ".pcapng"
    rng = np.random.default_rng(seed)
    vnis = vnis or VNIS
    weights = np.array(SIZE_WEIGHTS) / sum(SIZE_WEIGHTS)
    is_plain = rng.random(templates) < plain
    vni_of = [0 if is_plain[i] else vnis[i % len(vnis)] for i in range(templates)]
    frames, marks = [], []
    for i in range(templates):
        size = int(rng.choice(SIZES, p=weights))
        if is_plain[i]:
            frames.append(_plain(rng, size))
            marks.append(14 + 16)  # end of the IPv4 source address
            continue
        inner, end = _inner(rng, size)
        frame = _outer(rng, vni_of[i], inner)
        frames.append(frame)
        marks.append(len(frame) - len(inner) + end)
    lengths = np.array([len(f) for f in frames], np.int64)
    counts = np.zeros(templates, np.int64)
    with path.open("wb") as handle:
        if pcapng:  # section header (no options), one Ethernet interface (microseconds, the default)
            handle.write(struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
                         + struct.pack("<IIHHII", 1, 20, 1, 0, 262144, 20))
        else:
            handle.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for first in range(0, packets, BLOCK):  # block by block: the generator's memory stays flat too
            choice = rng.integers(0, templates, min(BLOCK, packets - first))
            counts += np.bincount(choice, minlength=templates)
            _block(frames, lengths, np.array(marks, np.int64), choice, first, unique_flows, pcapng).tofile(handle)
    expected: Counter[int] = Counter()
    for template, count in enumerate(counts.tolist()):
        if not is_plain[template]:
            expected[vni_of[template]] += count
    return expected


def _block(frames: list[bytes], lengths: np.ndarray, marks: np.ndarray, choice: np.ndarray, first: int,
           unique_flows: bool, pcapng: bool = False) -> np.ndarray:
    """pcap records (or pcapng Enhanced Packet Blocks) of packets first, first+1, ...: template `choice[i]`
    for packet first+i."""
    packets, templates = len(choice), len(frames)
    head = 28 if pcapng else 16  # record header, or EPB up to its packet data (then padding and the trailer)
    sizes = (32 + (lengths[choice] + 3) // 4 * 4) if pcapng else lengths[choice] + 16
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    buffer = np.zeros(int(sizes.sum()), np.uint8)
    number = first + np.arange(packets, dtype=np.int64)
    ts = 1_700_000_000_000_000 + number * 10  # 100k packets per second, in microseconds
    if pcapng:
        headers = np.zeros(packets, dtype=[("type", "<u4"), ("length", "<u4"), ("iface", "<u4"), ("high", "<u4"),
                                           ("low", "<u4"), ("caplen", "<u4"), ("len", "<u4")])
        headers["type"], headers["length"] = 6, sizes
        headers["high"], headers["low"] = ts >> 32, ts & 0xFFFFFFFF
        trailer = np.ascontiguousarray(sizes.astype("<u4")).view(np.uint8).reshape(-1, 4)
        buffer[(starts + sizes - 4)[:, None] + np.arange(4)] = trailer
    else:
        headers = np.zeros(packets, dtype=[("sec", "<u4"), ("usec", "<u4"), ("caplen", "<u4"), ("len", "<u4")])
        headers["sec"], headers["usec"] = ts // 1_000_000, ts % 1_000_000
    headers["caplen"] = headers["len"] = lengths[choice]
    buffer[starts[:, None] + np.arange(head)] = headers.view(np.uint8).reshape(-1, head)
    order = np.argsort(choice, kind="stable")
    bounds = np.searchsorted(choice[order], np.arange(templates + 1))
    for template in range(templates):
        where = starts[order[bounds[template] : bounds[template + 1]]] + head
        if len(where):
            buffer[where[:, None] + np.arange(lengths[template])] = np.frombuffer(frames[template], np.uint8)
    if unique_flows:
        at = starts + head + marks[choice]
        for byte in range(3):  # the low 24 bits of the packet number, big-endian
            buffer[at - 3 + byte] = (number >> (8 * (2 - byte))) & 0xFF
    return buffer


def vxauto_count(path: Path) -> tuple[float, float, Counter[int]]:
    """End to end: open the file, decode every frame, count VXLAN packets per VNI. (wall s, CPU s, counts)"""
    started, cpu = time.perf_counter(), time.process_time()
    decoder = Decoder((4789, 8472))
    counts: Counter[int] = Counter()
    for table in decoder.decode_batches(read_capture(path)):
        vnis, per_vni = np.unique(table.vni, return_counts=True)
        counts.update(dict(zip(vnis.tolist(), per_vni.tolist(), strict=True)))
    return time.perf_counter() - started, time.process_time() - cpu, counts


def vxauto_process(path: Path, cpu: int) -> tuple[float, float, int, Counter[int], dict[str, object]]:
    """The whole process, as a user runs it: `python -m vxauto.cli.monitor pcap FILE --json`, pinned to `cpu`.

    (wall s, CPU s, peak RSS bytes, packets per VNI, the report's flow summary). Startup and imports count.
    The peak RSS comes from GNU time (`/usr/bin/time -f %M`) when it is installed: a child spawned straight
    from this process would inherit this process's own high-water mark (Linux keeps it across vfork and
    exec), which after generating a capture says nothing about vxauto; without GNU time it is -1.
    """
    command = [sys.executable, "-m", "vxauto.cli.monitor", "pcap", str(path), "--json", "--ports", "4789,8472"]
    gnu_time = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as peak_file:
        if gnu_time:
            command = [gnu_time, "-f", "%M", "-o", peak_file.name, *command]
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out,  # inherits this process's one-CPU affinity
                                 cwd=Path(__file__).resolve().parents[1])
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"vxauto monitor exited {child.returncode}")
        peak = int(peak_file.read().split()[-1]) * 1024 if gnu_time else -1
        out.seek(0)
        report = json.load(out)
    counts = Counter({int(vni): entry["packets"] for vni, entry in report["vnis"].items()})
    return elapsed, usage.ru_utime + usage.ru_stime, peak, counts, report["flow_summary"]


def tshark_count(path: Path, cpu: int) -> tuple[float, float, Counter[int]]:
    """tshark's (wall s, CPU s of the tshark process, counts per VNI)."""
    command = ["tshark", "-n", "-r", str(path), "-d", "udp.port==8472,vxlan", "-T", "fields", "-e", "vxlan.vni"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_time = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu_time, Counter(int(line) for line in done.stdout.split() if line)


def bench_capture(name: str, path: Path, packets: int, runs: int, cpu: int, tshark: bool) -> bool:
    """Generate one capture, time vxauto (decoder alone, whole process) and tshark on it; True if counts agree."""
    started = time.perf_counter()
    expected = generate(path, packets, **CAPTURES[name])  # type: ignore[arg-type]
    size = path.stat().st_size
    print(f"\n== {name}: {packets} frames ({sum(expected.values())} VXLAN), {size / 1e6:.0f} MB "
          f"({size / packets:.0f} B/frame), {len(expected)} VNIs, generated in {time.perf_counter() - started:.1f} s")
    runs_wall, runs_cpu = [], []
    for _ in range(runs):
        elapsed, cpu_time, counts = vxauto_count(path)
        runs_wall.append(elapsed)
        runs_cpu.append(cpu_time)
    best, median, cpu_median = min(runs_wall), statistics.median(runs_wall), statistics.median(runs_cpu)
    total = sum(counts.values())
    print(f"vxauto decode + per-VNI count: wall best {best:.3f} s = {packets / best / 1e6:.2f} Mpps, median "
          f"{median:.3f} s = {packets / median / 1e6:.2f} Mpps; CPU median {cpu_median:.3f} s = "
          f"{packets / cpu_median / 1e6:.2f} Mpps")
    whole = [vxauto_process(path, cpu) for _ in range(runs)]
    whole_best = min(w[0] for w in whole)
    whole_median = statistics.median(w[0] for w in whole)
    whole_cpu = statistics.median(w[1] for w in whole)
    peak = max(w[2] for w in whole)
    process_counts, flow_summary = whole[0][3], whole[0][4]
    print(f"vxauto whole process (python -m vxauto.cli.monitor pcap --json: start, read, decode, flows, pairs, "
          f"checks, JSON): wall best {whole_best:.3f} s = {packets / whole_best / 1e6:.2f} Mpps, median "
          f"{whole_median:.3f} s = {packets / whole_median / 1e6:.2f} Mpps; CPU median {whole_cpu:.3f} s = "
          f"{packets / whole_cpu / 1e6:.2f} Mpps; peak RSS {peak / 2**20:.0f} MiB; flows: "
          f"{flow_summary['mode']} {flow_summary['flows']}")
    ok = counts == expected == process_counts
    print(f"vxauto per-VNI counts match the generator: {ok} ({total} VXLAN packets)")
    if tshark and shutil.which("tshark"):
        tshark_time, tshark_cpu, tshark_counts = tshark_count(path, cpu)
        print(f"tshark: wall {tshark_time:.1f} s = {packets / tshark_time / 1e3:.1f} kpps; CPU {tshark_cpu:.1f} s = "
              f"{packets / tshark_cpu / 1e3:.1f} kpps")
        print(f"ratio vxauto/tshark, whole process: wall median {tshark_time / whole_median:.1f}x, wall best "
              f"{tshark_time / whole_best:.1f}x, CPU {tshark_cpu / whole_cpu:.1f}x; decoder alone: wall median "
              f"{tshark_time / median:.1f}x")
        same = tshark_counts == counts
        print(f"tshark and vxauto count the same packets per VNI: {same}")
        ok = ok and same
    return ok


def bench_startup(directory: Path, runs: int, cpu: int) -> None:
    """The whole process on a capture without packets: what starting the interpreter and the imports cost."""
    path = directory / "empty.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    whole = [vxauto_process(path, cpu) for _ in range(runs)]
    print(f"vxauto start-up (whole process on a capture of no packets): wall median "
          f"{statistics.median(w[0] for w in whole):.3f} s, CPU median {statistics.median(w[1] for w in whole):.3f} s")


def _timed(command: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - started, json.loads(done.stdout)


def bench_workers(path: Path, packets: int, workers: list[int], repeats: int = 3) -> None:
    """Wall time of the whole process on a local Dask cluster of N workers (all CPUs allowed), same capture."""
    everything = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))  # children inherit it: let them use every core
    try:
        base = [sys.executable, "-m", "vxauto.cli.monitor", "pcap", str(path), "--json", "--ports", "4789,8472"]
        alone, reference = _timed(base)
        print(f"\n== Dask workers on {path.name} ({packets} frames, {os.cpu_count()} CPUs): without Dask "
              f"{alone:.2f} s = {packets / alone / 1e6:.2f} Mpps")
        times = {}
        for count in workers:
            elapsed, report = _timed([*base, "--workers", str(count)])
            times[count] = elapsed
            same = report["vnis"] == reference["vnis"] and report["pairs"] == reference["pairs"]
            print(f"--workers {count}: {elapsed:.2f} s = {packets / elapsed / 1e6:.2f} Mpps (cluster start included); "
                  f"same per-VNI and pair counters as without Dask: {same}")
        if 1 in times:
            for count in workers:
                if count > 1:
                    print(f"speed-up {count} workers vs 1, whole process (cluster start included): "
                          f"{times[1] / times[count]:.2f}x")
        running = _dask_running(path, workers, reference, repeats)
        if 1 in running:
            for count in workers:
                if count > 1:
                    print(f"speed-up {count} workers vs 1, cluster running: median "
                          f"{_ratio(running, count, statistics.median)}, best {_ratio(running, count, min)} "
                          "(target >= 1.7x with 2)")
        # Control in the same run: the same tasks in plain worker processes (no Dask) show how much parallelism
        # the machine gives right now (its cores are shared). Pools of every size stay up and are timed in
        # turn, like the clusters, so that a change of load between two timings does not land on one size.
        from concurrent.futures import ProcessPoolExecutor
        from contextlib import ExitStack

        from vxauto.monitor.merge import Settings, plan, run_task

        tasks = plan([path], 10_000_000)
        settings = Settings((4789, 8472))
        plain: dict[int, list[float]] = {count: [] for count in workers}
        with ExitStack() as stack:
            pools = {count: stack.enter_context(ProcessPoolExecutor(count)) for count in workers}
            for count, pool in pools.items():
                list(pool.map(run_task, tasks[:count], [settings] * count))  # start and import first
            for _ in range(repeats):
                for count, pool in pools.items():
                    started = time.perf_counter()
                    list(pool.map(run_task, tasks, [settings] * len(tasks)))
                    plain[count].append(time.perf_counter() - started)
        print("control, the same " + str(len(tasks)) + " tasks in a plain process pool: "
              + ", ".join(f"{count} processes {_times(elapsed)}" for count, elapsed in plain.items())
              + (f"; speed-up median {_ratio(plain, max(plain), statistics.median)}, best "
                 f"{_ratio(plain, max(plain), min)}" if 1 in plain and len(plain) > 1 else ""))
    finally:
        os.sched_setaffinity(0, everything)


def _times(values: list[float]) -> str:
    return "median " + f"{statistics.median(values):.2f} s (" + " / ".join(f"{v:.2f}" for v in values) + ")"


def _ratio(times: dict[int, list[float]], count: int, pick: Callable[[list[float]], float]) -> str:
    """Speed-up of `count` over 1 from the repeats, each side reduced by `pick` (median or min)."""
    return f"{pick(times[1]) / pick(times[count]):.2f}x"


def _dask_running(path: Path, workers: list[int], reference: dict, repeats: int = 3) -> dict[int, list[float]]:
    """Wall times of `merge.analyse` on already running local clusters of N workers (started and warmed up
    first: worker processes and their imports take seconds, a fixed cost that a long capture or a standing
    cluster does not pay per capture). Plan, tasks, merge tree and the result's transfer are timed. All the
    clusters stay up and are timed in turn, `repeats` rounds, so that a change of load on the shared
    machine between two timings does not land on one cluster size only."""
    from contextlib import ExitStack

    from dask.distributed import Client, LocalCluster

    from vxauto.monitor.merge import Settings, analyse
    from vxauto.monitor.report_formats import to_json

    settings = Settings((4789, 8472))
    times: dict[int, list[float]] = {count: [] for count in workers}
    with ExitStack() as stack:
        addresses = {}
        for count in workers:
            cluster = stack.enter_context(LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster))
            client.run(lambda: __import__("vxauto.monitor.merge"))  # every worker imports before the clock starts
            analyse([path], settings, scheduler=cluster.scheduler_address)  # and runs the code paths once
            addresses[count] = cluster.scheduler_address
        for _ in range(repeats):
            for count, address in addresses.items():
                started = time.perf_counter()
                partial = analyse([path], settings, scheduler=address)
                times[count].append(time.perf_counter() - started)
                report = json.loads(to_json(partial.analyzer.report(partial.stats)))
                if report["vnis"] != reference["vnis"] or report["pairs"] != reference["pairs"]:
                    raise SystemExit(f"--workers {count}: per-VNI or pair counters differ from the run without Dask")
    for count, elapsed in times.items():
        rate = partial.stats.frames / statistics.median(elapsed) / 1e6
        print(f"--workers {count}, cluster running: {_times(elapsed)} = {rate:.2f} Mpps; same per-VNI and pair "
              "counters: True")
    return times


def bench_memory(sizes_gb: list[float], capture: str, directory: Path, cpu: int, suffix: str = ".pcap") -> None:
    """Peak RSS of the whole process on captures of growing size, each generated just before and deleted."""
    print(f"\n== memory: {capture} {suffix[1:]} captures of {', '.join(f'{g:g}' for g in sizes_gb)} GB, "
          "whole process")
    for size_gb in sizes_gb:
        path = directory / f"memory-{size_gb:g}GB{suffix}"
        packets = int(size_gb * 1e9 / 431)  # 415 B per frame on average plus the 16-byte record header
        started = time.perf_counter()
        expected = generate(path, packets, **CAPTURES[capture])  # type: ignore[arg-type]
        made = time.perf_counter() - started
        size = path.stat().st_size
        try:
            elapsed, cpu_time, peak, counts, flows = vxauto_process(path, cpu)
        finally:
            path.unlink()
        print(f"{size / 1e9:6.2f} GB, {packets} frames (generated in {made:.0f} s): peak RSS {peak / 2**20:.0f} MiB, "
              f"wall {elapsed:.1f} s = {packets / elapsed / 1e6:.2f} Mpps, CPU {cpu_time:.1f} s; "
              f"{sum(counts.values())} VXLAN packets, flows {flows['mode']} {flows['flows']}; per-VNI counts match "
              f"the generator: {counts == expected}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000, help="frames of the few-flows capture")
    parser.add_argument("--unique-packets", type=int, default=500_000,
                        help="frames of the every-packet-a-flow capture")
    parser.add_argument("--captures", default=",".join(CAPTURES), help="comma-separated: " + ", ".join(CAPTURES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the generated captures in this directory")
    parser.add_argument("--no-tshark", action="store_true", help="skip tshark (no comparison)")
    parser.add_argument("--memory", help="comma-separated capture sizes in GB (e.g. 1,4,16): peak RSS of the whole "
                        "process on each, captures generated on the fly (needs that much free disk)")
    parser.add_argument("--memory-capture", default="few-flows", choices=list(CAPTURES))
    parser.add_argument("--memory-formats", default="pcap,pcapng", help="file formats of the --memory captures")
    parser.add_argument("--workers", help="comma-separated local Dask worker counts (e.g. 1,2) timed on the "
                        "few-flows capture, all CPUs allowed")
    args = parser.parse_args()

    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # one core for vxauto; tshark is pinned to the same one
    workdir = Path(tempfile.mkdtemp(prefix="vxauto-bench-"))
    directory = args.keep or workdir
    directory.mkdir(parents=True, exist_ok=True)
    ok = True
    try:
        if args.captures:
            bench_startup(directory, args.runs, cpu)
        for name in args.captures.split(",") if args.captures else []:
            packets = args.unique_packets if name == "every-packet-a-flow" else args.packets
            ok = bench_capture(name, directory / f"{name}.pcap", packets, args.runs, cpu, not args.no_tshark) and ok
        if args.workers:
            path = directory / "few-flows.pcap"
            if not path.exists():
                generate(path, args.packets)
            bench_workers(path, args.packets, [int(n) for n in args.workers.split(",")], args.runs)
        if args.memory:
            for fmt in args.memory_formats.split(","):
                bench_memory([float(g) for g in args.memory.split(",")], args.memory_capture, directory, cpu, "." + fmt)
        return 0 if ok else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
