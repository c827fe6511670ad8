"""Finding every record of a pcap file: a sequential walk, and a parallel one that gives the same answer.

pcap records are chained: each header says how long its packet is, so record i+1 starts where record
i ends. Walked one by one in Python that costs about 0.3 s per million packets, the largest single
cost of reading a capture. The parallel walk cuts the file into segments, guesses where a record starts
near each segment boundary (a header whose lengths are plausible, followed by two more such headers),
and walks all segments at once with numpy, one record per step for every segment together.

A guess is never trusted: segment 0 starts at the first record, and segment i+1 is accepted only if
the walk of segment i (already accepted) lands exactly on its start. Records of a chain that lands on a
true record start are true records, so the accepted offsets are exactly those of the sequential walk.
At the first segment that does not join, the walk restarts from where the last good chain ended; after
too many restarts the rest of the file is walked sequentially.
"""

from __future__ import annotations

import struct

import numpy as np

from vxauto.monitor.capture import MAX_CAPLEN, column, fields_at

SEGMENT = 256 << 10  # bytes per segment of the parallel walk (at most)
MIN_SEGMENT = 16 << 10
#: Segments walked side by side: smaller pieces of a file get shorter segments, so that every numpy step
#: still moves thousands of records (a 64 MiB piece in 256 KiB segments would take 600 steps of 256).
TARGET_SEGMENTS = 1024
WINDOW = 2048  # bytes after each segment boundary searched for a record start
MIN_PARALLEL = 4 << 20  # below this file size the sequential walk is as fast
MAX_RESTARTS = 64
CHAIN = 3  # headers in a row that must look right for a guessed record start


def walk_sequential(raw: object, start: int, size: int, endian: str) -> list[int]:
    """Offsets of the records from `start` on. The hot loop: one unpack and one append per record."""
    unpack = struct.Struct(endian + "I").unpack_from
    offsets: list[int] = []
    append = offsets.append
    offset, last = start, size - 16
    while offset <= last:
        append(offset)
        offset += 16 + unpack(raw, offset + 8)[0]  # type: ignore[arg-type]
    return offsets


