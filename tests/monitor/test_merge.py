"""Many captures, one view: associative merges, duplicates across taps counted once, Dask distributed."""

from __future__ import annotations

import json
import shutil
import struct
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.monitor.bench_captures import write_bench_capture
from tests.monitor.packets import write_pcap
from vxauto.cli.monitor import app
from vxauto.monitor.capture import read_capture
from vxauto.monitor.decode import decode_capture
from vxauto.monitor.merge import Partial, Settings, analyse, analyse_one, merge_partials, plan, run_task

runner = CliRunner()
PORTS = (4789, 8472)


def _frames(path: Path) -> list[tuple[float, bytes]]:
    frames = read_capture(path)
    return [(int(frames.ts_ns[i]) / 1e9, frames.frame(i)) for i in range(len(frames))]


def _other_tap(frame: bytes) -> bytes:
    """The same packet one hop further: other outer MACs, IPv4 TTL one lower (checksum left stale)."""
    data = bytearray(frame)
    data[0:12] = b"\x02\xaa\xbb\xcc\xdd\x01\x02\xaa\xbb\xcc\xdd\x02"
    if data[12:14] == b"\x08\x00":
        data[22] -= 1
    return bytes(data)


@pytest.fixture(scope="module")
def taps(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, int]:
    """(original capture, tap A, tap B, packets seen on both): A holds 2/3 of the packets, B another 2/3,
    shifted by 200 microseconds and one hop further. Every packet differs from the others (as real ones do:
    IP identification, sequence numbers), so copies are only the same packet seen twice."""
    directory = tmp_path_factory.mktemp("taps")
    original = directory / "original.pcap"
    write_bench_capture(original, 3000, unique_flows=True)
    frames = _frames(original)
    tap_a = [f for i, f in enumerate(frames) if i % 3 != 2]
    tap_b = [(ts + 200e-6, _other_tap(data)) for i, (ts, data) in enumerate(frames) if i % 3 != 0]
    write_pcap(directory / "tap-a.pcap", tap_a)
    write_pcap(directory / "tap-b.pcap", tap_b)
    # VXLAN packets on both taps (plain frames are not VXLAN and never counted as duplicates).
    both = sum(len(decode_capture(path, PORTS)[0]) for path in (directory / "tap-a.pcap", directory / "tap-b.pcap"))
    both -= len(decode_capture(original, PORTS)[0])
    assert 0 < both < len(frames) / 3
    return original, directory / "tap-a.pcap", directory / "tap-b.pcap", both


def _per_vni(document: dict) -> dict[str, int]:
    return {vni: entry["packets"] for vni, entry in document["vnis"].items()}


def _comparable(partial: Partial) -> dict:
    document = partial.analyzer.report(partial.stats, "x").as_dict()
    return {key: value for key, value in document.items() if key != "source"}


def test_two_taps_count_every_packet_once(taps: tuple[Path, Path, Path, int]) -> None:
    original, tap_a, tap_b, both = taps
    alone = json.loads(runner.invoke(app, ["pcap", str(original), "--json"]).stdout)
    result = runner.invoke(app, ["pcap", str(tap_a), str(tap_b), "--json"])
    assert result.exit_code == 0, result.output
    merged = json.loads(result.stdout)
    assert _per_vni(merged) == _per_vni(alone) and merged["packets"] == alone["packets"]
    assert merged["captures"]["duplicates"] == both
    assert "hash of the inner frame" in merged["captures"]["matched_by"]
    # Control: a window shorter than the 200 us between the taps matches nothing, so copies count twice.
    narrow = json.loads(runner.invoke(app, ["pcap", str(tap_a), str(tap_b), "--json", "--dedup-window", "0.1"]).stdout)
    assert narrow["captures"]["duplicates"] == 0 and narrow["packets"] == alone["packets"] + both


def test_a_directory_of_captures_is_one_view(taps: tuple[Path, Path, Path, int], tmp_path: Path) -> None:
    _original, tap_a, tap_b, both = taps
    for tap in (tap_a, tap_b):
        shutil.copy(tap, tmp_path / tap.name)
    document = json.loads(runner.invoke(app, ["pcap", str(tmp_path), "--json"]).stdout)
    assert document["captures"]["files"] == [str((tmp_path / t.name).resolve()) for t in (tap_a, tap_b)]
    assert document["captures"]["duplicates"] == both
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["pcap", str(empty)])
    assert result.exit_code == 2 and "no capture files" in result.output


