"""Fast pcap / pcapng readers that index a capture without copying packets.

A capture file is memory-mapped; the readers only find where every packet starts. Records are chained
by length: pcap records are found by the parallel walk of `walk.py` (exactly the sequential walk's
result), pcapng blocks by a tight Python loop that reads one length per block. Everything else about the
records (timestamps, lengths, sanity checks) is read afterwards with numpy over all records at once.
The decoder then reads the packets straight out of the same buffer, so no per-packet `bytes` object is
ever made on the fast path. `read_piece` maps and indexes one piece of a file at a time (pcap and pcapng
alike), so memory stays flat in capture size.

Problems with the file itself are reported as `VxautoError` naming the file and byte offset (strict
mode) or recorded in `Frames.problems` (keep-going mode, reading stops at the corruption). A file cut
short in the middle of its last packet (a capture that was killed) is not an error: the complete
packets are kept and the cut is recorded as a problem.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vxauto.errors import VxautoError

#: Spare bytes after in-memory captures; memory-mapped files have none and the decoder hands frames
#: that end closer than this to the end of the buffer to the scalar decoder.
PAD = 512
Buffer = mmap.mmap | bytearray
#: The largest packet a capture record may claim (Wireshark's limit for pcap).
MAX_CAPLEN = 262_144
#: Bytes walked per block after pulling the block into the CPU cache (fits the last-level cache).
PREFETCH_BLOCK = 4 << 20

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
EPB, SPB, OBSOLETE_PB, IDB = 6, 3, 2, 1
IDB_OPT_TSRESOL, IDB_OPT_TSOFFSET = 9, 14


@dataclass(frozen=True)
class CaptureProblem:
    """Something wrong with the capture file (not with a packet in it)."""

    file: str
    offset: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}: offset {self.offset}: {self.message}"


@dataclass
class Frames:
    """Index of the frames of a capture: where each frame's bytes are in `buf`, and its metadata."""

    buf: np.ndarray  # uint8, the whole capture (a memory map, or bytes followed by PAD zero bytes)
    start: np.ndarray  # int64: offset of each frame's first byte in buf
    caplen: np.ndarray  # int64: captured bytes
    origlen: np.ndarray  # int64: length on the wire
    ts_ns: np.ndarray  # int64: nanoseconds since the epoch
    linktype: np.ndarray  # int32: DLT/LINKTYPE value of each frame
    source: str = "<capture>"
    problems: list[CaptureProblem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.start)

    def frame(self, index: int) -> bytes:
        begin = int(self.start[index])
        return bytes(self.buf[begin : begin + int(self.caplen[index])])

    @classmethod
    def empty(cls, source: str = "<capture>") -> Frames:
        nothing = np.zeros(0, np.int64)
        return cls(np.zeros(PAD, np.uint8), nothing, nothing, nothing, nothing, np.zeros(0, np.int32), source)

    @classmethod
    def from_packets(
        cls, packets: list[tuple[bytes, int]], linktype: int = 1, source: str = "<packets>",
        origlens: list[int] | None = None,
    ) -> Frames:
        """Frames over in-memory packets `(data, timestamp_ns)`: for tests, live capture and tools."""
        lengths = np.array([len(data) for data, _ in packets], np.int64)
        starts = np.zeros(len(packets), np.int64)
        if len(packets):
            starts[1:] = np.cumsum(lengths)[:-1]
        raw = bytearray(b"".join(data for data, _ in packets))
        raw.extend(bytes(PAD))
        origlen = np.array(origlens, np.int64) if origlens is not None else lengths.copy()
        return cls(
            np.frombuffer(raw, np.uint8), starts, lengths, np.maximum(origlen, lengths),
            np.array([ts for _, ts in packets], np.int64), np.full(len(packets), linktype, np.int32), source,
        )


