"""IPFIX into a real collector: pmacct's nfacctd (Debian `pmacct`) adds up vxauto's export per VNI.

nfacctd's `vxlan` primitive reads the VNI from layer2SegmentId (IE 351, 8 bytes, type octet 0x01, VNI in
the low 24 bits: NF_vxlan_handler), which is what vxauto exports, so no other element is needed. pmacct
1.7.7 (Debian 12) reads it one byte too far (bytes 6 and 7 of the element and one byte past it); pmacct
fixed that in 1.7.8 (commit 5e4b061, "corrected parsing of Information Element 351"). So nfacctd also
aggregates on a custom primitive `l2sid`, IE 351 read as an 8-byte integer, whose low 24 bits are the VNI
in every version, and the `vxlan` primitive is checked for what the installed version is known to give.
Inner flows go in observation domain 1 and tunnels in domain 2: each domain's per-VNI totals in nfacctd
must equal vxauto's.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.monitor.bench_captures import write_bench_capture
from vxauto.monitor.analysis import Analyzer, Report
from vxauto.monitor.capture import read_capture
from vxauto.monitor.decode import Decoder
from vxauto.monitor.ipfix import TEMPLATES, IpfixExporter, segment_id

FLOWS, TUNNELS, MARKER_DOMAIN = 1, 2, 3
MARKER_VNI = 0xFFFFFF
DEADLINE_S = 60
ROUND = 1  # IPFIX messages (of up to 1400 bytes, about 30 records) per round


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Nfacctd:
    """nfacctd with an in-memory table, started in its own process group and always stopped."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_udp_port()
        self.pipe = directory / "vni.pipe"
        config = directory / "nfacctd.conf"
        primitives = directory / "primitives.lst"
        primitives.write_text("name=l2sid field_type=351 len=8 semantics=u_int\n")
        config.write_text(
            "daemonize: false\n"
            f"nfacctd_ip: 127.0.0.1\nnfacctd_port: {self.port}\n"
            f"aggregate_primitives: {primitives}\n"
            "plugins: memory[vni]\n"
            "aggregate[vni]: vxlan, l2sid, export_proto_sysid\n"
            f"imt_path[vni]: {self.pipe}\n"
        )
        self.process = subprocess.Popen(["nfacctd", "-f", str(config)], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # blocking reads in a thread: no select() on a buffered pipe
            self.lines.put(line)

    def wait_ready(self) -> None:
        """Both signs nfacctd gives: the core listens on the port, the memory plugin serves its pipe."""
        needed = {f"waiting for NetFlow/IPFIX data on 127.0.0.1:{self.port}", f"waiting for data on: '{self.pipe}'"}
        deadline = time.monotonic() + DEADLINE_S
        while needed:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("nfacctd did not become ready:\n" + "".join(self.log)) from None
            self.log.append(line)
            needed = {sign for sign in needed if sign not in line}

    def drain_log(self) -> None:
        while not self.lines.empty():
            self.log.append(self.lines.get())

    def version(self) -> tuple[int, ...]:
        banner = subprocess.run(["nfacctd", "-V"], capture_output=True, text=True, check=False).stdout
        words = banner.split("nfacctd", 1)[1].split()
        return tuple(int(part) for part in words[0].split("-")[0].split("."))

    def table(self) -> list[dict[str, int]]:
        done = subprocess.run(["pmacct", "-s", "-p", str(self.pipe), "-O", "json"], capture_output=True, text=True,
                              timeout=30, check=True)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the core and its plugin process
        self.process.wait(timeout=30)


@pytest.fixture
def nfacctd(tmp_path: Path) -> Iterator[Nfacctd]:
    if shutil.which("nfacctd") is None or shutil.which("pmacct") is None:
        pytest.skip("pmacct is not installed (apt-get install pmacct)")
    daemon = Nfacctd(tmp_path)
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.close()


def _report(tmp_path: Path) -> Report:
    path = tmp_path / "scan.pcap"
    write_bench_capture(path, 1500, unique_flows=True)
    decoder, analyzer = Decoder((4789, 8472)), Analyzer(top_flows=10**6)  # export every flow
    for table in decoder.decode_batches(read_capture(path)):
        analyzer.add(table)
    return analyzer.report(decoder.finish(), str(path))


class _Recorder:
    """Stands in for the exporter's socket: keeps the messages so the test can hand them over in rounds."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    def sendto(self, data: bytes, _address: object) -> None:
        self.messages.append(data)

    def close(self) -> None:
        pass


def _marker() -> bytes:
    """One tunnel record of one packet on a VNI of its own, in an observation domain of its own."""
    marker = IpfixExporter(domain=MARKER_DOMAIN)
    marker.close()
    template = TEMPLATES["tunnel-ipv4"]
    record = template.record_format.pack(segment_id(MARKER_VNI), bytes(4), bytes(4), 17, 4789, 1, 1, 0, 0)
    return next(iter(marker.messages([(template, record)], int(time.time()))))


def _marker_packets(rows: list[dict[str, int]]) -> int:
    return sum(row["packets"] for row in rows if row["export_proto_sysid"] == MARKER_DOMAIN)


def _hand_over(nfacctd: Nfacctd, messages: list[bytes]) -> list[dict[str, int]]:
    """Send the messages a few at a time; after each round, a marker, and on only when nfacctd shows it.

    nfacctd passes records from its socket to its plugin through one pipe, in order: the marker in its table
    is its sign that everything sent before was processed. Rounds keep each burst far below what the pipe
    holds (nfacctd drops records, "Missing data detected", when its plugin falls behind).
    """
    marker = _marker()
    deadline = time.monotonic() + DEADLINE_S
    rows: list[dict[str, int]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for round_number, begin in enumerate(range(0, len(messages), ROUND), start=1):
            for message in [*messages[begin : begin + ROUND], marker]:
                sender.sendto(message, ("127.0.0.1", nfacctd.port))
            rows = nfacctd.table()
            while _marker_packets(rows) < round_number:
                assert time.monotonic() < deadline, f"nfacctd never showed marker {round_number}: {rows[:5]}"
                rows = nfacctd.table()
    return rows


def test_nfacctd_per_vni_totals_equal_vxautos(nfacctd: Nfacctd, tmp_path: Path) -> None:
    report = _report(tmp_path)
    assert report.flow_info().mode == "exact" and len(report.flows) == report.flow_info().flows
    exporter = IpfixExporter("127.0.0.1", nfacctd.port, domain=FLOWS, tunnel_domain=TUNNELS)
    exporter._socket.close()
    recorder = _Recorder()
    exporter._socket = recorder  # type: ignore[assignment]
    sent = exporter.export(report)
    assert sent == len(report.flows) + len(report.pairs) and len(recorder.messages) > ROUND
    rows = _hand_over(nfacctd, recorder.messages)
    nfacctd.drain_log()
    assert not any("Missing data" in line for line in nfacctd.log), "".join(nfacctd.log[-5:])
    totals: dict[tuple[int, int], tuple[int, int]] = {}
    read_as: dict[int, set[int]] = {}  # VNI -> what the vxlan primitive made of it
    for row in rows:
        vni = int(row["l2sid"]) & 0xFFFFFF  # nfacctd 1.7.7 prints the low 32 bits of an 8-byte u_int
        if row["export_proto_sysid"] == MARKER_DOMAIN:
            continue
        # Rows are per (vxlan, l2sid, domain): a vxlan value that differs for one VNI splits its totals.
        packets, octets = totals.get((row["export_proto_sysid"], vni), (0, 0))
        totals[(row["export_proto_sysid"], vni)] = (packets + row["packets"], octets + row["bytes"])
        read_as.setdefault(vni, set()).add(int(row["vxlan"]))
    flows = {vni: value for (domain, vni), value in totals.items() if domain == FLOWS}
    tunnels = {vni: value for (domain, vni), value in totals.items() if domain == TUNNELS}
    assert flows == {vni: (s.packets, s.bytes) for vni, s in report.vnis.items()}
    assert tunnels == {vni: (s.packets, s.wire_bytes) for vni, s in report.vnis.items()}
    assert len(report.vnis) == 7 and all(packets for packets, _ in flows.values())
    if nfacctd.version() >= (1, 7, 8):
        assert read_as == {vni: {vni} for vni in report.vnis}
    else:  # pmacct 1.7.7: bytes 6 and 7 of IE 351 shifted up a byte, then one byte from beyond the element
        assert {vni: {v >> 8 for v in values} for vni, values in read_as.items()} == {
            vni: {vni & 0xFFFF} for vni in report.vnis}
