"""Live capture: tcpdump writes pcap to a pipe (inside a network namespace if asked), we decode it.

tcpdump is the capture engine (it handles BPF, ring buffers and link types); `PcapStream` cuts the
pipe's bytes into complete records, and every batch goes through the same decoder and analyzer as a
file. `--lab FILE --node NODE` names the namespace `<lab name>-<node>`, as the netns lab runtime does.
"""

from __future__ import annotations

import os
import select
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vxauto.errors import VxautoError
from vxauto.monitor.analysis import Analyzer, Report
from vxauto.monitor.capture import MAX_CAPLEN, PAD, PCAP_MAGIC_NS, PCAP_MAGIC_US, Frames, parse_capture
from vxauto.monitor.decode import Decoder

READ_SIZE = 1 << 20


class PcapStream:
    """Incremental pcap parser: `feed(bytes)` returns the frames whose records are complete."""

    def __init__(self, name: str = "<pipe>") -> None:
        self.name = name
        self.header: bytes | None = None
        self.pending = bytearray()
        self.offset = 0  # stream offset of pending[0], for error messages
        self.unpack: Callable[[bytes | bytearray, int], tuple[int, ...]] | None = None

    def feed(self, data: bytes) -> Frames:
        self.pending += data
        if self.header is None:
            if len(self.pending) < 24:
                return Frames.empty(self.name)
            self._read_header()
        assert self.unpack is not None and self.header is not None
        position = 0
        while position + 16 <= len(self.pending):
            caplen = self.unpack(self.pending, position + 8)[0]
            if caplen > MAX_CAPLEN:
                raise VxautoError.single(self.name, f"offset {self.offset + position}",
                                         f"corrupt pcap record: packet record claims {caplen} captured bytes")
            if position + 16 + caplen > len(self.pending):
                break
            position += 16 + caplen
        if not position:
            return Frames.empty(self.name)
        chunk = bytearray(self.header)
        chunk += self.pending[:position]
        size = len(chunk)
        chunk += bytes(PAD)
        del self.pending[:position]
        self.offset += position
        frames = parse_capture(chunk, size, self.name)
        return frames

    def _read_header(self) -> None:
        magic = bytes(self.pending[:4])
        for endian in ("<", ">"):
            if struct.unpack(endian + "I", magic)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
                self.unpack = struct.Struct(endian + "I").unpack_from
                break
        else:
            raise VxautoError.single(self.name, "offset 0", "the capture stream is not pcap", magic.hex())
        self.header = bytes(self.pending[:24])
        del self.pending[:24]
        self.offset = 24


def namespace_of_lab(lab_file: Path | str, node: str) -> str:
    """The network namespace of a lab node: `<lab name>-<node>`, as the netns lab runtime names them."""
    path = Path(lab_file)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise VxautoError.single(str(path), "", f"cannot read the lab topology: {error}") from None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise VxautoError.single(str(path), "name", "the topology has no lab name", name)
    nodes = ((data.get("topology") or {}).get("nodes") or {}) if isinstance(data.get("topology"), dict) else {}
    if nodes and node not in nodes:
        raise VxautoError.single(str(path), "topology.nodes", f"no node {node!r} in the lab (nodes: "
                                 f"{', '.join(sorted(nodes))})", node)
    return f"{name}-{node}"


@dataclass(frozen=True)
class Sign:
    """What a daemon said on a pipe while we waited for its readiness line."""

    found: bool
    ended: bool
    text: str


def wait_for_sign(fd: int, sign: bytes, timeout: float) -> Sign:
    """Read a pipe (raw descriptor, unbuffered) until `sign` appears, the writer closes it, or `timeout`."""
    deadline = time.monotonic() + timeout
    said = b""
    while sign not in said:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Sign(False, False, said.decode(errors="replace").strip())
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return Sign(False, True, said.decode(errors="replace").strip())
        said += chunk
    return Sign(True, False, said.decode(errors="replace").strip())