def fields_at(buf: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """`width` bytes from each offset as an (n, width) array.

    The buffer is viewed as overlapping `width`-byte items, one starting at every byte, so picking rows
    is one fixed-size copy per offset inside numpy. Offsets are clipped to the buffer: callers make sure
    that rows they use lie inside it.
    """
    items = np.ndarray(shape=(len(buf) - width + 1,), dtype=np.dtype(f"V{width}"), buffer=buf, strides=(1,))
    picked = items[np.clip(offsets, 0, len(items) - 1)]
    return picked.view(np.uint8).reshape(-1, width)


def column(rows: np.ndarray, at: int, dtype: str) -> np.ndarray:
    """A typed field at byte `at` of every row (e.g. '>u2' big-endian), as a zero-copy view."""
    width = np.dtype(dtype).itemsize
    return rows[:, at : at + width].view(dtype)[:, 0]


def read_capture(path: Path | str, strict: bool = True) -> Frames:
    """Index a pcap or pcapng file. Raises `VxautoError` for unreadable or (strict) corrupt files.

    Regular files are memory-mapped: nothing is copied, pages come from the page cache as they are read.
    """
    path = Path(path)
    name = str(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size >= PAD and path.is_file():
                data: mmap.mmap | bytearray = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            else:
                data = bytearray(handle.read())
                size = len(data)
                data.extend(bytes(PAD))
    except OSError as error:
        raise VxautoError.single(name, "", f"cannot read capture: {error.strerror or error}") from None
    return parse_capture(data, size, name, strict)


def parse_capture(raw: Buffer, size: int, name: str, strict: bool = True) -> Frames:
    """Index capture bytes `raw[:size]` (a memory map, or a bytearray with PAD spare bytes after `size`)."""
    if size < 4:
        raise VxautoError.single(name, "offset 0", "not a pcap or pcapng file (too short)", size)
    magic_le = struct.unpack_from("<I", raw, 0)[0]
    if magic_le == PCAPNG_SHB:
        return _PcapngReader(raw, size, name, strict).read()
    if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        return _read_pcap(raw, size, name, strict, "<")
    if struct.unpack_from(">I", raw, 0)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        return _read_pcap(raw, size, name, strict, ">")
    raise VxautoError.single(
        name, "offset 0", "not a pcap or pcapng file (unknown magic number)", f"0x{magic_le:08x}"
    )


def _fail(name: str, offset: int, message: str, value: object = None) -> VxautoError:
    return VxautoError.single(name, f"offset {offset}", message, value)


# --- pcap ----------------------------------------------------------------------------------------------


def _pcap_header(raw: Buffer | bytes, size: int, name: str, endian: str) -> tuple[bool, int]:
    """(nanosecond timestamps, link type) from the pcap file header."""
    if size < 24:
        raise _fail(name, 0, "pcap file header is cut short", size)
    magic, _major, _minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(endian + "IHHiIII", raw, 0)
    return magic == PCAP_MAGIC_NS, network & 0xFFFF


def _read_pcap(raw: Buffer, size: int, name: str, strict: bool, endian: str) -> Frames:
    nanos, linktype = _pcap_header(raw, size, name, endian)
    from vxauto.monitor.walk import walk_records

    offsets = walk_records(raw, size, endian, nanos)
    return _pcap_frames(raw, size, name, strict, endian, nanos, linktype, offsets)


def _pcap_frames(
    raw: Buffer, size: int, name: str, strict: bool, endian: str, nanos: bool, linktype: int, offsets: np.ndarray,
    base: int = 0, at_end: bool = True,
) -> Frames:
    """Frames of the pcap records at `offsets` of `raw[:size]`, which starts at byte `base` of the file.

    `at_end`: `raw[:size]` reaches the end of the file (a record cut there is reported, not an error).
    """
    buf = np.frombuffer(raw, np.uint8)
    problems: list[CaptureProblem] = []
    headers = fields_at(buf, offsets, 16)
    code = "<u4" if endian == "<" else ">u4"
    ts_sec, ts_frac = column(headers, 0, code).astype(np.int64), column(headers, 4, code).astype(np.int64)
    caplen, origlen = column(headers, 8, code).astype(np.int64), column(headers, 12, code).astype(np.int64)
    # The walk trusted every length; now find the first record whose header is impossible.
    bad = (caplen > MAX_CAPLEN) | (ts_frac >= (1_000_000_000 if nanos else 1_000_000))
    if bad.any():
        first = int(np.argmax(bad))
        offset = int(offsets[first]) + base
        reason = (
            f"packet record claims {int(caplen[first])} captured bytes (more than {MAX_CAPLEN})"
            if caplen[first] > MAX_CAPLEN
            else f"packet record has an impossible timestamp fraction {int(ts_frac[first])}"
        )
        if strict:
            raise _fail(name, offset, f"corrupt pcap record: {reason}")
        problems.append(CaptureProblem(name, offset, f"corrupt pcap record, reading stopped: {reason}"))
        offsets, ts_sec, ts_frac, caplen, origlen = (
            a[:first] for a in (offsets, ts_sec, ts_frac, caplen, origlen)
        )
    ends = offsets + 16 + caplen
    if at_end and len(ends) and ends[-1] > size:
        problems.append(CaptureProblem(name, int(offsets[-1]) + base, "capture cut short in the middle of a packet"))
        offsets, ts_sec, ts_frac, caplen, origlen = (
            a[:-1] for a in (offsets, ts_sec, ts_frac, caplen, origlen)
        )
    elif at_end and size - (int(ends[-1]) if len(ends) else 24 - base) > 0:
        tail = int(ends[-1]) if len(ends) else 24 - base
        problems.append(CaptureProblem(name, tail + base, "capture cut short in the middle of a record header"))
    ts_ns = ts_sec * 1_000_000_000 + (ts_frac if nanos else ts_frac * 1000)
    return Frames(
        buf, offsets + 16, caplen, np.maximum(origlen, caplen), ts_ns,
        np.full(len(offsets), linktype, np.int32), name, problems,
    )


# --- reading in pieces ---------------------------------------------------------------------------------

#: Bytes of a pcap file mapped and indexed at a time when reading in pieces: memory stays flat whatever
#: the size of the capture (each piece is unmapped once it has been decoded).
PIECE_BYTES = 64 << 20


@dataclass(frozen=True)
class Piece:
    """Records of one capture file whose headers start in bytes [begin, end) (end None: to the end)."""

    path: str
    begin: int = 0
    end: int | None = None
    frames: int = -1  # -1: not known yet
    first_ns: int = 0
    last_ns: int = 0  # smallest and largest timestamp in the piece (captures are not always in order)
    context: PcapngState | None = None  # pcapng: the section and interfaces in force at `begin`
    guessed: bool = False  # pcap byte range: `begin` is a byte offset, not known to start a record (cut_pcap)


@dataclass(frozen=True)
class PcapngState:
    """What a pcapng block needs from the blocks before it: its section's byte order and interfaces (as
    (link type, snap length, timestamp units per second, timestamp offset in seconds)), and the last
    timestamp seen (a Simple Packet Block takes it). Small and picklable: it travels with a Piece."""

    endian: str
    interfaces: tuple[tuple[int, int, int, int], ...]
    last_ts: int = 0


def pcap_layout(path: Path | str) -> tuple[str, bool, int, int] | None:
    """(endian, nanoseconds, link type, file size) of a pcap file, None for anything else (pcapng...)."""
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(24)
            size = os.fstat(handle.fileno()).st_size
            regular = Path(path).is_file()
    except OSError as error:
        raise VxautoError.single(str(path), "", f"cannot read capture: {error.strerror or error}") from None
    if len(head) < 24 or not regular:
        return None
    for endian in ("<", ">"):
        if struct.unpack_from(endian + "I", head, 0)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            nanos, linktype = _pcap_header(head, 24, str(path), endian)
            return endian, nanos, linktype, size
    return None


def read_piece(piece: Piece, strict: bool = True, piece_bytes: int = PIECE_BYTES) -> tuple[Frames, Piece | None]:
    """The frames of `piece` and the next piece (where it starts, and for pcapng the state there; None at
    the end of the file).

    pcap and pcapng files are memory-mapped from the piece's start to `piece_bytes` (or its known end) plus
    the largest record or block; anything else (a pipe) is read whole, as one piece.
    """
    layout = pcap_layout(piece.path)
    if layout is None:
        if _is_pcapng(piece.path):
            return _read_pcapng_piece(piece, strict, piece_bytes)
        return read_capture(piece.path, strict), None
    endian, nanos, linktype, size = layout
    begin = max(piece.begin, 24)
    limit = min(size, piece.end if piece.end is not None else begin + piece_bytes)
    if begin >= size:
        frames = Frames.empty(piece.path)
        return frames, None
    map_start = begin - begin % mmap.ALLOCATIONGRANULARITY
    map_end = min(size, limit + 16 + MAX_CAPLEN)
    with Path(piece.path).open("rb") as handle:
        data = mmap.mmap(handle.fileno(), map_end - map_start, offset=map_start, access=mmap.ACCESS_READ)
    from vxauto.monitor.walk import walk_records

    offsets = walk_records(data, map_end - map_start, endian, nanos, start=begin - map_start)
    if limit < size:
        offsets = offsets[offsets < limit - map_start]
    frames = _pcap_frames(data, map_end - map_start, piece.path, strict, endian, nanos, linktype, offsets,
                          base=map_start, at_end=limit >= size)
    if frames.problems or not len(frames):
        return frames, None
    following = map_start + int(frames.start[-1] + frames.caplen[-1])
    return frames, Piece(piece.path, following) if following < size and limit < size else None


def cut_pcap(path: Path | str, piece_bytes: int) -> list[Piece] | None:
    """A pcap file cut into byte ranges of about `piece_bytes` without reading it; None for anything else.

    Range i holds the records whose header starts in [begin, end); the first range starts at the first
    record, the others at a `begin` that is only a byte offset: `resolve_range` finds its first record
    where the piece is read (on a worker), and the caller checks that the ranges join (each range's last
    record ends where the next range's first one starts).
    """
    layout = pcap_layout(path)
    if layout is None:
        return None
    size = layout[3]
    bounds = [*range(24, size, max(piece_bytes, 1)), size]
    if len(bounds) > 2 and size - bounds[-2] < piece_bytes // 2:  # no small last range
        bounds.pop(-2)
    return [Piece(str(path), begin, end, guessed=begin > 24) for begin, end in itertools.pairwise(bounds)]


def resolve_range(piece: Piece) -> Piece | None:
    """`piece` starting at its first record (see cut_pcap); None when no record start is found near `begin`."""
    if not piece.guessed:
        return piece
    layout = pcap_layout(piece.path)
    if layout is None:
        return None
    endian, nanos, _linktype, size = layout
    map_start = piece.begin - piece.begin % mmap.ALLOCATIONGRANULARITY
    map_end = min(size, piece.begin + WINDOW_BYTES)
    with Path(piece.path).open("rb") as handle:
        data = mmap.mmap(handle.fileno(), map_end - map_start, offset=map_start, access=mmap.ACCESS_READ)
    from vxauto.monitor.walk import first_record_at

    try:
        found = first_record_at(np.frombuffer(data, np.uint8), map_end - map_start, endian, nanos,
                                piece.begin - map_start)
    finally:
        with contextlib.suppress(BufferError):
            data.close()
    return None if found is None else Piece(piece.path, map_start + found, piece.end)


#: Bytes read to find a range's first record: the search window and three records of the largest size.
WINDOW_BYTES = 4096 + 3 * (16 + MAX_CAPLEN)


def _is_pcapng(path: str) -> bool:
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(4)
            regular = Path(path).is_file() and os.fstat(handle.fileno()).st_size >= PAD
    except OSError as error:
        raise VxautoError.single(path, "", f"cannot read capture: {error.strerror or error}") from None
    return regular and len(head) == 4 and struct.unpack("<I", head)[0] == PCAPNG_SHB


#: Bytes mapped past a pcapng piece's end: a block starting before the end almost always ends inside this
#: (a larger one makes the window grow to hold it).
PCAPNG_SLACK = MAX_CAPLEN + (64 << 10)


def _read_pcapng_piece(piece: Piece, strict: bool, piece_bytes: int) -> tuple[Frames, Piece | None]:
    """The blocks of a pcapng file that start in [begin, end), read through one memory-mapped window."""
    with Path(piece.path).open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if piece.begin >= size:
            return Frames.empty(piece.path), None
        limit = min(size, piece.end if piece.end is not None else piece.begin + piece_bytes)
        map_start = piece.begin - piece.begin % mmap.ALLOCATIONGRANULARITY
        map_end = min(size, limit + PCAPNG_SLACK)
        while True:
            data = mmap.mmap(handle.fileno(), map_end - map_start, offset=map_start, access=mmap.ACCESS_READ)
            reader = _PcapngReader(data, map_end - map_start, piece.path, strict, base=map_start,
                                   start=piece.begin - map_start, limit=limit - map_start, state=piece.context,
                                   at_end=map_end >= size)
            frames = reader.read()
            if reader.resume is None or reader.resume > piece.begin - map_start or map_end >= size:
                break
            map_end = size  # not one whole block fits the window: map the rest of the file (rare)
    if reader.resume is None or reader.problems:  # the end, or a corrupt packet block (reading stopped there)
        return frames, None
    return frames, Piece(piece.path, map_start + reader.resume, context=reader.state())


def iter_pieces(path: Path | str, strict: bool = True, piece_bytes: int = PIECE_BYTES) -> Iterator[Frames]:
    """The frames of a capture, piece after piece (see read_piece): memory stays flat in capture size."""
    following: Piece | None = Piece(str(path), 0)
    while following is not None:
        frames, following = read_piece(following, strict, piece_bytes)
        yield frames


def plan_pieces(path: Path | str, piece_bytes: int = PIECE_BYTES) -> list[Piece]:
    """Cut a capture into pieces of about `piece_bytes` at record boundaries, with their time ranges.

    This reads every record header once (the parallel walk); workers then read their piece again.
    """
    return list(iter_plan_pieces(path, piece_bytes))


def iter_plan_pieces(path: Path | str, piece_bytes: int = PIECE_BYTES) -> Iterator[Piece]:
    """plan_pieces, one piece at a time (work on a piece can start while the next one is found)."""
    piece: Piece | None = Piece(str(path), 0)
    while piece is not None:
        frames, following = read_piece(piece, False, piece_bytes)
        end = following.begin if following is not None else None
        if len(frames):
            yield Piece(str(path), piece.begin, end, len(frames), int(frames.ts_ns.min()), int(frames.ts_ns.max()),
                        piece.context)
        piece = following


def _prefetch(buf: np.ndarray, start: int, stop: int) -> None:
    """Read one byte of every cache line in buf[start:stop] (brings pages and lines in, sequentially)."""
    np.bitwise_or.reduce(buf[start:stop:64])


# --- pcapng --------------------------------------------------------------------------------------------


@dataclass
class _Interface:
    linktype: int
    snaplen: int
    units_per_second: int = 1_000_000  # if_tsresol (10^-6 by default)
    offset_seconds: int = 0  # if_tsoffset


@dataclass
class _Section:
    endian: str
    interfaces: list[_Interface] = field(default_factory=list)
    enhanced: list[int] = field(default_factory=list)  # offsets of Enhanced Packet Blocks


class _PcapngReader:
    """Walks the blocks of a pcapng file (RFC draft-ietf-opsawg-pcapng): sections, interfaces, packets.

    A whole file, or a window of one: `raw[:size]` is the file from byte `base` on; the blocks starting in
    [start, limit) are read, with `state` the section in force at `start` (None: `start` is a section
    header). `at_end`: the window reaches the end of the file. A window stops at the first block that
    starts at or after `limit` or does not end inside it; `resume` is that block's offset in the window
    (None: the file ends here, or reading stopped at a problem).
    """

    def __init__(self, raw: Buffer, size: int, name: str, strict: bool, base: int = 0, start: int = 0,
                 limit: int | None = None, state: PcapngState | None = None, at_end: bool = True) -> None:
        self.raw, self.size, self.name, self.strict = raw, size, name, strict
        self.base, self.start, self.limit, self.at_end = base, start, size if limit is None else limit, at_end
        self.sections: list[_Section] = []
        self.other_packets: list[tuple[int, int, int, int, int]] = []  # start, caplen, origlen, ts, linktype
        self.problems: list[CaptureProblem] = []
        self.last_ts = 0
        self.resume: int | None = None
        if state is not None:
            self.sections.append(_Section(state.endian, [_Interface(*i) for i in state.interfaces]))
            self.last_ts = state.last_ts

    def state(self) -> PcapngState:
        """The section in force where this window stopped (for the next window)."""
        section = self.sections[-1]
        interfaces = tuple((i.linktype, i.snaplen, i.units_per_second, i.offset_seconds) for i in section.interfaces)
        return PcapngState(section.endian, interfaces, self.last_ts)

    def read(self) -> Frames:
        stopped: _StopReadingError | None = None
        try:
            self._walk()
        except _StopReadingError as stop:
            stopped = stop
        # Packet blocks are checked in bulk after the walk: a bad one found there lies before the place
        # the walk stopped, so it is the first problem in the file and is reported first.
        frames = self._frames()
        if stopped is not None:
            offset = stopped.offset + self.base
            if self.strict and not stopped.cut_short:
                raise _fail(self.name, offset, stopped.message)
            suffix = "" if stopped.cut_short else ", reading stopped"
            frames.problems.append(CaptureProblem(self.name, offset, stopped.message + suffix))
        return frames

    def _stop_at(self, offset: int) -> None:
        """The window ends before the block at `offset`: the next window starts there."""
        self.resume = offset
        raise _WindowEndError()

    def _walk(self) -> None:
        with contextlib.suppress(_WindowEndError):  # the window ended; `resume` says where
            self._walk_blocks()

    def _walk_blocks(self) -> None:
        raw, size = self.raw, self.size
        offset = self.start
        section: _Section | None = self.sections[-1] if self.sections else None
        while offset + 12 <= size:
            if offset >= self.limit:
                self._stop_at(offset)
            if struct.unpack_from("<I", raw, offset)[0] == PCAPNG_SHB:
                section, length = self._section_header(offset)
                offset += length
                continue
            if section is None:
                raise _StopReadingError(offset, "pcapng file does not start with a section header block")
            offset = self._walk_enhanced(section, offset)
            if offset >= self.limit:
                self._stop_at(offset)
            if offset + 12 > size:
                break
            btype, length = struct.unpack_from(section.endian + "II", raw, offset)
            if btype == PCAPNG_SHB:
                continue
            self._check_block(offset, length)
            if btype == IDB:
                section.interfaces.append(self._interface(section, offset, length))
            elif btype == SPB:
                self._simple_packet(section, offset, length)
            elif btype in (OBSOLETE_PB, EPB):
                self._packet_block(section, offset, length, btype)
            offset += length
        if offset != size:
            if not self.at_end:
                self._stop_at(offset)
            raise _StopReadingError(offset, "capture cut short in the middle of a block", cut_short=True)

    def _walk_enhanced(self, section: _Section, offset: int) -> int:
        """The hot loop: runs of Enhanced Packet Blocks, one unpack and one append each (see pcap)."""
        unpack = struct.Struct(section.endian + "II").unpack_from
        append = section.enhanced.append
        raw, last = self.raw, min(self.size - 32, self.limit - 1)
        touch = np.frombuffer(raw, np.uint8)
        while offset <= last:
            stop = min(last + 1, offset + PREFETCH_BLOCK)
            _prefetch(touch, offset, stop + MAX_CAPLEN)
            while offset < stop:
                btype, length = unpack(raw, offset)
                if btype != EPB or length < 32 or length & 3:
                    stop = -1
                    break
                append(offset)
                offset += length
            if stop < 0:
                break
        # A cut-short last block was appended by the loop; drop it and say so.
        if section.enhanced and section.enhanced[-1] + struct.unpack_from(
            section.endian + "I", raw, section.enhanced[-1] + 4
        )[0] > self.size:
            start = section.enhanced.pop()
            if not self.at_end:
                self._stop_at(start)
            raise _StopReadingError(start, "capture cut short in the middle of a block", cut_short=True)
        return offset

    def _check_block(self, offset: int, length: int) -> None:
        if length < 12 or length % 4:
            raise _StopReadingError(offset, f"corrupt pcapng block: impossible block length {length}")
        if offset + length > self.size:
            if not self.at_end:
                self._stop_at(offset)
            raise _StopReadingError(offset, "capture cut short in the middle of a block", cut_short=True)

    def _section_header(self, offset: int) -> tuple[_Section, int]:
        if offset + 28 > self.size:
            if not self.at_end:
                self._stop_at(offset)
            raise _StopReadingError(offset, "capture cut short in the section header block", cut_short=True)
        bom = struct.unpack_from("<I", self.raw, offset + 8)[0]
        if bom == PCAPNG_BOM:
            endian = "<"
        elif bom == struct.unpack(">I", struct.pack("<I", PCAPNG_BOM))[0]:
            endian = ">"
        else:
            raise _StopReadingError(offset, f"corrupt pcapng section header: byte-order magic 0x{bom:08x}")
        length = struct.unpack_from(endian + "I", self.raw, offset + 4)[0]
        self._check_block(offset, length)
        section = _Section(endian)
        self.sections.append(section)
        return section, length

    def _interface(self, section: _Section, offset: int, length: int) -> _Interface:
        linktype, _reserved, snaplen = struct.unpack_from(section.endian + "HHI", self.raw, offset + 8)
        interface = _Interface(linktype, snaplen)
        for code, value in self._options(section, offset + 16, offset + length - 4):
            if code == IDB_OPT_TSRESOL and len(value) >= 1:
                exponent = value[0] & 0x7F
                if exponent > 30 if value[0] & 0x80 else exponent > 18:
                    message = f"corrupt pcapng interface: timestamp resolution {value[0]}"
                    raise _StopReadingError(offset, message)
                interface.units_per_second = 2**exponent if value[0] & 0x80 else 10**exponent
            elif code == IDB_OPT_TSOFFSET and len(value) >= 8:
                interface.offset_seconds = struct.unpack_from(section.endian + "q", value)[0]
        return interface

    def _options(self, section: _Section, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        offset = start
        while offset + 4 <= end:
            code, length = struct.unpack_from(section.endian + "HH", self.raw, offset)
            if code == 0:
                return
            yield code, bytes(self.raw[offset + 4 : min(offset + 4 + length, end)])
            offset += 4 + (length + 3) // 4 * 4

    def _packet_block(self, section: _Section, offset: int, length: int, btype: int) -> None:
        if btype == EPB:
            # An EPB the hot loop stopped at (odd length): check it like the others and keep it.
            if length < 32:
                raise _StopReadingError(offset, f"corrupt pcapng packet block: length {length}")
            section.enhanced.append(offset)
            return
        if length < 32:
            raise _StopReadingError(offset, f"corrupt pcapng packet block: length {length}")
        iface, _drops, ts_high, ts_low, caplen, origlen = struct.unpack_from(
            section.endian + "HHIIII", self.raw, offset + 8
        )
        interface = self._interface_of(section, iface, offset)
        if caplen > length - 32:
            raise _StopReadingError(
                offset, f"corrupt pcapng packet block: {caplen} captured bytes in a {length}-byte block"
            )
        ts = _pcapng_ns((ts_high << 32) | ts_low, interface)
        self.last_ts = ts
        self.other_packets.append((offset + 28, caplen, max(origlen, caplen), ts, interface.linktype))

    def _simple_packet(self, section: _Section, offset: int, length: int) -> None:
        if length < 16:
            raise _StopReadingError(offset, f"corrupt pcapng simple packet block: length {length}")
        interface = self._interface_of(section, 0, offset)
        origlen = struct.unpack_from(section.endian + "I", self.raw, offset + 8)[0]
        caplen = min(origlen, length - 16, interface.snaplen or MAX_CAPLEN)
        # A simple packet block has no timestamp: give it the last one seen.
        self.other_packets.append(
            (offset + 12, caplen, max(origlen, caplen), self.last_ts, interface.linktype)
        )

    def _interface_of(self, section: _Section, iface: int, offset: int) -> _Interface:
        if iface >= len(section.interfaces):
            message = f"packet block names interface {iface}, which the section does not describe"
            raise _StopReadingError(offset, message)
        return section.interfaces[iface]

    def _frames(self) -> Frames:
        buf = np.frombuffer(self.raw, np.uint8)
        parts = [self._enhanced_frames(buf, section) for section in self.sections if section.enhanced]
        if self.other_packets:
            start, caplen, origlen, ts, linktype = (
                np.array(c, np.int64) for c in zip(*self.other_packets, strict=True)
            )
            parts.append((start, caplen, origlen, ts, linktype.astype(np.int32)))
        if not parts:
            frames = Frames.empty(self.name)
            frames.buf, frames.problems = buf, self.problems
            return frames
        start, caplen, origlen, ts, linktype = (np.concatenate(c) for c in zip(*parts, strict=True))
        if len(parts) > 1:  # keep file order when several sections or block kinds were mixed
            order = np.argsort(start, kind="stable")
            if self.problems:  # keep-going mode: nothing after the first corruption is trusted
                order = order[start[order] < min(p.offset for p in self.problems) - self.base]
            start, caplen, origlen, ts, linktype = (a[order] for a in (start, caplen, origlen, ts, linktype))
        return Frames(buf, start, caplen, origlen, ts, linktype, self.name, self.problems)

    def _enhanced_frames(self, buf: np.ndarray, section: _Section) -> tuple[np.ndarray, ...]:
        offsets = np.fromiter(section.enhanced, np.int64, len(section.enhanced))
        code = section.endian + "u4"
        head = fields_at(buf, offsets, 28)
        length = column(head, 4, code).astype(np.int64)
        iface = column(head, 8, code).astype(np.int64)
        ts_raw = (column(head, 12, code).astype(np.uint64) << np.uint64(32)) | column(head, 16, code)
        caplen, origlen = column(head, 20, code).astype(np.int64), column(head, 24, code).astype(np.int64)
        trailer = column(fields_at(buf, offsets + length - 4, 4), 0, code).astype(np.int64)
        bad = (caplen > length - 32) | (trailer != length) | (iface >= len(section.interfaces))
        if bad.any():
            first = int(np.argmax(bad))
            message = (
                f"packet block names interface {int(iface[first])}, which the section does not describe"
                if iface[first] >= len(section.interfaces)
                else f"corrupt pcapng packet block (lengths {int(length[first])}/{int(trailer[first])}, "
                f"{int(caplen[first])} captured bytes)"
            )
            if self.strict:
                raise _fail(self.name, int(offsets[first]) + self.base, message)
            self.problems.append(
                CaptureProblem(self.name, int(offsets[first]) + self.base, message + ", reading stopped")
            )
            offsets, iface, ts_raw, caplen, origlen = (
                a[:first] for a in (offsets, iface, ts_raw, caplen, origlen)
            )
        linktypes = np.array([i.linktype for i in section.interfaces] or [0], np.int32)
        ts_ns = self._timestamps(section, iface, ts_raw)
        return offsets + 28, caplen, np.maximum(origlen, caplen), ts_ns, linktypes[iface]

    def _timestamps(self, section: _Section, iface: np.ndarray, ts_raw: np.ndarray) -> np.ndarray:
        ts_ns = np.zeros(len(iface), np.int64)
        for index, interface in enumerate(section.interfaces):
            mine = iface == index
            if mine.any():
                ts_ns[mine] = _pcapng_ns_array(ts_raw[mine], interface)
        return ts_ns


class _WindowEndError(Exception):
    """The walk reached the end of its window (see _PcapngReader.resume)."""


class _StopReadingError(Exception):
    def __init__(self, offset: int, message: str, cut_short: bool = False) -> None:
        super().__init__(message)
        self.offset, self.message, self.cut_short = offset, message, cut_short


def _pcapng_ns(value: int, interface: _Interface) -> int:
    return value * 1_000_000_000 // interface.units_per_second + interface.offset_seconds * 1_000_000_000


def _pcapng_ns_array(values: np.ndarray, interface: _Interface) -> np.ndarray:
    units = interface.units_per_second
    if units <= 1_000_000_000 and 1_000_000_000 % units == 0:
        ns = values.astype(np.int64) * (1_000_000_000 // units)
    elif units % 1_000_000_000 == 0:
        ns = (values // np.uint64(units // 1_000_000_000)).astype(np.int64)
    else:  # binary resolutions: exact enough in float for display and rates
        ns = (values.astype(np.float64) * (1e9 / units)).astype(np.int64)
    return ns + interface.offset_seconds * 1_000_000_000
