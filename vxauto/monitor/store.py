"""Counters keyed by rows of integer columns, kept as numpy arrays and combined with one sort.

`KeyedCounters` is the monitor's one aggregation structure: per VTEP pair, per inner flow, per second.
Rows are added in batches (`add`) and combined lazily (`compact`): all rows are hashed to one 64-bit
number, sorted by it, checked (rows with equal hashes must have equal keys; on a collision the exact
lexicographic sort is used instead) and reduced group by group with `ufunc.reduceat`. No Python object
is made per key, so a million inner flows cost a few sorts, not a million dictionaries.

Two stores combine with `merge`; every reduction is a sum, a minimum or a maximum, so merging is
associative and commutative: per-capture or per-worker partial results give the same totals in any
order.

With a `capacity`, the store is exact up to that many keys and becomes a Misra-Gries heavy-hitter
summary past it (the deterministic summary that space-saving is isomorphic to; merged as in Agarwal et
al., "Mergeable summaries", PODS 2012): when a compaction leaves more keys than `capacity`, the
(capacity+1)-th largest `weight` is subtracted from every key's weight and keys left at zero or below are
dropped. `error` adds up the amounts subtracted. Guarantee, for every key and any order of adds and
merges: true weight - error <= kept weight <= true weight (a key not kept has true weight <= error), and
error <= total weight / (capacity + 1). The other values of a kept key (packets, first/last seen) count
what was seen while it was kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vxauto.monitor.groupby import _hash

Op = Literal["sum", "min", "max"]
_REDUCE = {"sum": np.add, "min": np.minimum, "max": np.maximum}
#: Rows waiting to be combined before a compaction (it runs when pending rows reach max(this, keys kept)).
PENDING_ROWS = 1 << 18


def _combine(hashed: np.ndarray, keys: list[np.ndarray], values: dict[str, np.ndarray], ops: dict[str, Op]) -> tuple[
    np.ndarray, list[np.ndarray], dict[str, np.ndarray]
]:
    """One row per distinct key (`hashed` is `_hash(keys)`); values reduced by their operation.

    Output order: by key hash.
    """
    if not len(hashed):
        return hashed, keys, values
    order = np.argsort(hashed)
    ordered = hashed[order]
    starts_mask = np.empty(len(order), np.bool_)
    starts_mask[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts_mask[1:])
    # Rows with the hash of the row before them must have its key too; only those rows are compared (with
    # many distinct keys that is few rows, so the key columns are not copied in sorted order).
    repeats = np.flatnonzero(~starts_mask[1:])
    if len(repeats) and any((k[order[repeats + 1]] != k[order[repeats]]).any() for k in keys):
        order = np.lexsort(keys[::-1])  # a hash collision: group by the keys themselves
        ordered = hashed[order]
        starts_mask[1:] = False
        for k in keys:
            in_order = k[order]
            starts_mask[1:] |= in_order[1:] != in_order[:-1]
    starts = np.flatnonzero(starts_mask)
    out_keys = [k[order[starts]] for k in keys]
    out_values = {name: _REDUCE[ops[name]].reduceat(v[order], starts) for name, v in values.items()}
    out_hashes = ordered[starts]
    if len(repeats) and (out_hashes[1:] < out_hashes[:-1]).any():  # after a collision: back in hash order
        by_hash = np.argsort(out_hashes, kind="stable")
        out_hashes, out_keys = out_hashes[by_hash], [k[by_hash] for k in out_keys]
        out_values = {name: v[by_hash] for name, v in out_values.items()}
    return out_hashes, out_keys, out_values


#: Kept keys past which lookups sort their needles first (see _lookup).
SORTED_LOOKUP = 1 << 16


def _lookup(sorted_hashes: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """`np.searchsorted(sorted_hashes, hashes)`, fast also when `sorted_hashes` outgrows the CPU caches.

    Random needles make every binary search miss the cache at each step (about 1 us per needle into a
    million keys on the benchmark machine); needles in order walk the table almost sequentially, so one
    argsort of the needles costs far less than it saves. Small tables stay in cache and are searched as is.
    """
    if len(sorted_hashes) <= SORTED_LOOKUP or len(hashes) < 1024:
        return np.searchsorted(sorted_hashes, hashes)
    order = np.argsort(hashes)
    position = np.empty(len(hashes), np.int64)
    position[order] = np.searchsorted(sorted_hashes, hashes[order])
    return position


@dataclass
class KeyedCounters:
    """int64 values per distinct row of `width` uint64 key columns (see the module text)."""

    width: int
    ops: dict[str, Op]
    capacity: int | None = None  # heavy-hitter summary past this many keys (None: always exact)
    weight: str | None = None  # the value the summary ranks and bounds (with capacity)
    keys: list[np.ndarray] = field(default_factory=list)
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # _hash(keys), row by row
    values: dict[str, np.ndarray] = field(default_factory=dict)
    error: int = 0  # Misra-Gries: total weight subtracted (0 while exact)
    pruned: bool = False  # keys were ever dropped (the store is a summary, not exact)
    _pending_hashes: list[np.ndarray] = field(default_factory=list)
    _pending_keys: list[list[np.ndarray]] = field(default_factory=list)
    _pending_values: list[dict[str, np.ndarray]] = field(default_factory=list)
    _pending_rows: int = 0

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys = [np.zeros(0, np.uint64) for _ in range(self.width)]
            self.values = {name: np.zeros(0, np.int64) for name in self.ops}
        if self.capacity is not None and self.weight not in self.ops:
            raise ValueError("a store with a capacity needs a weight among its values")

    def __len__(self) -> int:
        self.compact()
        return len(self.keys[0])

    def add(self, keys: list[np.ndarray], values: dict[str, np.ndarray], hashes: np.ndarray | None = None) -> None:
        """Rows to count: `keys` are columns (any unsigned/signed ints), `values` int64 columns.

        `hashes` saves hashing the keys again when the caller has `groupby._hash(keys)` already.
        """
        rows = len(keys[0])
        if not rows:
            return
        columns = [np.asarray(k).astype(np.uint64, copy=False) for k in keys]
        hashes = _hash(tuple(columns)) if hashes is None else hashes
        given = {name: np.asarray(values[name]).astype(np.int64, copy=False) for name in self.ops}
        missing = self._update_kept(columns, hashes, given)
        if missing is not None:
            if not len(missing):
                return
            columns, hashes = [c[missing] for c in columns], hashes[missing]
            given = {name: v[missing] for name, v in given.items()}
        self._pending_hashes.append(hashes)
        self._pending_keys.append(columns)
        self._pending_values.append(given)
        self._pending_rows += len(hashes)
        # Combine when as many rows wait as are kept (a few sorts per million rows), but a summary with a
        # capacity waits for at most half of it: its compactions then hold 1.5 x capacity rows, not 2 x.
        kept = len(self.keys[0]) if self.capacity is None else min(len(self.keys[0]), self.capacity // 2)
        if self._pending_rows >= max(PENDING_ROWS, kept):
            self.compact()

    def _update_kept(self, columns: list[np.ndarray], hashes: np.ndarray, values: dict[str, np.ndarray]) -> (
        np.ndarray | None
    ):
        """Add rows whose key is already kept straight into the kept values (kept hashes are sorted: one
        binary search per row instead of a sort). Returns the rows left for the next compaction (None: all)."""
        kept = len(self.hashes)
        if not kept:
            return None
        position = np.minimum(_lookup(self.hashes, hashes), kept - 1)
        hit = self.hashes[position] == hashes
        candidates = np.flatnonzero(hit)
        if not len(candidates):
            return None
        # Keys are compared only where the hashes match (a scan of new flows then gathers nothing).
        same = np.ones(len(candidates), np.bool_)
        for mine, theirs in zip(self.keys, columns, strict=True):
            same &= mine[position[candidates]] == theirs[candidates]  # a collision is not a hit
        hit[candidates] = same
        if not same.any():
            return None
        where = position[hit]
        for name, op in self.ops.items():
            target, value = self.values[name], values[name][hit]
            if op == "sum":
                np.add.at(target, where, value)
            elif op == "min":
                np.minimum.at(target, where, value)
            else:
                np.maximum.at(target, where, value)
        return np.flatnonzero(~hit)

    def compact(self) -> None:
        """Combine the pending rows with the kept ones (and prune to the capacity)."""
        if not self._pending_rows:
            return
        keys = [np.concatenate([self.keys[i], *(p[i] for p in self._pending_keys)]) for i in range(self.width)]
        values = {name: np.concatenate([self.values[name], *(p[name] for p in self._pending_values)])
                  for name in self.ops}
        hashed = np.concatenate([self.hashes, *self._pending_hashes])
        self._pending_hashes, self._pending_keys, self._pending_values, self._pending_rows = [], [], [], 0
        self.hashes, self.keys, self.values = _combine(hashed, keys, values, self.ops)
        self._prune()

    def _prune(self) -> None:
        if self.capacity is None or len(self.keys[0]) <= self.capacity:
            return
        assert self.weight is not None
        weights = self.values[self.weight]
        threshold = int(np.partition(weights, len(weights) - self.capacity - 1)[len(weights) - self.capacity - 1])
        keep = weights > threshold
        self.values = {name: v[keep] for name, v in self.values.items()}
        self.values[self.weight] = self.values[self.weight] - threshold
        self.keys = [k[keep] for k in self.keys]
        self.hashes = self.hashes[keep]
        self.error += threshold
        self.pruned = True

    def merge(self, other: KeyedCounters) -> None:
        """Add `other`'s counts to this store (associative and commutative)."""
        other.compact()
        self.error += other.error
        self.pruned = self.pruned or other.pruned
        self.add(other.keys, other.values, other.hashes)
        self.compact()

    def filter(self, mask: np.ndarray) -> None:
        """Keep only the (compacted) keys where `mask` is true."""
        self.compact()
        self.keys = [k[mask] for k in self.keys]
        self.hashes = self.hashes[mask]
        self.values = {name: v[mask] for name, v in self.values.items()}