@dataclass
class LiveCapture:
    """tcpdump on `interface` (in namespace `netns` when set) feeding a decoder and an analyzer."""

    interface: str
    analyzer: Analyzer
    decoder: Decoder
    netns: str | None = None
    bpf: str | None = None
    snaplen: int = 262_144
    source: str = field(init=False, default="")

    def __post_init__(self) -> None:
        where = f"netns {self.netns} " if self.netns else ""
        self.source = f"live {where}{self.interface}"
        self._process: subprocess.Popen[bytes] | None = None
        self._stream = PcapStream(self.source)

    def command(self) -> list[str]:
        tcpdump = shutil.which("tcpdump") or "/usr/bin/tcpdump"
        command = [tcpdump, "-i", self.interface, "-w", "-", "-U", "-n", "--immediate-mode", "-s", str(self.snaplen)]
        if self.bpf:
            command.append(self.bpf)
        if self.netns:
            command = ["ip", "netns", "exec", self.netns, *command]
        return command

    def start(self, ready_timeout: float = 10.0) -> None:
        """Start tcpdump and wait until it is listening (so traffic sent after this is captured).

        tcpdump's own sign is its "listening on" line on stderr, which may arrive in one read together
        with an earlier line (`--iface any` first prints "data link type LINUX_SLL2"). So stderr is read
        with `os.read` on the raw descriptor, never through a buffered file object that `select` cannot
        see into, and the sign is looked for in everything read so far.
        """
        if self.netns and not Path(f"/run/netns/{self.netns}").exists():
            raise VxautoError.single("--netns", "", "no such network namespace", self.netns)
        self._process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._process.stderr is not None
        said = wait_for_sign(self._process.stderr.fileno(), b"listening on", ready_timeout)
        if said.found:
            return
        self.stop()
        raise VxautoError.single(self.source, "", "tcpdump did not start" + ("" if said.ended else
                                 f" within {ready_timeout:g} s"), said.text or None)

    def pump(self, timeout: float = 0.2) -> int:
        """Read what tcpdump wrote so far (waiting at most `timeout`); returns the packets decoded."""
        assert self._process is not None and self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        if not ready:
            return 0
        data = os.read(self._process.stdout.fileno(), READ_SIZE)
        return self._consume(data)

    def _consume(self, data: bytes) -> int:
        if not data:
            return 0
        decoded = 0
        for table in self.decoder.decode_batches(self._stream.feed(data)):
            self.analyzer.add(table)
            decoded += len(table)
        return decoded

    def stop(self) -> None:
        """Stop tcpdump and decode everything it wrote before it ended."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
        try:
            rest, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate()
        self._consume(rest or b"")

    def run(self, seconds: float | None, on_tick: Callable[[Report], None] | None = None, tick: float = 1.0) -> Report:
        """Capture for `seconds` (until Ctrl-C when None), calling `on_tick` with a fresh report each tick."""
        self.start()
        started = next_tick = time.monotonic()
        try:
            while seconds is None or time.monotonic() - started < seconds:
                self.pump(0.1)
                if on_tick and time.monotonic() >= next_tick:
                    on_tick(self.report())
                    next_tick += tick
                if self._process is not None and self._process.poll() is not None:
                    break  # tcpdump ended (interface gone)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
        self.decoder.finish()
        return self.report()

    def report(self) -> Report:
        return self.analyzer.report(self.decoder.stats, self.source)


def capture_during(
    action: Callable[[], object], interface: str, netns: str | None = None, intent: object | None = None,
    ports: tuple[int, ...] = (4789, 8472, 4790),
) -> Report:
    """Capture on `interface` while `action()` runs (e.g. data-plane checks) and return the checked report.

    This is the hook for `vxauto validate --traffic`: the validator passes its checks as `action` and adds
    `report.anomalies` to its own report. `intent` is an `IntentView` (or None for intent-free checks).
    """
    from vxauto.monitor.intent import IntentView

    view = intent if isinstance(intent, IntentView) else None
    capture = LiveCapture(interface, Analyzer(view), Decoder(ports if view is None else (*ports, view.udp_port)),
                          netns=netns)
    capture.start()
    try:
        action()
        capture.pump(0.2)
    finally:
        capture.stop()
    capture.decoder.finish()
    return capture.report()
