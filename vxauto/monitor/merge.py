"""Many captures, one view: pieces analysed on their own (here or on Dask workers) and merged.

A capture is cut into pieces at record boundaries (`capture.plan_pieces`); each task decodes and
analyses its pieces into a `Partial` (an `Analyzer`, the decoding statistics, the duplicates it dropped).
Partials merge associatively and commutatively (sums, minima, maxima and mergeable summaries, see
store.py), so tasks can run anywhere and be combined in any tree: locally one after the other, or on a
Dask distributed cluster (`--scheduler ADDRESS`, or `--workers N` for a local cluster), which runs the
tasks and the merge tree where the data is.

Duplicates. Per-VTEP captures of one fabric see every tunnel packet twice (leaving one leaf, arriving
at another), and taps on both ends of a link see it twice too. A packet is counted once: a copy is a
duplicate when another capture holds a packet with the same match key no more than `window` earlier
(at the same instant, the capture named first keeps it). The match key is what stays the same from tap
to tap: outer source and destination address, outer UDP source port, VNI, inner frame length and a
64-bit hash of the inner frame's first 64 bytes (Ethernet, inner IP header with its identification, L4
header and the start of the payload); the outer Ethernet header, VLAN tags, TTL and checksum, which
change hop by hop, are left out. Copies inside one capture are never merged (a capture can really hold
the same frame twice). With several captures, tasks are time slices over all of them: a task owning
[lo, hi) also reads [lo - window, lo), so each decision sees exactly the packets it depends on and the
result does not depend on how the time was cut.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vxauto.errors import VxautoError
from vxauto.monitor import groupby
from vxauto.monitor.analysis import MAX_FLOWS, TOP_FLOWS, Analyzer, Thresholds
from vxauto.monitor.capture import (
    PIECE_BYTES,
    Frames,
    Piece,
    cut_pcap,
    iter_pieces,
    iter_plan_pieces,
    plan_pieces,
    read_piece,
    resolve_range,
)
from vxauto.monitor.decode import Decoder, DecodeStats
from vxauto.monitor.intent import IntentView
from vxauto.monitor.scalar import DEFAULT_PORTS
from vxauto.monitor.table import PacketTable

#: Copies of one packet on two taps are at most this far apart by default (clock offset plus path delay).
DEFAULT_WINDOW_NS = 10_000_000
#: Beyond any timestamp (nanoseconds since 1970 stay below 2**62 until the year 2116).
EDGE = 2**62
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
MATCHED_BY = ("outer source and destination, outer UDP source port, VNI, inner length and a hash of the inner "
              "frame's first 64 bytes, on different captures, at most {window} ms apart")


@dataclass(frozen=True)
class Settings:
    """Everything a task needs besides its pieces (sent to every worker)."""

    ports: tuple[int, ...] = DEFAULT_PORTS
    intent: IntentView | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    max_flows: int = MAX_FLOWS
    top_flows: int = TOP_FLOWS
    strict: bool = True
    window_ns: int = DEFAULT_WINDOW_NS

    def analyzer(self) -> Analyzer:
        return Analyzer(self.intent, Thresholds(**vars(self.thresholds)), self.max_flows, self.top_flows)


@dataclass
class Partial:
    """The result of one task, or of merged tasks."""

    analyzer: Analyzer
    stats: DecodeStats
    duplicates: int = 0
    #: A task over a pcap byte range (capture.cut_pcap): where its first record starts and where its last one
    #: ends (None: at the end of the file); None for the whole span when no first record was found there.
    span: tuple[int, int | None] | None = None

    def merge(self, other: Partial) -> Partial:
        self.analyzer.merge(other.analyzer)
        self.stats.merge(other.stats)
        self.duplicates += other.duplicates
        return self


def merge_partials(first: Partial, second: Partial) -> Partial:
    return first.merge(second)


@dataclass(frozen=True)
class Task:
    """Pieces to read (of one or several captures) and the time slice [lo_ns, hi_ns) the task counts."""

    pieces: tuple[Piece, ...]
    captures: tuple[str, ...]  # all captures, in the order given (a tie between copies goes to the first)
    lo_ns: int | None = None  # None: no time slicing (one capture); else -EDGE and EDGE stand for open ends
    hi_ns: int = 0
    report_problems: tuple[str, ...] = ()  # pieces (path:begin) whose file problems this task reports


def capture_files(paths: Sequence[Path]) -> list[Path]:
    """The capture files named: files as given, directories searched (recursively) for pcap/pcapng files."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CAPTURE_SUFFIXES)
            if not inside:
                raise VxautoError.single(str(path), "", "directory holds no capture files (*.pcap, *.pcapng, *.cap)")
            found += inside
        elif path.exists():
            found.append(path)
        else:
            raise VxautoError.single(str(path), "", "no such capture file or directory")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def plan(paths: Sequence[Path], window_ns: int, piece_bytes: int = PIECE_BYTES) -> list[Task]:
    """Tasks covering every packet of `paths` exactly once."""
    return list(iter_tasks(paths, window_ns, piece_bytes))


