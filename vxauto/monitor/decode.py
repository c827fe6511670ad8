"""Decoding a capture: the vectorised decoder for the bulk, the scalar decoder for the odd frames.

`Decoder` keeps state between batches (fragment reassembly, counters), so live capture feeds it batch
after batch; `decode_capture` is the one-shot form for a file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vxauto.monitor.capture import Frames, read_capture
from vxauto.monitor.fast import FAST_LINKTYPES, decode_fast
from vxauto.monitor.scalar import (
    DEFAULT_PORTS,
    FRAGMENT,
    SLOW,
    STATUS_NAMES,
    SUPPORTED_LINKTYPES,
    UNSUPPORTED_LINKTYPE,
    VXLAN,
    ScalarDecoder,
)
from vxauto.monitor.table import (
    INNER_MALFORMED,
    INNER_NOT_ETHERNET,
    INNER_TRUNCATED,
    PacketTable,
)

#: Frames per vectorised batch: bounds memory (~200 bytes of windows per frame) without losing speed.
CHUNK = 1 << 16
_NO_FRAGMENT_STATUS = -1


@dataclass
class DecodeStats:
    """What the decoder saw: frame statuses, reassembly, problems inside inner frames, file problems."""

    frames: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    reassembled: Counter[str] = field(default_factory=Counter)  # datagrams rebuilt from fragments, by status
    fragments_left: int = 0  # fragments of datagrams never completed
    inner: Counter[str] = field(default_factory=Counter)
    linktypes: Counter[int] = field(default_factory=Counter)
    capture_problems: list[str] = field(default_factory=list)

    @property
    def vxlan_packets(self) -> int:
        return self.statuses["vxlan"] + self.reassembled["vxlan"]

    @property
    def malformed(self) -> dict[str, int]:
        """Frames (and rebuilt datagrams) that could not be read, by reason; zero counts left out."""
        reasons = ("truncated", "malformed-l2", "malformed-ip", "malformed-udp", "unsupported-linktype")
        found = {r: self.statuses[r] + self.reassembled[r] for r in reasons}
        found["fragments-not-reassembled"] = self.fragments_left
        return {reason: count for reason, count in found.items() if count}

    def merge(self, other: DecodeStats) -> None:
        """Add another reader's statistics (another capture or piece)."""
        self.frames += other.frames
        self.fragments_left += other.fragments_left
        self.statuses.update(other.statuses)
        self.reassembled.update(other.reassembled)
        self.inner.update(other.inner)
        self.linktypes.update(other.linktypes)
        self.capture_problems += other.capture_problems

    def as_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "vxlan": self.vxlan_packets,
            "statuses": dict(sorted(self.statuses.items())),
            "reassembled": dict(sorted(self.reassembled.items())),
            "fragments_left": self.fragments_left,
            "malformed": self.malformed,
            "inner": dict(sorted(self.inner.items())),
            "linktypes": {str(k): v for k, v in sorted(self.linktypes.items())},
            "capture_problems": list(self.capture_problems),
        }


class Decoder:
    """Turns batches of frames into a `PacketTable` of VXLAN packets, counting everything else."""

    def __init__(self, ports: tuple[int, ...] | frozenset[int] = DEFAULT_PORTS, vectorised: bool = True,
                 fingerprint: bool = True) -> None:
        """`fingerprint`: fill `inner_hash` (needed to match copies of a packet on several captures; costs
        about a tenth of the decoding time), else leave it 0."""
        self.ports = frozenset(ports)
        self.port_table = np.zeros(1 << 16, np.bool_)
        self.port_table[list(self.ports)] = True
        self.scalar = ScalarDecoder(self.ports, fingerprint)
        self.fingerprint = fingerprint
        self.stats = DecodeStats()
        self.vectorised = vectorised

    def decode(self, frames: Frames) -> PacketTable:
        """All VXLAN packets of `frames` as one table."""
        return PacketTable.concat(list(self.decode_batches(frames)))

    def decode_batches(self, frames: Frames) -> Iterator[PacketTable]:
        """The VXLAN packets of `frames`, one table per batch (saves joining big tables)."""
        self.stats.frames += len(frames)
        self.stats.capture_problems += [str(p) for p in frames.problems]
        if not len(frames):
            return
        uniform = bool((frames.linktype == frames.linktype[0]).all())
        for linktype in [int(frames.linktype[0])] if uniform else np.unique(frames.linktype).tolist():
            where = np.arange(len(frames)) if uniform else np.flatnonzero(frames.linktype == linktype)
            self.stats.linktypes[linktype] += len(where)
            if linktype not in SUPPORTED_LINKTYPES:
                self.stats.statuses[STATUS_NAMES[UNSUPPORTED_LINKTYPE]] += len(where)
                continue
            vectorised = linktype in FAST_LINKTYPES and self.vectorised
            step = CHUNK if vectorised else len(where)
            for begin in range(0, len(where), step):
                part = where[begin : begin + step]
                table = self._fast(frames, part, linktype) if vectorised else self._slow(frames, part, linktype)
                self._count_inner(table)
                yield table

    def finish(self) -> DecodeStats:
        """Call after the last batch: counts fragments of datagrams that never completed."""
        self.stats.fragments_left = self.scalar.reassembler.leftover_fragments()
        return self.stats

    def _fast(self, frames: Frames, where: np.ndarray, linktype: int) -> PacketTable:
        contiguous = len(where) and where[-1] - where[0] == len(where) - 1
        index = slice(int(where[0]), int(where[-1]) + 1) if contiguous else where
        status, table = decode_fast(frames, index, linktype, self.port_table, self.fingerprint)
        counts = np.bincount(status, minlength=SLOW + 1)
        for code, name in STATUS_NAMES.items():
            if counts[code]:
                self.stats.statuses[name] += int(counts[code])
        if not counts[SLOW]:
            return table
        slow = where[np.flatnonzero(status == SLOW)]
        return PacketTable.concat([table, self._slow(frames, slow, linktype)])

    def _slow(self, frames: Frames, where: np.ndarray, linktype: int) -> PacketTable:
        rows: list[tuple] = []
        statuses = self.stats.statuses
        for index in where.tolist():
            status, row = self.scalar.decode(
                frames.frame(index), linktype, int(frames.origlen[index]), int(frames.ts_ns[index])
            )
            statuses[STATUS_NAMES[status]] += 1
            if row is not None:
                rows.append(row)
            if status == FRAGMENT:
                completed = self.scalar.take_completed()
                if completed is not None:
                    self.stats.reassembled[STATUS_NAMES[completed[0]]] += 1
                    if completed[0] == VXLAN and completed[1] is not None:
                        rows.append(completed[1])
        return PacketTable.from_rows(rows)

    def _count_inner(self, table: PacketTable) -> None:
        if not len(table):
            return
        counts = np.bincount(table.inner_status, minlength=4)
        for code, name in ((INNER_TRUNCATED, "truncated"), (INNER_MALFORMED, "malformed"),
                           (INNER_NOT_ETHERNET, "not-ethernet")):
            if counts[code]:
                self.stats.inner[name] += int(counts[code])


def decode_capture(
    path: Path | str, ports: tuple[int, ...] | frozenset[int] = DEFAULT_PORTS, strict: bool = True
) -> tuple[PacketTable, DecodeStats]:
    """Read and decode a whole pcap/pcapng file."""
    decoder = Decoder(ports)
    table = decoder.decode(read_capture(path, strict))
    return table, decoder.finish()
