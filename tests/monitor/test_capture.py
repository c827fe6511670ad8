"""Capture file readers: checked against dpkt, on hand-built pcap/pcapng variants, and on damaged files."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import dpkt
import pytest
from scapy.all import IP, UDP, Ether, Raw, wrpcap, wrpcapng
from scapy.layers.vxlan import VXLAN

from tests.monitor.packets import mutate, random_frame
from vxauto.errors import VxautoError
from vxauto.monitor.capture import read_capture
from vxauto.monitor.decode import Decoder

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def sample_packets(count: int = 50, seed: int = 1) -> list:
    rng = random.Random(seed)
    packets = []
    for index in range(count):
        packet = (
            ETH
            / IP(src="10.99.0.1", dst="10.99.0.2")
            / UDP(dport=4789)
            / VXLAN(flags=0x08, vni=index % 5)
            / Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
            / IP(src="1.0.0.1", dst="1.0.0.2")
            / Raw(b"d" * rng.randrange(0, 300))
        )
        packet.time = 1_700_000_000 + index * 0.001234
        packets.append(packet)
    return packets


def dpkt_records(path: Path) -> list[tuple[float, bytes]]:
    with path.open("rb") as handle:
        reader = dpkt.pcapng.Reader(handle) if path.suffix == ".pcapng" else dpkt.pcap.Reader(handle)
        return [(ts, bytes(data)) for ts, data in reader]


@pytest.mark.parametrize("suffix", [".pcap", ".pcapng"])
def test_reader_matches_dpkt(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"sample{suffix}"
    (wrpcapng if suffix == ".pcapng" else wrpcap)(str(path), sample_packets())
    frames = read_capture(path)
    expected = dpkt_records(path)
    assert len(frames) == len(expected) == 50
    for index, (ts, data) in enumerate(expected):
        assert frames.frame(index) == data
        assert abs(frames.ts_ns[index] / 1e9 - ts) < 1e-6
    assert set(frames.linktype.tolist()) == {1} and frames.problems == []


def pcap_bytes(
    records: list[tuple[int, int, bytes]], endian: str = "<", nanos: bool = False, linktype: int = 1
) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for seconds, fraction, data in records:
        out += struct.pack(endian + "IIII", seconds, fraction, len(data), len(data)) + data
    return out


def frame(vni: int) -> bytes:
    return bytes(
        ETH
        / IP(src="10.99.0.1", dst="10.99.0.2")
        / UDP(dport=4789)
        / VXLAN(flags=0x08, vni=vni)
        / Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
        / IP(src="1.0.0.1", dst="1.0.0.2")
    )


@pytest.mark.parametrize(("endian", "nanos"), [("<", False), (">", False), ("<", True), (">", True)])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, endian: str, nanos: bool) -> None:
    path = tmp_path / "variant.pcap"
    fraction = 123_456_789 if nanos else 123_456
    path.write_bytes(pcap_bytes([(1_700_000_000, fraction, frame(1)), (1_700_000_001, 0, frame(2))], endian, nanos))
    frames = read_capture(path)
    assert frames.ts_ns.tolist()[0] == 1_700_000_000 * 10**9 + (123_456_789 if nanos else 123_456_000)
    assert Decoder().decode(frames).vni.tolist() == [1, 2]


def block(kind: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def pcapng_bytes() -> bytes:
    """Two sections; interfaces of two link types, one with nanosecond resolution; EPB, SPB and an unknown block."""
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    ethernet_if = block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0))
    raw_if = block(1, struct.pack("<HHI", 101, 0, 0))
    ts = 1_700_000_000_123_456_789

    def epb(iface: int, data: bytes, stamp: int) -> bytes:
        return block(6, struct.pack("<IIIII", iface, stamp >> 32, stamp & 0xFFFFFFFF, len(data), len(data)) + data)

    raw_ip = frame(3)[14:]
    first = shb + ethernet_if + raw_if + epb(0, frame(1), ts) + block(0x0BAD, b"ignored") + epb(1, raw_ip, ts // 1000)
    second = shb + block(1, struct.pack("<HHI", 1, 0, 0)) + block(3, struct.pack("<I", len(frame(4))) + frame(4))
    return first + second


def test_pcapng_sections_interfaces_and_block_kinds(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(pcapng_bytes())
    frames = read_capture(path)
    assert frames.linktype.tolist() == [1, 101, 1]
    assert frames.ts_ns.tolist()[:2] == [1_700_000_000_123_456_789, 1_700_000_000_123_456_000]
    assert sorted(Decoder().decode(frames).vni.tolist()) == [1, 3, 4]  # rows come grouped by link type
    with path.open("rb") as handle:  # dpkt agrees on the first section's packets
        assert [bytes(d) for _, d in dpkt.pcapng.Reader(handle)][:2] == [frames.frame(0), frames.frame(1)]


def test_corrupt_files_name_the_file_and_offset(tmp_path: Path) -> None:
    good = pcap_bytes([(1, 0, frame(1)), (2, 0, frame(2)), (3, 0, frame(3))])
    second = 24 + 16 + len(frame(1))
    damaged = bytearray(good)
    damaged[second + 8 : second + 12] = struct.pack("<I", 0x7FFFFFFF)  # absurd captured length
    path = tmp_path / "damaged.pcap"
    path.write_bytes(bytes(damaged))
    with pytest.raises(VxautoError) as error:
        read_capture(path)
    assert str(path) in str(error.value) and f"offset {second}" in str(error.value)
    frames = read_capture(path, strict=False)
    assert len(frames) == 1 and f"offset {second}" in str(frames.problems[0])

    for content, where in ((b"garbage!" * 10, "offset 0"), (b"\xd4\xc3\xb2\xa1" + bytes(10), "offset 0")):
        path.write_bytes(content)
        with pytest.raises(VxautoError, match=where):
            read_capture(path)


def test_cut_short_capture_keeps_complete_packets(tmp_path: Path) -> None:
    good = pcap_bytes([(1, 0, frame(1)), (2, 0, frame(2))])
    path = tmp_path / "cut.pcap"
    path.write_bytes(good[:-10])
    frames = read_capture(path)
    assert len(frames) == 1 and "cut short" in str(frames.problems[0])
    path.write_bytes(good[:24])
    assert len(read_capture(path)) == 0


def test_pcapng_block_damage(tmp_path: Path) -> None:
    good = pcapng_bytes()
    path = tmp_path / "damaged.pcapng"
    # the first EPB starts after SHB (28) and two IDBs
    epb = good.index(struct.pack("<I", 6), 28 + 20)
    damaged = bytearray(good)
    damaged[epb + 4 : epb + 8] = struct.pack("<I", 36)  # shorter than its content: trailer mismatch
    path.write_bytes(bytes(damaged))
    with pytest.raises(VxautoError, match=f"offset {epb}"):
        read_capture(path)
    assert len(read_capture(path, strict=False)) == 0


def test_fuzzed_capture_files_never_crash(tmp_path: Path) -> None:
    """Thousands of damaged pcap and pcapng files: a VxautoError or frames, and decoding never fails."""
    rng = random.Random(2024)
    base_pcap = pcap_bytes([(1, i, random_frame(rng)) for i in range(20)])
    path = tmp_path / "pcapng.pcapng"
    wrpcapng(str(path), [Ether(random_frame(rng)) for _ in range(20)])
    base_pcapng = path.read_bytes()
    outcomes = {"error": 0, "frames": 0}
    for trial in range(2000):
        data = bytearray(base_pcap if trial % 2 else base_pcapng)
        for _ in range(rng.randrange(1, 4)):
            data = bytearray(mutate(rng, bytes(data))) if rng.random() < 0.3 else data
            position = rng.randrange(len(data)) if data else 0
            if data:
                data[position] = rng.randrange(256)
        path = tmp_path / f"fuzz{trial % 7}.cap"
        path.write_bytes(bytes(data))
        try:
            frames = read_capture(path)
        except VxautoError as error:
            assert error.problems and str(path) in str(error)
            outcomes["error"] += 1
            try:  # keep-going mode reads what comes before the damage (only header damage is fatal)
                frames = read_capture(path, strict=False)
            except VxautoError as fatal:
                assert "offset 0" in str(fatal) or "header" in str(fatal)
                continue
        decoder = Decoder()
        decoder.decode(frames)
        decoder.finish()
        outcomes["frames"] += 1
    assert outcomes["error"] > 100 and outcomes["frames"] > 1000


def _records_file(rng: random.Random, count: int, sizes: tuple[int, ...], truncate_to: int | None = None) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for index in range(count):
        size = rng.choice(sizes)
        data = random_frame(rng)[:size].ljust(size, b"\0")
        kept = data[:truncate_to] if truncate_to else data
        out.append(struct.pack("<IIII", 1_700_000_000 + index // 1000, index % 1000, len(kept), size) + kept)
    return b"".join(out)


@pytest.mark.parametrize("case", ["mixed", "jumbo", "tiny", "snaplen", "corrupt", "cut", "noise"])
def test_parallel_walk_finds_exactly_the_sequential_records(
    case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Small segments and windows make every kind of guess and join happen within a small file."""
    from vxauto.monitor import walk

    monkeypatch.setattr(walk, "SEGMENT", 4096)
    monkeypatch.setattr(walk, "WINDOW", 600)
    rng = random.Random(case)
    if case == "noise":
        data = pcap_bytes([]) + rng.randbytes(300_000)
    else:
        sizes = {
            "mixed": (60, 90, 576, 1500),
            "jumbo": (1500, 9000),
            "tiny": (14, 20, 42),
            "snaplen": (200, 1500),
            "corrupt": (60, 576),
            "cut": (60, 1500),
        }[case]
        data = _records_file(rng, 1500, sizes, truncate_to=96 if case == "snaplen" else None)
    if case == "corrupt":
        damaged = bytearray(data)
        for _ in range(5):
            position = rng.randrange(24, len(damaged) - 4)
            damaged[position : position + 4] = rng.randbytes(4)
        data = bytes(damaged)
    if case == "cut":
        data = data[: len(data) - 700]
    expected = walk.walk_sequential(data, 24, len(data), "<")
    found = walk.walk_records(data, len(data), "<", nanos=False, min_parallel=0)
    assert found.tolist() == expected
    if case in ("mixed", "tiny"):
        assert len(expected) == 1500