def iter_tasks(paths: Sequence[Path], window_ns: int, piece_bytes: int = PIECE_BYTES) -> Iterator[Task]:
    """plan's tasks; for one capture each as soon as its piece is found (so workers start while the rest of
    the file is cut: cutting is a walk over every record header, serial on the driver), for several once
    all pieces are known (time slices need every capture's time ranges)."""
    captures = tuple(str(p) for p in paths)
    if len(captures) == 1:
        found = False
        for piece in iter_plan_pieces(captures[0], piece_bytes):
            found = True
            yield Task((piece,), captures, report_problems=(_label(piece),))
        if not found:  # no packets: one empty task still gives a (zero) result
            yield Task((), captures)
        return
    yield from _slice_tasks(captures, window_ns, piece_bytes)


def _slice_tasks(captures: tuple[str, ...], window_ns: int, piece_bytes: int) -> list[Task]:
    pieces = [piece for path in captures for piece in plan_pieces(path, piece_bytes)]
    if not pieces:
        return [Task((), captures)]
    # Slices start where pieces start, so a task reads about one piece of every capture it overlaps.
    bounds = sorted({p.first_ns for p in pieces})
    edges = [-EDGE, *bounds[1:], EDGE]
    tasks = []
    for lo, hi in itertools.pairwise(edges):
        needed = tuple(p for p in pieces if p.last_ns >= lo - window_ns and p.first_ns < hi)
        owned = tuple(_label(p) for p in needed if lo <= p.first_ns < hi)
        tasks.append(Task(needed, captures, lo, hi, owned))
    return tasks


def _label(piece: Piece) -> str:
    return f"{piece.path}:{piece.begin}"


#: glibc mallopt parameters, and the values tune_allocator sets.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD, TRIM_THRESHOLD = 32 << 20, 64 << 20
_allocator_tuned = False


def tune_allocator() -> None:
    """Let glibc keep freed memory for the next numpy array instead of returning it to the kernel at once.

    The decoder and the folds allocate and free arrays of a few MB per batch. Dask's nanny starts workers
    with MALLOC_TRIM_THRESHOLD_=65536, which also freezes glibc's mmap threshold at 128 kB: every such
    array is then a fresh mmap whose pages fault in one by one (measured: 7 tasks of a 1M-packet capture
    took 700,000 page faults and twice the CPU time). Arrays below 32 MiB now come from the heap, and the
    heap is trimmed only past 64 MiB free; this bounds what is kept, so memory stays flat. Once per
    process, in tasks only (a plain process keeps glibc's own adaptive thresholds, which do as well there);
    a C library without mallopt (not glibc) is left alone.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return
    _allocator_tuned = True
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def run_task(task: Task, settings: Settings) -> Partial:
    """Decode and analyse one task's pieces (runs on a worker)."""
    tune_allocator()
    analyzer = settings.analyzer()
    if task.lo_ns is None:
        decoder = Decoder(settings.ports, fingerprint=False)  # one capture: no copies to match
        for piece in task.pieces:
            frames, _ = read_piece(piece, settings.strict)
            _keep_problems(frames, piece, task)
            for table in decoder.decode_batches(frames):
                analyzer.add(table)
        return _folded(Partial(analyzer, decoder.finish()))
    counted, context = Decoder(settings.ports), Decoder(settings.ports)
    tables: list[PacketTable] = []
    origins: list[np.ndarray] = []
    lo, hi = task.lo_ns, task.hi_ns
    for piece in task.pieces:
        frames, _ = read_piece(piece, settings.strict)
        _keep_problems(frames, piece, task)
        index = task.captures.index(piece.path)
        ts = frames.ts_ns
        slices = ((counted, (ts >= lo) & (ts < hi)), (context, (ts >= lo - settings.window_ns) & (ts < lo)))
        for decoder, mask in slices:
            part = _select(frames, mask)
            for table in decoder.decode_batches(part):
                tables.append(table)
                origins.append(np.full(len(table), index, np.int64))
        counted.stats.capture_problems += [str(p) for p in frames.problems]
    table = PacketTable.concat(tables)
    origin = np.concatenate(origins) if origins else np.zeros(0, np.int64)
    keep = ~duplicates(table, origin, settings.window_ns) & (table.ts_ns >= lo)
    analyzer.add(table.select(keep))
    return _folded(Partial(analyzer, counted.finish(), int((~keep & (table.ts_ns >= lo)).sum())))