def walk_records(raw: object, size: int, endian: str, nanos: bool, min_parallel: int = MIN_PARALLEL,
                 start: int = 24) -> np.ndarray:
    """Offsets of all record headers of a pcap file (its 24-byte file header excluded), or of the records
    from `start` (a known record start) to the end of `raw[:size]`."""
    if size - start < min_parallel:
        return _array(walk_sequential(raw, start, size, endian))
    buf = np.frombuffer(raw, np.uint8)  # type: ignore[call-overload]
    code = endian + "u4"
    segment = int(min(SEGMENT, max(MIN_SEGMENT, (size - start) // TARGET_SEGMENTS)))
    anchors = _guess_record_starts(buf, size, code, 1_000_000_000 if nanos else 1_000_000, segment, start)
    parts: list[np.ndarray] = []
    last = size - 16
    for _ in range(MAX_RESTARTS):
        if start > last:
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)
        starts = np.concatenate(([start], anchors[anchors > start]))
        offsets, resume = _lockstep(buf, starts, last, code)
        parts.append(offsets)
        if resume is None:
            return np.concatenate(parts)
        start = resume
    parts.append(_array(walk_sequential(raw, start, size, endian)))
    return np.concatenate(parts)


def _array(offsets: list[int]) -> np.ndarray:
    return np.fromiter(offsets, np.int64, len(offsets))


def _lockstep(buf: np.ndarray, starts: np.ndarray, last: int, code: str) -> tuple[np.ndarray, int | None]:
    """Walk every segment at once. Returns the accepted offsets and where to restart (None: done)."""
    ends = np.append(starts[1:], last + 1)
    current = starts.astype(np.int64)
    active = current < ends
    table = np.full((len(starts), 256), -1, np.int64)  # row: segment, column: step
    step = 0
    while True:
        moving = np.flatnonzero(active)
        if not len(moving):
            break
        if step == table.shape[1]:
            table = np.concatenate([table, np.full_like(table, -1)], axis=1)
        table[moving, step] = current[moving]
        caplen = column(fields_at(buf, current[moving] + 8, 4), 0, code).astype(np.int64)
        current[moving] += 16 + caplen
        active[moving] = current[moving] < ends[moving]
        step += 1
    broken = np.flatnonzero(current[:-1] != starts[1:])
    good = len(starts) if not len(broken) else int(broken[0]) + 1  # segments 0..good-1 are true chains
    kept = table[:good, :step]
    offsets = kept[kept >= 0]  # row by row: segment order, and within a segment step order
    return offsets, None if good == len(starts) else int(current[good - 1])


def _guess_record_starts(buf: np.ndarray, size: int, code: str, fraction_limit: int, segment: int = SEGMENT,
                         start: int = 24) -> np.ndarray:
    """One plausible record start per segment boundary (where one is found), sorted."""
    anchors = np.arange(start + segment, size - WINDOW - 64, segment, dtype=np.int64)
    if not len(anchors):
        return anchors
    windows = fields_at(buf, anchors, WINDOW + 16)
    rows, positions = [], []
    for phase in range(4):
        count = (WINDOW + 16 - phase) // 4
        words = windows[:, phase : phase + 4 * count].view(code)  # u32 at positions phase + 4j
        caplen, origlen = words[:, 2:-1], words[:, 3:]  # a header at p has caplen at p+8, origlen at p+12
        # Captured and original lengths agree unless the snap length cut the packet: the usual case is
        # a strong, cheap filter; truncated captures find fewer guesses and walk more sequentially.
        plausible = (caplen == origlen) & (caplen > 0) & (caplen <= MAX_CAPLEN)
        row, index = np.nonzero(plausible)
        position = phase + 4 * index  # p relative to the anchor
        inside = position < WINDOW
        rows.append(row[inside])
        positions.append(anchors[row[inside]] + position[inside])
    row, candidate = np.concatenate(rows), np.concatenate(positions)
    keep = _chain_looks_right(buf, candidate, size, code, fraction_limit)
    row, candidate = row[keep], candidate[keep]
    if not len(candidate):
        return candidate
    order = np.lexsort((candidate, row))
    _, first = np.unique(row[order], return_index=True)
    return np.sort(candidate[order][first])


def _chain_looks_right(buf: np.ndarray, candidate: np.ndarray, size: int, code: str, fraction_limit: int) -> np.ndarray:
    ok = np.ones(len(candidate), np.bool_)
    position = candidate.copy()
    for _ in range(CHAIN):
        inside = position + 16 <= size
        ok &= inside
        header = fields_at(buf, np.where(inside, position, 0), 16)
        fraction, caplen, origlen = (column(header, at, code).astype(np.int64) for at in (4, 8, 12))
        ok &= (fraction < fraction_limit) & (caplen > 0) & (caplen <= origlen) & (origlen <= MAX_CAPLEN)
        position = position + 16 + caplen
    return ok


def first_record_at(buf: np.ndarray, size: int, endian: str, nanos: bool, at: int) -> int | None:
    """A guess at the first record start in buf[at : at + WINDOW): the first offset there that starts CHAIN
    plausible record headers in a row (as at the segment boundaries of the parallel walk). None if none does.

    Only a guess: a caller must check it (a chain from a true record start must land on it).
    """
    candidates = np.arange(at, max(at, min(at + WINDOW, size - 16)), dtype=np.int64)
    if not len(candidates):
        return None
    code = endian + "u4"
    head = fields_at(buf, candidates, 16)
    caplen, origlen = column(head, 8, code), column(head, 12, code)
    plausible = candidates[(caplen == origlen) & (caplen > 0) & (caplen <= MAX_CAPLEN)]
    found = plausible[_chain_looks_right(buf, plausible, size, code, 1_000_000_000 if nanos else 1_000_000)]
    return int(found[0]) if len(found) else None