def test_copies_inside_one_capture_are_not_merged(taps: tuple[Path, Path, Path, int], tmp_path: Path) -> None:
    """A capture holding every packet twice keeps both; the other tap's copies of them are dropped."""
    original, _tap_a, tap_b, _both = taps
    frames = _frames(original)
    doubled = tmp_path / "doubled.pcap"
    write_pcap(doubled, sorted(frames + frames, key=lambda f: f[0]))
    vxlan = len(decode_capture(original, PORTS)[0])
    document = json.loads(runner.invoke(app, ["pcap", str(doubled), str(tap_b), "--json"]).stdout)
    assert document["packets"] == 2 * vxlan
    assert document["captures"]["duplicates"] == len(decode_capture(tap_b, PORTS)[0])


def test_partials_merge_in_any_order_and_any_cut(taps: tuple[Path, Path, Path, int]) -> None:
    original, tap_a, tap_b, _ = taps
    settings = Settings(PORTS, top_flows=20)
    streamed = _comparable(analyse_one(original, settings))
    tasks = plan([original], settings.window_ns, piece_bytes=100_000)
    assert len(tasks) > 3  # the capture really was cut
    partials = [run_task(task, settings) for task in tasks]
    forward = partials[0]
    for partial in partials[1:]:
        forward = merge_partials(forward, partial)
    partials = [run_task(task, settings) for task in tasks]
    backward = partials[-1]
    for partial in reversed(partials[:-1]):
        backward = merge_partials(backward, partial)
    assert _comparable(forward) == _comparable(backward) == streamed
    # Time slices over two taps: the duplicates found do not depend on where time was cut.
    coarse = analyse([tap_a, tap_b], settings, piece_bytes=10 << 20)
    fine = analyse([tap_a, tap_b], settings, piece_bytes=50_000)
    assert len(plan([tap_a, tap_b], settings.window_ns, piece_bytes=50_000)) > 5
    assert fine.duplicates == coarse.duplicates == taps[3]
    assert _comparable(fine) == _comparable(coarse)


def test_dask_distributed_cluster_gives_the_same_view(taps: tuple[Path, Path, Path, int]) -> None:
    from dask.distributed import LocalCluster

    _original, tap_a, tap_b, both = taps
    settings = Settings(PORTS, top_flows=20)
    local = analyse([tap_a, tap_b], settings, piece_bytes=100_000)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = runner.invoke(app, ["pcap", str(tap_a), str(tap_b), "--json", "--scheduler",
                                     cluster.scheduler_address])
        assert result.exit_code == 0, result.output
        on_cluster = json.loads(result.stdout)
    expected = local.analyzer.report(local.stats, "x").as_dict()
    assert _per_vni(on_cluster) == _per_vni(expected)  # type: ignore[arg-type]
    assert on_cluster["captures"]["duplicates"] == both == local.duplicates
    assert on_cluster["pairs"] == expected["pairs"] and on_cluster["flows"][:20] == expected["flows"]
    assert Counter(a["kind"] for a in on_cluster["anomalies"]) == Counter(
        a["kind"] for a in expected["anomalies"]  # type: ignore[attr-defined]
    )
    refused = runner.invoke(app, ["pcap", str(tap_a), "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"])
    assert refused.exit_code == 2 and "give one" in refused.output
    for option, value, message in (("--workers", "0", "at least 1"), ("--max-flows", "0", "at least 1"),
                                   ("--dedup-window", "-1", "negative")):
        bad = runner.invoke(app, ["pcap", str(tap_a), option, value])
        assert bad.exit_code == 2 and option in bad.output and message in bad.output and "Traceback" not in bad.output


def test_pieces_hold_exactly_the_records_of_the_whole_file(taps: tuple[Path, Path, Path, int], tmp_path: Path) -> None:
    from vxauto.monitor.capture import iter_pieces

    original = taps[0]
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(original.read_bytes()[:-7])  # a capture killed in the middle of its last packet
    for path in (original, cut):
        whole = read_capture(path, strict=False)
        pieces = list(iter_pieces(path, strict=False, piece_bytes=40_000))
        assert len(pieces) > 10
        assert sum(len(p) for p in pieces) == len(whole)
        for name in ("ts_ns", "caplen", "origlen"):
            joined = [int(v) for p in pieces for v in getattr(p, name)]
            assert joined == getattr(whole, name).tolist()
        frames = [p.frame(i) for p in pieces for i in range(len(p))]
        assert frames == [whole.frame(i) for i in range(len(whole))]
        assert [str(x) for p in pieces for x in p.problems] == [str(x) for x in whole.problems]