def run_range(piece: Piece, settings: Settings) -> Partial:
    """Decode and analyse the records of a pcap byte range (capture.cut_pcap; runs on a worker). The result's
    `span` says where its first record was found and where its last one ended, for the driver to check
    that the ranges join; a range whose first record cannot be found (or whose guessed start reads as a
    corrupt record) gives an empty result with no span, and the driver reads it again from a true start."""
    tune_allocator()
    analyzer, decoder = settings.analyzer(), Decoder(settings.ports, fingerprint=False)
    resolved = resolve_range(piece)
    if resolved is None:
        return Partial(analyzer, decoder.finish())
    assert resolved.end is not None
    if resolved.begin >= resolved.end:  # no record starts in the range: the next one starts where this one does
        return Partial(analyzer, decoder.finish(), span=(resolved.begin, resolved.begin))
    try:
        frames, following = read_piece(resolved, settings.strict)
    except VxautoError:
        if piece.guessed:
            return Partial(analyzer, decoder.finish())  # maybe a wrong guess: the driver reads it again
        raise
    for table in decoder.decode_batches(frames):
        analyzer.add(table)
    landing = following.begin if following is not None else None
    return _folded(Partial(analyzer, decoder.finish(), span=(resolved.begin, landing)))


def _span(partial: Partial) -> tuple[int, int | None] | None:
    return partial.span


def _folded(partial: Partial) -> Partial:
    """Fold the packets still waiting in the analyzer and compact its stores before the task ends: done
    here, the work runs in parallel with the other tasks; left to pickling and merging (which flush too),
    it ran in the merge tree at the end, one merge after another (measured: 8 tasks done at 1.2 s of 1.9 s,
    each merge and transfer 0.15-0.25 s)."""
    partial.analyzer.flush()
    for store in partial.analyzer._stores():
        store.compact()
    return partial


def _keep_problems(frames: Frames, piece: Piece, task: Task) -> None:
    """File problems are reported by one task only (several tasks may read a piece)."""
    if _label(piece) not in task.report_problems:
        frames.problems = []


def _select(frames: Frames, mask: np.ndarray) -> Frames:
    return Frames(frames.buf, frames.start[mask], frames.caplen[mask], frames.origlen[mask], frames.ts_ns[mask],
                  frames.linktype[mask], frames.source, [])


def duplicates(table: PacketTable, origin: np.ndarray, window_ns: int) -> np.ndarray:
    """True for every packet that is a copy, on another capture (`origin`), of an earlier packet (module text)."""
    if not len(table):
        return np.zeros(0, np.bool_)
    key = groupby._hash((table.outer_src_hi, table.outer_src_lo, table.outer_dst_hi, table.outer_dst_lo,
                         table.udp_sport, table.vni, table.inner_len, table.inner_hash))
    order = np.lexsort((origin, table.ts_ns, key))
    key, ts, source = key[order], table.ts_ns[order], origin[order]
    count = len(order)
    positions = np.arange(count)
    new_key = np.ones(count, np.bool_)
    new_key[1:] = key[1:] != key[:-1]
    # Start of the run of rows from the same capture (within one key) each row belongs to: the row before
    # that start is the latest earlier copy from another capture.
    new_run = new_key.copy()
    new_run[1:] |= source[1:] != source[:-1]
    run_start = np.maximum.accumulate(np.where(new_run, positions, 0))
    key_start = np.maximum.accumulate(np.where(new_key, positions, 0))
    previous = run_start - 1
    copy = (run_start > key_start) & (ts - ts[np.maximum(previous, 0)] <= window_ns)
    result = np.empty(count, np.bool_)
    result[order] = copy
    return result


def analyse(
    paths: Sequence[Path], settings: Settings, scheduler: str | None = None, workers: int | None = None,
    piece_bytes: int = PIECE_BYTES, progress: Callable[[str], None] | None = None,
) -> Partial:
    """Analyse `paths` as one view: locally, or on Dask (a scheduler address, or a local cluster of N workers).

    On Dask, pieces are cut smaller when that gives every worker at least TASKS_PER_WORKER tasks (see
    dask_piece_bytes), so the last round of tasks leaves few workers idle.
    """
    if scheduler is None and workers is None:
        result: Partial | None = None
        for task in plan(paths, settings.window_ns, piece_bytes):
            partial = run_task(task, settings)
            result = partial if result is None else result.merge(partial)
        assert result is not None
        return result
    return _run_on_dask(paths, settings, scheduler, workers, piece_bytes, progress)


#: Tasks per worker that Dask pieces aim for, and the smallest piece they are cut into.
TASKS_PER_WORKER = 4
MIN_DASK_PIECE = 8 << 20


def dask_piece_bytes(paths: Sequence[Path], workers: int, piece_bytes: int = PIECE_BYTES) -> int:
    """Piece size for `workers` Dask workers: at most `piece_bytes`, small enough for TASKS_PER_WORKER tasks per
    worker, but not below MIN_DASK_PIECE (a task then costs more to schedule than to run).

    With 7 pieces of 64 MiB on 2 workers the second worker idles a whole task at the end (at most 7/4 = 1.75x);
    with 4 or more tasks per worker the last round costs a smaller share.
    """
    total = sum(Path(p).stat().st_size for p in paths)
    return max(MIN_DASK_PIECE, min(piece_bytes, total // max(1, workers * TASKS_PER_WORKER)))


def _run_on_dask(paths: Sequence[Path], settings: Settings, scheduler: str | None, workers: int | None,
                 piece_bytes: int, progress: Callable[[str], None] | None) -> Partial:
    from dask.distributed import Client, LocalCluster

    cluster = None
    try:
        if scheduler is not None:
            client = Client(scheduler, timeout="30s")
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
    except OSError as error:
        raise VxautoError.single("--scheduler", "", f"cannot reach the Dask scheduler: {error}", scheduler) from None
    try:
        count = len(client.scheduler_info()["workers"]) or workers or 1
        size = dask_piece_bytes(paths, count, piece_bytes)
        ranges = cut_pcap(paths[0], size) if len(paths) == 1 and settings.strict else None
        if ranges is not None:  # one pcap file: workers find their own records (no walk here)
            futures = _joined(client, ranges, [client.submit(run_range, r, settings, pure=False) for r in ranges],
                              settings)
        else:
            futures = [client.submit(run_task, task, settings, pure=False)
                       for task in iter_tasks(paths, settings.window_ns, size)]
        if progress is not None:
            progress(f"Dask: {len(futures)} tasks on {count} workers")
        # A merge tree on the cluster: partial results meet where they are, only the final one travels here.
        while len(futures) > 1:
            merged = [client.submit(merge_partials, futures[i], futures[i + 1], pure=False)
                      for i in range(0, len(futures) - 1, 2)]
            futures = merged + (futures[-1:] if len(futures) % 2 else [])
        partial: Partial = futures[0].result()
        return partial
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _joined(client: Any, ranges: list[Piece], futures: list[Any], settings: Settings) -> list[Any]:
    """The results of the byte-range tasks, checked to join: range i+1 must start where range i's last record
    ended (a chain of records from the file's first one lands only on true record starts). A range that
    does not join is read again from where the previous one ended, a true record start; its first result
    is dropped. Only the spans travel here (a few numbers per task), not the results."""
    spans = client.gather([client.submit(_span, future, pure=False) for future in futures])
    kept: list[Any] = []
    expected: int | None = ranges[0].begin
    for piece, first, first_span in zip(ranges, futures, spans, strict=True):
        if expected is None:  # the file ended in the range before: later ranges hold no record
            break
        future, span = first, first_span
        if span is None or span[0] != expected:
            future = client.submit(run_range, Piece(piece.path, expected, piece.end), settings, pure=False)
            span = client.submit(_span, future, pure=False).result()
            assert span is not None
        kept.append(future)
        expected = span[1]
    return kept


def analyse_one(path: Path, settings: Settings, piece_bytes: int = PIECE_BYTES) -> Partial:
    """One capture, read piece by piece through one decoder (fragments are reassembled across pieces)."""
    decoder, analyzer = Decoder(settings.ports, fingerprint=False), settings.analyzer()
    for frames in iter_pieces(path, settings.strict, piece_bytes):
        for table in decoder.decode_batches(frames):
            analyzer.add(table)
    return Partial(analyzer, decoder.finish())