def _pcapng_from(frames: list[tuple[float, bytes]]) -> bytes:
    """The frames as pcapng: EPBs with microsecond stamps; from the middle on, a second section (big-endian,
    nanosecond interface) whose first packet is a Simple Packet Block, so pieces must carry the section,
    its byte order and interfaces across their boundaries."""
    def block(kind: int, body: bytes, endian: str) -> bytes:
        body += bytes(-len(body) % 4)
        return struct.pack(endian + "II", kind, 12 + len(body)) + body + struct.pack(endian + "I", 12 + len(body))

    def section(endian: str, nanos: bool) -> bytes:
        options = struct.pack(endian + "HHB3x", 9, 1, 9) + struct.pack(endian + "HH", 0, 0) if nanos else b""
        return (block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)
                + block(1, struct.pack(endian + "HHI", 1, 0, 0) + options, endian))

    half = len(frames) // 2
    out = [section("<", False)]
    for index, (ts, data) in enumerate(frames):
        endian, units = ("<", 10**6) if index < half else (">", 10**9)
        if index == half:
            out.append(section(">", True))
            out.append(block(3, struct.pack(">I", len(data)) + data, ">"))
            continue
        stamp = round(ts * units)
        out.append(block(6, struct.pack(endian + "IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(data), len(data))
                         + data, endian))
    return b"".join(out)


def test_pcapng_read_in_pieces_gives_the_whole_files_report(taps: tuple[Path, Path, Path, int],
                                                             tmp_path: Path) -> None:
    from vxauto.monitor.capture import iter_pieces

    path = tmp_path / "tap.pcapng"
    path.write_bytes(_pcapng_from(_frames(taps[1])))
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(path.read_bytes()[:-7])  # killed in the middle of its last block
    settings = Settings(PORTS, strict=False)
    for capture in (path, cut):
        whole = read_capture(capture, strict=False)
        pieces = list(iter_pieces(capture, strict=False, piece_bytes=40_000))
        assert len(pieces) > 10 and sum(len(p) for p in pieces) == len(whole)
        for name in ("ts_ns", "caplen", "origlen", "linktype"):
            assert [int(v) for p in pieces for v in getattr(p, name)] == getattr(whole, name).tolist()
        assert [p.frame(i) for p in pieces for i in range(len(p))] == [whole.frame(i) for i in range(len(whole))]
        assert [str(x) for p in pieces for x in p.problems] == [str(x) for x in whole.problems]
        expected = _comparable(analyse_one(capture, settings, piece_bytes=1 << 40))
        assert _comparable(analyse_one(capture, settings, piece_bytes=40_000)) == expected
        tasks = plan([capture], settings.window_ns, piece_bytes=40_000)  # the tasks Dask workers would run
        assert len(tasks) > 10
        merged = run_task(tasks[0], settings)
        for task in tasks[1:]:
            merged = merge_partials(merged, run_task(task, settings))
        assert _comparable(merged) == expected
    assert "cut short" in str(read_capture(cut, strict=False).problems[0])


def test_byte_ranges_join_and_a_wrong_guess_is_read_again(tmp_path: Path) -> None:
    """Dask workers cut a pcap file by byte ranges and find their own first record (capture.cut_pcap). A
    range starting inside a packet whose payload looks like three chained record headers guesses wrong;
    the driver sees that it does not join and reads it again from a true record start: the view equals
    reading the file in one go."""
    from dask.distributed import Client, LocalCluster

    from vxauto.monitor.capture import Piece, cut_pcap, resolve_range
    from vxauto.monitor.merge import _joined, run_range
    from vxauto.monitor.walk import walk_records

    path = tmp_path / "ranges.pcap"
    write_bench_capture(path, 3000, templates=64)
    raw = bytearray(path.read_bytes())
    offsets = walk_records(bytes(raw), len(raw), "<", False)
    caplen = [struct.unpack_from("<I", raw, int(o) + 8)[0] for o in offsets]
    big = [int(o) for o, c in zip(offsets, caplen, strict=True) if c >= 1000]
    traps = [big[len(big) // 3] + 16 + 400, big[2 * len(big) // 3] + 16 + 400]  # inside zero payload
    for trap in traps:
        for link in range(3):  # three chained headers: 8 captured bytes each
            struct.pack_into("<IIII", raw, trap + 24 * link, 1_700_000_000, 0, 8, 8)
    path.write_bytes(bytes(raw))
    settings = Settings(PORTS, top_flows=20)
    even = cut_pcap(path, 50_000)
    assert even is not None and len(even) > 10
    bounds = sorted({*(p.begin for p in even), *traps})
    ranges = [Piece(str(path), b, e, guessed=b > 24) for b, e in zip(bounds, [*bounds[1:], len(raw)], strict=True)]
    for trap in traps:  # positive control: these ranges really guess wrong (a true start is a record offset)
        guess = resolve_range(Piece(str(path), trap, trap + 50_000, guessed=True))
        assert guess is not None and guess.begin == trap and trap not in set(offsets.tolist())
    with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
        futures = [client.submit(run_range, r, settings, pure=False) for r in ranges]
        kept = client.gather(_joined(client, ranges, futures, settings))
    merged = kept[0]
    for partial in kept[1:]:
        merged = merge_partials(merged, partial)
    assert _comparable(merged) == _comparable(analyse_one(path, settings))
    assert merged.stats.frames == len(offsets)
